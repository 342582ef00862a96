"""The demo on a clean cache under each Python this machine has: 3.11 gets
pgserver (PostgreSQL 16), 3.12 and later pgembed (PostgreSQL 17), each its own
data directory (one per major version, so one never starts the other's)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.acceptance.cli import env
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def interpreter(version: str) -> str | None:
    """A Python ``version``: pyenv's own build (its shims answer only for the
    version selected), else one on the path that runs."""
    pyenv = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))
    if pyenv:
        return pyenv[-1]
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "-V"], capture_output=True, check=False).returncode == 0:
        return found
    return None


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_the_demo_runs_on_a_clean_cache_on_the_pgembed_path(version: str, tmp_path: Path) -> None:
    python = interpreter(version)
    if python is None:
        pytest.skip(f"this machine has no Python {version}")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"{ROOT}[embedded]"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    # a cache nobody used: under /tmp, which the server's own user can reach as root
    cache = Path(tempfile.gettempdir()) / f"pgqueue-cache-{uuid.uuid4().hex[:8]}"
    try:
        done = subprocess.run(
            [str(venv / "bin" / "pgqueue"), "demo", "--commands", "10"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            env=env(PGQUEUE_CACHE_DIR=str(cache)),
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "9 completed" in done.stdout
        (datadir,) = cache.glob("pgdata-demo-*")
        assert datadir.name == "pgdata-demo-17"
    finally:
        shutil.rmtree(cache, ignore_errors=True)
