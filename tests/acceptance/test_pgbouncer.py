"""Beyond one machine: several workers and producers through a real PgBouncer
in transaction mode, in front of the test server. Exactly-once completion,
nothing prepared on any server connection, and wake-ups by polling (or by a
direct LISTEN connection where one is given)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.acceptance.cli import spawn
from tests.fixtures.tools import EXECUTIONS_DDL
from tests.helpers import status_counts, wait_until
from tests.pgserver_support import Server

Conn = psycopg.Connection[Any]

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def pgbouncer(pg_server: Server, dsn: str) -> Iterator[str]:
    """A PgBouncer in transaction mode, run as the postgres OS user on a free
    port, pooling the test database; its DSN."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is not installed: .ci/run installs Debian's package")
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    if pg_server.embedded is not None or pg_server.host.startswith("/"):
        pytest.skip("the embedded server listens on a private socket PgBouncer cannot reach")
    port = _free_port()
    params = conninfo_to_dict(dsn)
    home = Path(tempfile.mkdtemp(prefix="pgqueue-pgbouncer-"))
    home.chmod(0o777)
    (home / "users.txt").write_text(f'"{params.get("user", "postgres")}" ""\n')
    (home / "pgbouncer.ini").write_text(
        f"""
[databases]
{params["dbname"]} = host={pg_server.host} port={pg_server.port} dbname={params["dbname"]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {home}/users.txt
pool_mode = transaction
; per worker process: its queue pool (4) + its tool pool + a heartbeat connection
max_client_conn = 200
default_pool_size = 8
ignore_startup_parameters = extra_float_digits,options
logfile = {home}/pgbouncer.log
pidfile = {home}/pgbouncer.pid
"""
    )
    for entry in home.iterdir():
        entry.chmod(0o666)
    proc = subprocess.Popen(
        [
            shutil.which("runuser") or "/usr/sbin/runuser",
            "-u",
            "postgres",
            "--",
            binary,
            str(home / "pgbouncer.ini"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    bouncer = make_conninfo(dsn, host="127.0.0.1", port=str(port))

    def answers() -> bool:
        try:
            with psycopg.connect(bouncer, connect_timeout=2, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return False

    try:
        wait_until(answers, timeout=30, what="PgBouncer to answer")
        yield bouncer
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        shutil.rmtree(home, ignore_errors=True)


PRODUCER = """
import sys, psycopg
from pgqueue import enqueue_many_sync
dsn, start = sys.argv[1], int(sys.argv[2])
with psycopg.connect(dsn, prepare_threshold=None) as conn:
    for chunk in range(10):
        enqueue_many_sync(conn, [
            {"execution_id": start + chunk, "command_id": start + chunk * 100 + i,
             "step": "s", "tool_kind": "record", "input": {}} for i in range(30)
        ])
        conn.commit()
"""


def test_workers_and_producers_through_a_transaction_pooler(
    pgbouncer: str, dsn: str, db: Conn
) -> None:
    db.execute(EXECUTIONS_DDL)
    common = ("--tools", "tests.fixtures.tools", "--transaction-pooler", "--prefetch", "4")
    workers = [
        spawn("worker", "--dsn", pgbouncer, "--worker-id", "polling-1", *common),
        spawn("worker", "--dsn", pgbouncer, "--worker-id", "polling-2", *common),
        # the third listens on a direct connection to the server
        spawn(
            "worker",
            "--dsn",
            pgbouncer,
            "--worker-id",
            "listening",
            "--listen-dsn",
            dsn,
            *common,
        ),
    ]
    try:
        producers = [
            subprocess.run(
                [os.sys.executable, "-c", PRODUCER, pgbouncer, str(start)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                cwd=Path(__file__).resolve().parents[2],
            )
            for start in (10_000, 20_000)
        ]
        assert [p.returncode for p in producers] == [0, 0], [p.stderr for p in producers]
        wait_until(
            lambda: status_counts(db) == {"COMPLETED": 600}, timeout=120, what="600 completed"
        )
        listening = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'"
        ).fetchone()
        assert listening == (1,)  # the direct LISTEN; the others poll through PgBouncer
    finally:
        for proc in workers:
            proc.terminate()
        outputs = [proc.communicate(timeout=60) for proc in workers]
    assert [proc.returncode for proc in workers] == [0, 0, 0], [err for _, err in outputs]
    # exactly once: every command ran once and completed once
    runs = db.execute(
        "SELECT count(*), count(DISTINCT command_id) FROM executions WHERE event = 'start'"
    ).fetchone()
    assert runs == (600, 600)
    assert db.execute("SELECT max(attempts) FROM noetl.command").fetchone() == (0,)
    # nothing prepared on any server connection PgBouncer holds: ask on many
    # client connections at once, so the question lands on every one of them
    seen: set[str] = set()
    connections = [psycopg.connect(pgbouncer, prepare_threshold=None) for _ in range(12)]
    try:
        for _ in range(5):
            for conn in connections:
                with conn.transaction():
                    for (name,) in conn.execute("SELECT name FROM pg_prepared_statements"):
                        seen.add(name)
                    time.sleep(0)  # hold the server connection only for the transaction
    finally:
        for conn in connections:
            conn.close()
    assert seen == set()
