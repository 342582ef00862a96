"""An embedded PostgreSQL for `pgqueue demo` and for tests on a bare machine.

The server binaries come from the ``embedded`` extra (``pgserver`` on Python
< 3.12, ``pgembed`` on 3.12+); pgqueue runs them itself rather than through
those packages' launchers, because as root they open every parent directory of
the data directory to the world. Here:

- the data directory lives under the cache directory of the user who runs the
  server (``~/.cache/pgqueue/`` for a normal user); every directory pgqueue
  creates is ``0700`` and no existing directory's mode is touched;
- PostgreSQL refuses to run as root, so as root the server runs as a system
  user ``pgqueue`` (created if missing), with its data under that user's home;
- the server listens on a Unix socket inside its data directory only, never on
  TCP, and trusts local connections.
"""

from __future__ import annotations

import importlib
import logging
import os
import pwd
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from pgqueue.errors import ConfigurationError

logger = logging.getLogger(__name__)

SERVICE_USER = "pgqueue"


def _binaries() -> Path:
    """The bin directory of the embedded PostgreSQL build."""
    for module in ("pgembed", "pgserver"):
        try:
            with warnings.catch_warnings():
                # the package warns about XDG_RUNTIME_DIR on import; its launcher,
                # which uses that directory, is not used here
                warnings.simplefilter("ignore")
                commands = importlib.import_module(f"{module}._commands")
        except ImportError:
            continue
        path = Path(commands.POSTGRES_BIN_PATH)
        if (path / "pg_ctl").exists():
            return path
    raise ConfigurationError(
        "no database configured and no embedded PostgreSQL installed: "
        "set PGQUEUE_DSN (or pass --dsn), or install the extra: pip install 'pgqueue[embedded]'"
    )


def _make_private_dirs(path: Path, owner: pwd.struct_passwd | None) -> None:
    """Create the missing components of ``path`` as ``0700``, owned by ``owner``."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700)
        directory.chmod(0o700)  # mkdir's mode is filtered by the umask
        if owner is not None:
            os.chown(directory, owner.pw_uid, owner.pw_gid)


def _service_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        # said before it is done: a new system account is the user's business
        logger.warning(
            "running as root: PostgreSQL refuses to run as root, so the embedded server "
            "runs as a system user; creating it now: %s (no login shell, home /home/%s; "
            "`userdel -r %s` removes it; run pgqueue as another user to have none)",
            SERVICE_USER,
            SERVICE_USER,
            SERVICE_USER,
            extra={"action": "create_service_user", "user": SERVICE_USER},
        )
        subprocess.run(  # noqa: S603 - fixed arguments
            ["useradd", "--system", "--create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],  # noqa: S607
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def _private_copy(bin_dir: Path, base: Path, owner: pwd.struct_passwd) -> Path:
    """Copy the build (and its vendored libraries, found through a relative RPATH
    ``$ORIGIN/../../../<package>.libs``) where ``owner`` can read it."""
    install = bin_dir.parent  # <site-packages>/<package>/pginstall
    package = install.parent
    libs = package.parent / f"{package.name}.libs"
    private = base / f"build-{package.name}-{install.stat().st_mtime_ns}"
    target = private / package.name / install.name
    # copies of installs since replaced (each reinstall has another mtime): 34 MB
    # each that nothing else would remove
    for stale in base.glob(f"build-{package.name}-*"):
        if stale != private:
            shutil.rmtree(stale, ignore_errors=True)
    if not (target / "bin" / "pg_ctl").exists():
        _make_private_dirs(private / package.name, owner)
        shutil.copytree(install, target, symlinks=True, dirs_exist_ok=True)
        if libs.is_dir():
            shutil.copytree(libs, private / libs.name, symlinks=True, dirs_exist_ok=True)
        for root, _dirs, files in os.walk(private):
            for entry in (root, *(os.path.join(root, f) for f in files)):
                os.lchown(entry, owner.pw_uid, owner.pw_gid)
    return target / "bin"


@dataclass
class EmbeddedServer:
    """A running embedded server; ``stop()`` stops it if this process started it."""

    datadir: Path
    bin_dir: Path
    run_as: str | None
    started_here: bool

    @property
    def dsn(self) -> str:
        return f"host={self.datadir} port=5432 dbname=postgres user=postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return subprocess.run(command, check=False, capture_output=True, text=True)  # noqa: S603

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.datadir)).returncode == 0

    def restart(self) -> None:
        """Restart the server (a fast shutdown: every connection is cut)."""
        result = self._run(
            "pg_ctl",
            "restart",
            "-w",
            "-D",
            str(self.datadir),
            "-m",
            "fast",
            "-l",
            str(self.datadir / "server.log"),
            "-o",
            f"-h '' -k {self.datadir} -c max_connections=200",
        )
        if result.returncode != 0:
            raise ConfigurationError(
                f"the embedded PostgreSQL did not restart: {result.stderr[-300:]}"
            )
        self.started_here = True

    def stop_now(self) -> None:
        """Stop the server whoever started it (an outage, for tests)."""
        self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w")

    def stop(self) -> None:
        if self.started_here and self.running():
            self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w")


def major_version(bin_dir: Path) -> str:
    """The binaries' PostgreSQL major version (``16``), from ``postgres --version``."""
    done = subprocess.run(  # noqa: S603 - the embedded build's own binary
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    found = re.search(r"(\d+)(?:\.\d+)*\s*$", done.stdout.strip())
    return found.group(1) if found else "unknown"


def _why(log: Path) -> str:
    """Why a server stopped, in one line: its log's last FATAL or PANIC and the
    DETAIL after it, else its last line."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    except OSError:
        return "no log was written"
    lines = [line for line in lines if line]

    def text(line: str, label: str) -> str:
        return line.split(f"{label}:", 1)[1].strip()

    for index in range(len(lines) - 1, -1, -1):
        label = next((x for x in ("FATAL", "PANIC") if f"{x}:" in lines[index]), None)
        if label is None:
            continue
        why = text(lines[index], label)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        return f"{why}: {text(following, 'DETAIL')}" if "DETAIL:" in following else why
    return lines[-1] if lines else "the log is empty"


def cache_base() -> Path:
    """Where embedded data directories live: ``PGQUEUE_CACHE_DIR`` when set, else
    the cache directory of the user who runs the server (the ``pgqueue`` system
    user when started as root)."""
    given = os.environ.get("PGQUEUE_CACHE_DIR")
    if given:
        return Path(given)
    if os.geteuid() == 0:
        return Path(pwd.getpwnam(SERVICE_USER).pw_dir) / ".cache" / "pgqueue"
    return platformdirs.user_cache_path("pgqueue")


def start_embedded(name: str = "default") -> EmbeddedServer:
    """Start (or reuse) the embedded server called ``name``."""
    bin_dir = _binaries()
    owner = _service_user() if os.geteuid() == 0 else None
    run_as = owner.pw_name if owner else None
    base = cache_base()
    _make_private_dirs(base, owner)

    if owner is not None:
        # The service user may not be able to reach a virtualenv under /root:
        # give it a private copy of the binaries instead of opening /root.
        bin_dir = _private_copy(bin_dir, base, owner)

    # one data directory per major version: a directory initialised by one
    # cannot be started by another (Python 3.11's pgserver has 16, 3.12's pgembed 17)
    datadir = base / f"pgdata-{name}-{major_version(bin_dir)}"
    server = EmbeddedServer(datadir=datadir, bin_dir=bin_dir, run_as=run_as, started_here=False)
    if not (datadir / "PG_VERSION").exists():
        _make_private_dirs(datadir, owner)
        result = server._run(
            "initdb", "-D", str(datadir), "--auth=trust", "--encoding=utf8", "-U", "postgres"
        )
        if result.returncode != 0:
            raise ConfigurationError(f"initdb failed: {result.stderr.strip()[-500:]}")
    if not server.running():
        logger.info(
            "starting embedded PostgreSQL", extra={"datadir": str(datadir), "action": "start"}
        )
        result = server._run(
            "pg_ctl",
            "start",
            "-w",
            "-D",
            str(datadir),
            "-l",
            str(datadir / "server.log"),
            "-o",
            f"-h '' -k {datadir} -c max_connections=200",
        )
        if result.returncode != 0:
            raise ConfigurationError(
                f"the embedded PostgreSQL did not start: {_why(datadir / 'server.log')} "
                f"(its log: {datadir / 'server.log'})"
            )
        server.started_here = True
    return server
