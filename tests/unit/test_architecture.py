"""The package's shape, held by tests: no import cycle, no module importing one
above it, every state literal of the SQL one of `Status`, one fence for every
write after a claim, and no module too big to find one's way around in."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

import pgqueue
from pgqueue.db import statements
from pgqueue.states import Status

PACKAGE = Path(pgqueue.__file__).parent

#: The layers, lowest first: a module may import its own layer and those below,
#: never one above. The operator programs (``pgqueue.cli``) sit on top; the
#: migrations are alembic's, run by `pgqueue.migrate`.
LAYERS: list[set[str]] = [
    {"errors", "states", "jsonvalues", "runtime", "dsn", "durations", "tracing"},
    {"models", "levers", "backoff", "batching", "services", "tools.threads", "cron"},
    {
        "outcomes",
        "newcommand",
        "db.table",
        "db.statements",
        "db.translate",
        "db.wire",
        "db.claim_mode",
    },
    {"db.deadlines", "db.ended", "reporting", "db.connect"},
    {"db", "db.gateway", "db.plans", "db.outbox", "db.noetl", "noetl.events", "noetl.reporter"},
    {
        "enqueue",
        "listener",
        "retention",
        "migrate",
        "migrations",
        "relay",
        "noetl.runtime",
        "registry",
        "operations",
    },
    {
        "noetl",
        "source",
        "coalescing",
        "completer",
        "finished",
        "draining",
        "handles",
        "flow",
        "schedules",
        "finishing",
        "waiting",
    },
    {
        "pg_source",
        "tools",
        "tools.builtin",
        "execution",
        "lease_keeper",
        "recording",
        "scheduler",
        "schedule_file",
        "tools.flight",
    },
    {"observability"},
    {"worker", "settings"},
    {"app"},  # the composition root
    {""},  # the package itself: the table of contents
    {"dashboard"},  # the web dashboard: reads and the operator API, like the CLI
    {"cli"},
]


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {
        _name(p): p
        for p in PACKAGE.rglob("*.py")
        if "versions" not in p.parts and p.name != "__main__.py"
    }


#: packages whose submodules all sit in the package's layer
WHOLE = ("cli", "migrations", "dashboard")


def _layer(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if module in layer or any(module.startswith(w + ".") for w in WHOLE if w in layer):
            return index
    raise AssertionError(f"pgqueue.{module} is in no layer: add it to LAYERS")


def imports(path: Path) -> Iterator[str]:
    """Every pgqueue module ``path`` imports, at the top or inside a function."""
    known = modules()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from pgqueue.x import y``: the module pgqueue.x.y when there is
            # one, else a name of pgqueue.x
            names = [
                f"{node.module}.{a.name}"
                if f"{node.module}.{a.name}".removeprefix("pgqueue.") in known
                else node.module
                for a in node.names
            ]
        else:
            continue
        for name in names:
            if name == "pgqueue" or name.startswith("pgqueue."):
                found = name.removeprefix("pgqueue").removeprefix(".")
                if found in known:
                    yield found


def graph() -> dict[str, set[str]]:
    return {name: set(imports(path)) - {name} for name, path in modules().items()}


def test_every_module_has_a_layer() -> None:
    for name in modules():
        _layer(name)


def test_no_module_imports_one_above_it() -> None:
    upward = [
        f"pgqueue.{name} imports pgqueue.{dep}"
        for name, deps in graph().items()
        for dep in deps
        if _layer(dep) > _layer(name)
    ]
    assert upward == []


def test_the_import_graph_has_no_cycle() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_module_is_over_400_lines() -> None:
    big = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text("utf-8").splitlines())) > 400
    }
    assert big == {}


def sql_files() -> Iterator[tuple[str, str]]:
    for package in ("pgqueue.db", "pgqueue.cli", "pgqueue.cli.bench"):
        for entry in resources.files(package).joinpath("sql").iterdir():
            if entry.name.endswith(".sql"):
                yield f"{package}/{entry.name}", entry.read_text("utf-8")


def _code(text: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


def test_every_state_literal_in_the_sql_is_a_status() -> None:
    # A quoted upper-case word in a statement is a state: it must be one of
    # the enum's values (a typo there would silently match no row).
    words = {
        (name, word)
        for name, text in sql_files()
        for word in re.findall(r"'([A-Z][A-Z_]+)'", _code(text))
    }
    assert words, "no state literal found: the pattern is broken"
    not_states = {(name, word) for name, word in words if word not in set(Status)}
    # the one upper-case literal that is no state: a privilege's name
    assert not_states == {("pgqueue.db/can_delete.sql", "DELETE")}


FENCED = [
    "mark_running",
    "mark_running_reported",
    "heartbeat",
    "complete",
    "complete_reported",
    "nack",
    "nack_reported",
    "release",
]


@pytest.mark.parametrize("name", FENCED)
def test_every_write_after_a_claim_uses_the_one_fence(name: str) -> None:
    fence = _code(statements.text("part_fence"))
    rendered = _code(statements.render(name, "noetl", "command").as_string(None))
    assert fence.strip().splitlines()[0] in rendered
    # and writes no fence of its own beside it
    text = _code(statements.text(name))
    for _ in statements.PARTS:  # a part may hold parts
        for part in statements.PARTS:
            text = text.replace("{" + part + "}", _code(statements.text(f"part_{part}")))
    assert text.count("c.claim_token = r.token") == 1
    assert "claim_token =" not in text.replace("claim_token = NULL", "").replace(
        "c.claim_token = r.token", ""
    )


def test_the_public_surface_is_the_contract() -> None:
    assert sorted(pgqueue.__all__) == pgqueue.__all__
    for name in pgqueue.__all__:
        assert getattr(pgqueue, name) is not None
