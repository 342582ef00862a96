"""`pgqueue migrate` from an installed wheel: the migrations and SQL files ship."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from pgqueue import migrate
from tests.acceptance.cli import env
from tests.conftest import ROOT
from tests.helpers import build_wheel

pytestmark = pytest.mark.slow


def test_migrate_and_a_claim_work_from_the_built_wheel(tmp_path: Path, empty_dsn: str) -> None:
    site = build_wheel(ROOT, tmp_path)
    names = [str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()]
    assert "pgqueue/db/sql/claim_batch.sql" in names
    assert any(n.startswith("pgqueue/migrations/versions/0003") for n in names)
    assert "alembic.ini" not in names and not any(n.startswith("tests/") for n in names)
    assert "pgqueue/migrations/alembic.ini" in names
    # run from an unrelated directory with only the unpacked wheel on the path
    run_env = env(PYTHONPATH=str(site))
    # alembic itself, with the ini the wheel ships (no checkout's alembic.ini)
    ini = subprocess.run(
        [sys.executable, "-m", "pgqueue", "migrate", "--alembic-ini"],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert ini.startswith(str(site)) and ini.endswith("alembic.ini")
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", ini, "-x", f"dsn={empty_dsn}", "upgrade", "head"],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert migrate.current(empty_dsn) == migrate.head()
    done = subprocess.run(
        [sys.executable, "-m", "pgqueue", "migrate", "--dsn", empty_dsn],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert migrate.current(empty_dsn) == migrate.head()
    where = subprocess.run(
        [sys.executable, "-c", "import pgqueue; print(pgqueue.__file__)"],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site))
    enqueued = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgqueue",
            "enqueue",
            "--dsn",
            empty_dsn,
            "--step",
            "s",
            "--tool-kind",
            "noop",
        ],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert enqueued.returncode == 0, enqueued.stderr
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM noetl.command").fetchone() == (1,)
