"""A NoETL control plane for tests: a real HTTP server that follows NOETL.md.

``POST /api/events/batch`` answers ``202 {status, request_id, event_ids,
duplicate}``; the same ``Idempotency-Key`` again answers ``duplicate: true``
and stores nothing. Answers can be scripted (``503`` with ``Retry-After``, a
``400``), and the server can be taken down (its port closed) and brought back.
Its engine acts on the batch's last actionable event as NoETL's does: every
accepted event is stored in ``noetl.event``; an accepted ``call.done`` makes
the workflow insert its next commands as ``PENDING`` rows of ``noetl.command``;
``call.error`` sets the execution row ``FAILED`` while the workflow still
issues what its arcs lead to (an unconditional ``next`` after a failing step);
and an execution with every command issued and none left open ends with its
terminal event, ``playbook.completed`` or ``playbook.failed`` (NOETL.md §5:
that event, not the row's status, is what stops an execution's work).
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

#: NoETL's python step: ``main`` called with the input keys its signature names
ADD_ONE = "def main(prev):\n    return {'n': prev + 1}\n"


@dataclass
class Received:
    key: str
    body: dict[str, Any]
    at: float
    #: the command row's (status, attempts) when the batch arrived
    row: tuple[str, int] | None = None
    #: when it arrived, and when the row's final write was (its completed_at),
    #: both in seconds since the epoch
    wall: float = 0.0
    written: float | None = None
    #: when its answer was ready (seconds since the epoch): ``answered - wall``
    #: is the control plane's own time on it, which the worker waits for
    answered: float = 0.0

    @property
    def names(self) -> list[str]:
        return [e["name"] for e in self.body["events"]]

    @property
    def command_id(self) -> int:
        return int(self.body["events"][0]["payload"]["command_id"])


def insert_command(
    conn: psycopg.Connection[Any],
    execution_id: int,
    step: str,
    *,
    tool_kind: str = "python",
    code: str = ADD_ONE,
    input: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> int:
    """A command row as NoETL's Python server writes it (NOETL.md §4)."""
    command_id = int(conn.execute("SELECT noetl.snowflake_id()").fetchone()[0])  # type: ignore[index]
    context = {
        "tool_config": {"code": code},
        "input": input or {},
        "render_context": {},
        "spec": None,
    }
    conn.execute(
        "INSERT INTO noetl.command (command_id, execution_id, step_name, tool_kind, status,"
        " context, meta) VALUES (%s, %s, %s, %s, 'PENDING', %s, %s)",
        (
            command_id,
            execution_id,
            step,
            tool_kind,
            Jsonb(context),
            Jsonb(
                {
                    "command_id": command_id,
                    "step": step,
                    "tool_kind": tool_kind,
                    "actionable": True,
                    "max_attempts": 3,
                    **(meta or {}),
                }
            ),
        ),
    )
    return command_id


class Workflow:
    """What the engine issues: `start` the first commands, `advance` on a call.done
    (and on a call.error too when `after_error`: the arcs after a failing step)."""

    #: whether the workflow goes on after a failed step (NoETL's unconditional next)
    after_error = False

    def start(self, conn: psycopg.Connection[Any], execution_id: int) -> None:
        raise NotImplementedError

    def advance(
        self, conn: psycopg.Connection[Any], execution_id: int, step: str, payload: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    def issued_all(self, execution_id: int) -> bool:
        """Whether every command the workflow has is issued (the execution ends
        when they are all finished)."""
        raise NotImplementedError


class Chain(Workflow):
    """``steps`` python steps, each adding one to the one before's ``n``."""

    def __init__(self, steps: int = 5, tool_kind: str = "python") -> None:
        self.steps = steps
        self.tool_kind = tool_kind
        self._last: set[int] = set()

    def issued_all(self, execution_id: int) -> bool:
        return execution_id in self._last

    def start(self, conn: psycopg.Connection[Any], execution_id: int) -> None:
        insert_command(conn, execution_id, "step_1", tool_kind=self.tool_kind, input={"prev": 0})

    def advance(
        self, conn: psycopg.Connection[Any], execution_id: int, step: str, payload: dict[str, Any]
    ) -> None:
        number = int(step.removeprefix("step_"))
        if number + 1 == self.steps or self.steps == 1:
            self._last.add(execution_id)
        if number < self.steps:
            data = payload["response"]["data"]
            insert_command(
                conn,
                execution_id,
                f"step_{number + 1}",
                tool_kind=self.tool_kind,
                input={"prev": data["n"]},
            )


class FailingMiddle(Workflow):
    """``step_a`` → ``step_b``, which always fails → ``step_c``, which follows it
    unconditionally: NoETL fails the execution's row at ``step_b``'s error, still
    issues ``step_c``, and emits ``playbook.failed`` only once ``step_c`` ends."""

    after_error = True

    def __init__(self) -> None:
        self.issued: list[str] = []

    def issued_all(self, execution_id: int) -> bool:
        return "step_c" in self.issued

    def start(self, conn: psycopg.Connection[Any], execution_id: int) -> None:
        self._issue(conn, execution_id, "step_a")

    def _issue(
        self, conn: psycopg.Connection[Any], execution_id: int, step: str, **command: Any
    ) -> None:
        self.issued.append(step)
        insert_command(conn, execution_id, step, input={"prev": 0}, **command)

    def advance(
        self, conn: psycopg.Connection[Any], execution_id: int, step: str, payload: dict[str, Any]
    ) -> None:
        if step == "step_a":
            self._issue(conn, execution_id, "step_b", tool_kind="fail", meta={"max_attempts": 1})
        elif step == "step_b":
            self._issue(conn, execution_id, "step_c")


class Single(Workflow):
    """One command (``insert_command``'s arguments); the execution ends with it."""

    def __init__(self, **command: Any) -> None:
        self.command = command
        self.command_id = 0

    def start(self, conn: psycopg.Connection[Any], execution_id: int) -> None:
        self.command_id = insert_command(conn, execution_id, "only", **self.command)

    def advance(
        self, conn: psycopg.Connection[Any], execution_id: int, step: str, payload: dict[str, Any]
    ) -> None:
        pass

    def issued_all(self, execution_id: int) -> bool:
        return True


class Loop(Workflow):
    """One loop step of ``iterations``, at most ``max_in_flight`` issued and open."""

    def __init__(self, iterations: int = 50, max_in_flight: int = 10) -> None:
        self.iterations = iterations
        self.max_in_flight = max_in_flight
        self.loop_event_id = 0
        self.issued = 0
        self.most_pending = 0

    def issued_all(self, execution_id: int) -> bool:
        return self.issued >= self.iterations

    def _issue(self, conn: psycopg.Connection[Any], execution_id: int) -> None:
        index = self.issued
        self.issued += 1
        insert_command(
            conn,
            execution_id,
            "loop",
            code="def main(item):\n    return {'square': item * item}\n",
            input={"item": index, "__loop_claimed_index": index},
            meta={"loop_event_id": self.loop_event_id, "loop_iteration_index": index},
        )
        pending = conn.execute(
            "SELECT count(*) FROM noetl.command WHERE execution_id = %s AND status = 'PENDING'",
            (execution_id,),
        ).fetchone()[0]  # type: ignore[index]
        self.most_pending = max(self.most_pending, int(pending))

    def start(self, conn: psycopg.Connection[Any], execution_id: int) -> None:
        self.loop_event_id = execution_id * 10 + 7
        # the loop's first iterations are issued at once: in one transaction,
        # so that they are all PENDING before any worker can claim one
        with conn.transaction():
            for _ in range(min(self.max_in_flight, self.iterations)):
                self._issue(conn, execution_id)

    def advance(
        self, conn: psycopg.Connection[Any], execution_id: int, step: str, payload: dict[str, Any]
    ) -> None:
        if self.issued < self.iterations:
            self._issue(conn, execution_id)


class ByExecution(Workflow):
    """Each execution its own workflow: those named in ``workflows``, else ``default``."""

    def __init__(self, workflows: dict[int, Workflow], default: Workflow) -> None:
        self.workflows = workflows
        self.default = default

    def _of(self, execution_id: int) -> Workflow:
        return self.workflows.get(execution_id, self.default)

    def start(self, conn: psycopg.Connection[Any], execution_id: int) -> None:
        self._of(execution_id).start(conn, execution_id)

    def advance(
        self, conn: psycopg.Connection[Any], execution_id: int, step: str, payload: dict[str, Any]
    ) -> None:
        self._of(execution_id).advance(conn, execution_id, step, payload)

    def issued_all(self, execution_id: int) -> bool:
        return self._of(execution_id).issued_all(execution_id)


class RepairingLoop(Loop):
    """A loop whose engine aggregates each ``call.done`` it processes and, like
    NoETL's engine, repairs its counter from the command table: after each
    one it counts the loop's terminal rows (``_count_loop_terminal_iterations``
    in NoETL's ``core/dsl/engine/executor/queries.py``) and, where that count
    is ahead of the results processed, takes it as the loop's progress. The
    loop is done when the counter reaches ``iterations``; results processed
    after that are dropped. ``processing`` is each batch's engine time."""

    def __init__(self, iterations: int, max_in_flight: int, processing: float = 0.002) -> None:
        super().__init__(iterations, max_in_flight)
        self.processing = processing
        self.completed = 0
        self.aggregated: list[int] = []
        self.aggregated_at_done: int | None = None
        self.dropped = 0

    def _issue(self, conn: psycopg.Connection[Any], execution_id: int) -> None:
        super()._issue(conn, execution_id)
        # NoETL's loop column, which its repair reads
        conn.execute(
            "UPDATE noetl.command SET loop_event_id = %s"
            " WHERE execution_id = %s AND loop_event_id IS NULL",
            (self.loop_event_id, execution_id),
        )

    def issued_all(self, execution_id: int) -> bool:
        return self.aggregated_at_done is not None

    def advance(
        self, conn: psycopg.Connection[Any], execution_id: int, step: str, payload: dict[str, Any]
    ) -> None:
        time.sleep(self.processing)
        if self.aggregated_at_done is not None:
            self.dropped += 1
            return
        self.aggregated.append(int(payload["loop_iteration_index"]))
        self.completed += 1
        terminal = conn.execute(
            "SELECT count(*) FROM noetl.command WHERE execution_id = %s AND loop_event_id = %s"
            " AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')",
            (execution_id, self.loop_event_id),
        ).fetchone()[0]  # type: ignore[index]
        self.completed = max(self.completed, int(terminal))  # the repair
        if self.completed >= self.iterations:
            self.aggregated_at_done = len(self.aggregated)
        elif self.issued < self.iterations:
            self._issue(conn, execution_id)


class ClaimingWorker:
    """NoETL's own worker, as far as the order of its writes goes: it claims a
    row (``CLAIMED``), runs the python step, and posts the final batch; the
    row's terminal status is written by the control plane when it accepts the
    batch, not by the worker. ``threads`` run at once."""

    def __init__(self, dsn: str, api: str, threads: int = 10) -> None:
        self.dsn = dsn
        self.api = api
        self.threads = threads
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> ClaimingWorker:
        for thread in self._workers:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout=30)

    def _run(self) -> None:
        import urllib.request

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "UPDATE noetl.command SET status = 'CLAIMED', worker_id = 'noetl-worker'"
                    " WHERE command_id = (SELECT command_id FROM noetl.command"
                    "   WHERE status = 'PENDING' ORDER BY command_id"
                    "   LIMIT 1 FOR UPDATE SKIP LOCKED)"
                    " RETURNING command_id, execution_id, step_name, context, meta"
                ).fetchone()
                if row is None:
                    self._stop.wait(0.005)
                    continue
                command_id, execution_id, step, context, meta = row
                namespace: dict[str, Any] = {}
                exec(context["tool_config"]["code"], namespace)  # noqa: S102 - the test's own code
                data = namespace["main"](**{"item": context["input"]["item"]})
                index = meta.get("loop_iteration_index")
                loop = {"loop_event_id": meta.get("loop_event_id"), "loop_iteration_index": index}
                result = {"status": "COMPLETED", "context": {"status": "success"}}
                events = [
                    {
                        "step": step,
                        "name": "call.done",
                        "actionable": True,
                        "informative": True,
                        "payload": {
                            "response": {"status": "success", "data": data},
                            "command_id": command_id,
                            "result": result,
                            **loop,
                        },
                        "meta": {"command_id": command_id, **loop},
                    },
                    {
                        "step": step,
                        "name": "command.completed",
                        "actionable": False,
                        "informative": True,
                        "payload": {"command_id": command_id, "result": result},
                        "meta": {"command_id": command_id},
                    },
                ]
                body = json.dumps(
                    {"execution_id": str(execution_id), "worker_id": "noetl", "events": events}
                ).encode()
                request = urllib.request.Request(  # noqa: S310 - the test's own server
                    f"{self.api}/api/events/batch",
                    data=body,
                    headers={
                        "Content-Type": "application/json",
                        "Idempotency-Key": uuid.uuid4().hex,
                    },
                )
                with urllib.request.urlopen(request, timeout=30):  # noqa: S310
                    pass


class _ByExecution:
    """A queue of batches: per execution in order, the executions in turn;
    ``None`` (put by `close`) ends the engine once everything before it is out."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._queues: collections.OrderedDict[int, collections.deque[dict[str, Any]]] = (
            collections.OrderedDict()
        )
        self._closed = False

    def put(self, body: dict[str, Any] | None) -> None:
        with self._ready:
            if body is None:
                self._closed = True
            else:
                execution = int(body["execution_id"])
                self._queues.setdefault(execution, collections.deque()).append(body)
            self._ready.notify()

    def get(self) -> dict[str, Any] | None:
        with self._ready:
            while not self._queues and not self._closed:
                self._ready.wait()
            if not self._queues:
                return None
            # the execution first in turn gives one batch and goes to the back
            execution, batches = next(iter(self._queues.items()))
            body = batches.popleft()
            self._queues.pop(execution)
            if batches:
                self._queues[execution] = batches
            return body


@dataclass
class ControlPlane:
    dsn: str
    workflow: Workflow
    accepted: list[Received] = field(default_factory=list)
    duplicates: int = 0
    requests: int = 0
    #: answers to give next, instead of accepting: (status, headers)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    refused: list[Received] = field(default_factory=list)
    #: every request: its key, the status answered, when
    log: list[tuple[str, int, float]] = field(default_factory=list)
    #: accepted batches the engine has processed
    processed: int = 0
    #: called with each batch about to be accepted (to hold it back, say)
    before_accept: Any = None

    def __post_init__(self) -> None:
        #: guards what the plane keeps in memory (keys, the logs, the script)
        self._lock = threading.Lock()
        self._keys: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self.port = 0
        # NoETL's API serves batches at once, each on a connection of its pool;
        # one connection behind a lock would queue every report behind every
        # other in flight (a latency no real control plane has)
        self._pool = ConnectionPool(
            self.dsn, min_size=2, max_size=16, kwargs={"autocommit": True}, open=True
        )
        #: the engine's connection, which `start` shares (under `_engine_lock`)
        self._conn = psycopg.connect(self.dsn, autocommit=True)
        self._engine_lock = threading.Lock()
        # NoETL answers 202 once a batch's events are stored, and processes the
        # batch afterwards, asynchronously: so does this engine, on a thread of
        # its own, each execution's batches in the order they came and the
        # executions in turn (one execution's backlog does not hold another's
        # next step back behind it)
        self._batches = _ByExecution()
        self._engine_thread = threading.Thread(target=self._process, daemon=True)
        self._engine_thread.start()

    # -- the server -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        plane = self

        class Handler(BaseHTTPRequestHandler):
            # keep-alive, as NoETL's server (uvicorn) keeps it: HTTP/1.0 made
            # every report pay a new connection and a new thread
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # the headers and the body go out in separate writes: with
                # Nagle's algorithm on a kept-alive connection the second waited
                # for the client's delayed ACK (40 ms)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                plane._connections.add(self.connection)

            def finish(self) -> None:
                plane._connections.discard(self.connection)
                super().finish()

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, headers, answer = plane.handle(
                    self.path, self.headers.get("Idempotency-Key"), raw
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # and the kept-alive connections, or a plane "down" would go on answering
        for connection in list(self._connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.down()
        self._batches.put(None)
        self._engine_thread.join(timeout=30)
        self._conn.close()
        self._pool.close()

    def __enter__(self) -> ControlPlane:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API ----------------------------------------------------------------------

    def handle(
        self, path: str, key: str | None, raw: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self.before_accept is not None and path == "/api/events/batch":
            # outside the lock: the test's own look at the plane must not wait on it
            self.before_accept(json.loads(raw))
        with self._lock:
            answer = self._answer(path, key, raw)
            if answer is not None:
                self.log.append((key or "", answer[0], time.monotonic()))
                return answer
        assert key is not None
        body = json.loads(raw)
        received = self._accept(key, body)
        with self._lock:
            self.accepted.append(received)
            self.log.append((key, 202, time.monotonic()))
        self._batches.put(body)
        request_id = uuid.uuid4().hex
        ids = [int(time.time() * 1000) + i for i in range(len(body["events"]))]
        received.answered = time.time()
        return (
            202,
            {},
            {
                "status": "accepted",
                "request_id": request_id,
                "event_ids": ids,
                "duplicate": False,
            },
        )

    def _answer(
        self, path: str, key: str | None, raw: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        """The answer to a request that is not a new batch to accept (``None``:
        it is one, and its key is taken)."""
        self.requests += 1
        if path != "/api/events/batch":
            return 404, {}, {"detail": "not found"}
        body = json.loads(raw)
        if not key or not isinstance(body.get("events"), list) or not body["events"]:
            return 422, {}, {"detail": "Idempotency-Key and events are required"}
        if self.script:
            status, headers = self.script.pop(0)
            if 400 <= status < 500:
                self.refused.append(Received(key, body, time.monotonic()))
            return status, headers, {"status": "error", "code": status}
        if key in self._keys:
            self.duplicates += 1
            return 202, {}, {"status": "accepted", "request_id": key, "duplicate": True}
        self._keys.add(key)
        return None

    def _accept(self, key: str, body: dict[str, Any]) -> Received:
        """Stores a batch's events and its row's update in one transaction, as
        NoETL's endpoint does, before it answers."""
        wall = time.time()
        at = time.monotonic()
        with self._pool.connection() as conn, conn.transaction():
            found = conn.execute(
                "SELECT status, attempts, extract(epoch FROM completed_at)::float8"
                " FROM noetl.command WHERE command_id = %s",
                (body["events"][0]["payload"]["command_id"],),
            ).fetchone()
            self._store_events(conn, int(body["execution_id"]), body["events"])
            self._accept_row(conn, body["events"])
        row = None if found is None else (str(found[0]), int(found[1]))
        written = None if found is None else found[2]
        return Received(key, body, at, row, wall, written)

    # -- the engine -------------------------------------------------------------------

    def start(self, execution_id: int) -> None:
        with self._engine_lock:
            self._conn.execute(
                "INSERT INTO noetl.execution (execution_id, status) VALUES (%s, 'RUNNING')",
                (execution_id,),
            )
            self.workflow.start(self._conn, execution_id)

    def _process(self) -> None:
        while (body := self._batches.get()) is not None:
            with self._engine_lock:
                self._engine(body)
                self.processed += 1

    def _engine(self, body: dict[str, Any]) -> None:
        execution_id = int(body["execution_id"])
        actionable = [e for e in body["events"] if e.get("actionable")]
        if not actionable:
            return  # stored, nothing to act on (a start batch)
        last = actionable[-1]
        if last["name"] == "call.error":
            self._conn.execute(
                "UPDATE noetl.execution SET status = 'FAILED', end_time = now()"
                " WHERE execution_id = %s",
                (execution_id,),
            )
            if not self.workflow.after_error:
                self._end(execution_id)
                return
        self.workflow.advance(self._conn, execution_id, last["step"], last["payload"])
        if self.workflow.issued_all(execution_id):
            self._end(execution_id)

    def _accept_row(self, conn: psycopg.Connection[Any], events: list[dict[str, Any]]) -> None:
        """NoETL's batch endpoint sets the command row's terminal status when it
        accepts the batch, before the engine processes it (NOETL.md §5)."""
        for event in events:
            status = {
                "command.started": "RUNNING",
                "command.completed": "COMPLETED",
                "command.failed": "FAILED",
            }.get(event["name"])
            if status is not None:
                conn.execute(
                    "UPDATE noetl.command SET status = %s, completed_at = now()"
                    " WHERE command_id = %s AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED')",
                    (status, event["payload"]["command_id"]),
                )

    def _store_events(
        self, conn: psycopg.Connection[Any], execution_id: int, events: list[dict[str, Any]]
    ) -> None:
        for event in events:
            self._event(conn, execution_id, event["name"], event.get("step"), event.get("meta"))

    def _event(
        self,
        conn: psycopg.Connection[Any],
        execution_id: int,
        name: str,
        step: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO noetl.event (execution_id, event_id, event_type, node_name, meta)"
            " VALUES (%s, noetl.snowflake_id(), %s, %s, %s)",
            (execution_id, name, step, Jsonb(meta or {})),
        )

    def _end(self, execution_id: int) -> None:
        """The terminal event, once no command of the execution is open."""
        open_commands = self._conn.execute(
            "SELECT count(*) FROM noetl.command WHERE execution_id = %s"
            " AND status IN ('PENDING', 'CLAIMED', 'RUNNING')",
            (execution_id,),
        ).fetchone()[0]  # type: ignore[index]
        if open_commands:
            return
        status = self._conn.execute(
            "UPDATE noetl.execution SET status = CASE WHEN status = 'RUNNING'"
            " THEN 'COMPLETED' ELSE status END, end_time = coalesce(end_time, now())"
            " WHERE execution_id = %s RETURNING status",
            (execution_id,),
        ).fetchone()[0]  # type: ignore[index]
        self._event(
            self._conn,
            execution_id,
            "playbook.failed" if status == "FAILED" else "playbook.completed",
        )

    def terminal_event(self, execution_id: int) -> str | None:
        """The execution's newest terminal event (NoETL's claim rule reads it)."""
        with self._pool.connection() as conn:
            found = conn.execute(
                "SELECT event_type FROM noetl.event WHERE execution_id = %s"
                " AND event_type IN ('playbook.completed', 'playbook.failed',"
                " 'workflow.completed', 'workflow.failed', 'execution.cancelled')"
                " ORDER BY event_id DESC LIMIT 1",
                (execution_id,),
            ).fetchone()
        return None if found is None else str(found[0])

    def execution_status(self, execution_id: int) -> str | None:
        with self._pool.connection() as conn:
            found = conn.execute(
                "SELECT status FROM noetl.execution WHERE execution_id = %s", (execution_id,)
            ).fetchone()
        return None if found is None else str(found[0])

    # -- what the tests read --------------------------------------------------------------

    def by_command(self) -> dict[int, list[Received]]:
        """The accepted batches of each command, in the order they arrived."""
        with self._lock:
            grouped: dict[int, list[Received]] = {}
            for received in self.accepted:
                grouped.setdefault(received.command_id, []).append(received)
            return grouped
