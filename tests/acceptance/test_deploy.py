"""The deployment files: what of them this machine can check.

The Docker image itself cannot be built here (no Docker daemon, no registry to
pull ``python:3.11-slim`` from); what it builds from can: the wheel, from
exactly the files the Dockerfile copies, installed alone and run. The systemd
install steps run for real (root, as CI is) and the installed unit goes
through ``systemd-analyze verify``; the Kubernetes manifest's probes and grace
period are read against the worker's, its user against the image's.
"""

from __future__ import annotations

import configparser
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.acceptance.cli import env
from tests.conftest import ROOT
from tests.helpers import build_wheel

pytestmark = pytest.mark.slow

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_the_image_is_built_from_a_wheel_of_only_what_the_dockerfile_copies(
    tmp_path: Path,
) -> None:
    build = re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[1]  # the build stage
    context = tmp_path / "context"
    context.mkdir()
    for line in build.splitlines():
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                path = ROOT / source
                target = context / source
                if path.is_dir():
                    shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(path, target)
    # the stage's own command, less the dependencies (they come from PyPI)
    (command,) = [line for line in build.splitlines() if line.startswith("RUN pip wheel")]
    assert command.endswith(" .")
    site = build_wheel(context, tmp_path)
    # the image's command, from an unrelated directory with only the wheel on the path
    entry = re.search(r'ENTRYPOINT \["(\w+)"\]', DOCKERFILE)
    cmd = re.search(r"CMD \[(.*)\]", DOCKERFILE)
    assert entry and cmd and entry.group(1) == "pgqueue"
    args = [a.strip().strip('"') for a in cmd.group(1).split(",")]
    done = subprocess.run(
        [sys.executable, "-m", "pgqueue", *args, "--help"],
        cwd=tmp_path,
        env=env(PYTHONPATH=str(site)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--metrics-port" in done.stdout
    # what the image relies on is in its environment, so a command line of the
    # user's own (`docker run IMAGE worker --tools mytools`) keeps it
    image_env = dict(re.findall(r"^ENV (\w+)=(\S+)$", DOCKERFILE, flags=re.MULTILINE))
    assert image_env.get("PGQUEUE_METRICS_PORT") == "9100"
    assert args == ["worker"]
    from pgqueue.cli import environment
    from pgqueue.cli.parser import parser

    top = parser()
    ours = top.parse_args(["worker", "--tools", "mytools"])
    worker = next(
        p
        for a in top._subparsers._group_actions  # type: ignore[union-attr]
        for name, p in a.choices.items()  # type: ignore[union-attr]
        if name == "worker"
    )
    environment.apply(worker, image_env)
    assert worker.parse_args(["--tools", "mytools"]).metrics_port == 9100
    assert ours.tools == ["mytools"]


def test_the_image_runs_as_the_numeric_user_the_manifest_names() -> None:
    """The kubelet refuses ``runAsNonRoot`` with a named USER: the image's user is
    numeric, made with that uid, and the manifest names the same one."""
    user = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE, flags=re.MULTILINE)
    assert user is not None, "USER must be numeric uid:gid"
    uid, gid = int(user.group(1)), int(user.group(2))
    assert uid != 0 and gid != 0
    assert f"--uid {uid}" in DOCKERFILE and f"--gid {gid}" in DOCKERFILE
    manifest = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "worker.yaml").read_text())
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"]) == (uid, gid)
    # a reference a user can build and push (registry/name:tag), not a bare :latest
    image = container["image"]
    assert re.fullmatch(r"[\w.-]+(:\d+)?/[\w./-]+:[\w.-]+", image), image
    assert not image.endswith(":latest")
    assert (
        f"docker build -t {image} ." in (ROOT / "deploy" / "kubernetes" / "worker.yaml").read_text()
    )


def test_the_systemd_unit_drains_before_it_kills() -> None:
    path = ROOT / "deploy" / "systemd" / "pgqueue-worker@.service"
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(path)
    service = unit["Service"]
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > 30  # the default --grace
    assert service["ExecStart"].split()[1] == "worker"
    assert service["User"] != "root"
    assert "2 4" in service["RestartPreventExitStatus"]


@pytest.mark.skipif(os.geteuid() != 0, reason="installs a system service: root only (CI is)")
def test_the_systemd_install_steps_make_what_the_unit_needs() -> None:
    """The unit pointed at /opt/pgqueue/bin/pgqueue with no step that made it, its
    user or its tools' place. install.sh makes them: run here for real (from
    this checkout), then the installed unit passes `systemd-analyze verify`."""
    script = ROOT / "deploy" / "systemd" / "install.sh"
    for _ in range(2):  # a second run keeps what the first made
        done = subprocess.run(
            [shutil.which("bash") or "/bin/bash", str(script), str(ROOT)],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
            env=env(PYTHON=sys.executable),
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert "systemctl enable --now pgqueue-worker@1" in done.stdout
    unit = Path("/etc/systemd/system/pgqueue-worker@.service")
    assert unit.read_text() == (ROOT / "deploy" / "systemd" / unit.name).read_text()
    version = subprocess.run(
        ["/opt/pgqueue/bin/pgqueue", "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0 and version.stdout.startswith("pgqueue "), version.stderr
    owner = pwd.getpwnam("pgqueue")
    srv = Path("/srv/pgqueue").stat()
    assert (srv.st_uid, stat.S_IMODE(srv.st_mode)) == (owner.pw_uid, 0o750)
    settings = Path("/etc/pgqueue/worker.env").stat()
    assert (settings.st_uid, stat.S_IMODE(settings.st_mode)) == (0, 0o600)
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is installed by .ci/run (package systemd)"
    verified = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    # the unit as installed, its ExecStart included; a machine without a running
    # systemd lacks its targets, which verify reports without failing
    assert verified.returncode == 0, verified.stderr
    assert "not executable" not in verified.stderr


def test_the_kubernetes_probes_and_grace_match_the_worker() -> None:
    manifest = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "worker.yaml").read_text())
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    grace = int(args[args.index("--grace") + 1].rstrip("s"))
    assert pod["terminationGracePeriodSeconds"] > grace
    port = int(args[args.index("--metrics-port") + 1])
    assert container["ports"][0]["containerPort"] == port
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {e["name"] for e in container["env"]} >= {"PGQUEUE_DSN", "PGQUEUE_WORKER_ID"}
