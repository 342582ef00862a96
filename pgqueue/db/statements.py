"""Named SQL statements, one per file, rendered with `psycopg.sql`.

Each ``.sql`` file is a template: ``{command}``, ``{snowflake}``, ``{outbox}``,
``{execution}`` and ``{runtime}`` are filled with `psycopg.sql.Identifier`
values, never by string formatting, so a configured schema or table name
can't change the statement's meaning.
The value slots (`VALUE_SLOTS`: ``{limit}``, ``{worker_id}``, ``{lease}``,
``{any_kind}``, ``{tool_kinds}``) are each the ``%(name)s`` parameter, or a
`psycopg.sql.Literal` where the statement is rendered with that value. The scan
claim is rendered with all of them (they are fixed per source): the planner then
knows the claim's size, and a statement with no parameters left gets its generic
plan from the first execution, so each connection plans it once (see
``claim_batch.sql`` and docs/design.md). A rule that several statements share
lives in one ``part_*.sql`` file (`PARTS`), filled in as ``{fence}`` and so on.

The core statements live in ``pgqueue/db/sql``; a program with statements of
its own (the bench's raw baseline) keeps them in a ``sql`` folder of its
package and names that package.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import cache, lru_cache
from importlib import resources
from typing import LiteralString

from psycopg import sql

#: the package whose ``sql`` folder holds the core statements
CORE = "pgqueue.db"

#: the shared parts every template may use, as ``{name}`` for ``part_<name>.sql``;
#: a part may use the ones before it
PARTS = (
    "max_attempts",
    "claim_set",
    "claimed_row",
    "fence",
    "outbox_insert",
    "outbox_next",
    "outbox_taken",
    "complete",
    "mark_running",
    "nack",
    "unserved",
    "rate_counts",
    "rate_periods",
    "rate_window",
    "rate_allowed",
    "rate_used",
    "rate_keys",
    "started",
    "rate_held",
    "held_back",
    "rescued",
    "strays",
    "schedule_insert",
    "claim_mode",
)


@cache
def text(name: str, package: str = CORE) -> LiteralString:
    """The raw template of ``<package>/sql/<name>.sql``."""
    # The files ship with the package and are never built from input, which is
    # what LiteralString promises to psycopg.
    return resources.files(package).joinpath("sql", f"{name}.sql").read_text("utf-8")


#: the slots a template may hold a value in: a parameter unless rendered as a literal
VALUE_SLOTS = ("limit", "worker_id", "lease", "any_kind", "tool_kinds")

#: literals that are no value but change how a scan claim is rendered:
#: ``fair`` (``"execution"`` or ``"key"``): fair share over that group;
#: ``rated``: the limited claim counts rates (`RATED`)
SWITCHES = ("fair", "rated")

#: the limited claim's slots for rates: under a rate (a part, or SQL), and without
#: one (empty maps, no branch, no starts written, and a guard that takes
#: nothing while a rate exists after all: the next claim is rendered with it)
RATED = {
    "rate_maps": ("part_rate_maps", "SELECT '{}'::jsonb AS n, '{}'::jsonb AS used"),
    "rate_full_kinds": ("part_rate_full_kinds", ""),
    "rate_full_groups": ("part_rate_full_groups", ""),
    "rate_starts": (",\n{started}", ""),
    "rate_guard": ("", "AND NOT EXISTS (SELECT 1 FROM lim WHERE rate_count IS NOT NULL)"),
}

#: values to write into a statement as literals: ``((slot, value), ...)``, sorted
Literals = tuple[tuple[str, Hashable], ...]


def literals(**values: Hashable) -> Literals:
    """``values`` as `render` takes them: sorted, one key per set of values, and
    without the ones given as ``None``, which stay parameters (a literal ``NULL``
    limit would be no limit at all)."""
    return tuple(sorted((slot, value) for slot, value in values.items() if value is not None))


# The one statement cache. Bounded: the literals hold worker ids, and a process
# may make many sources.
@lru_cache(maxsize=1024)
def render(
    name: str, schema: str, table: str, literals: Literals = (), package: str = CORE
) -> sql.Composed:
    """``<name>.sql`` with its identifiers filled in for ``schema.table``, each value
    slot named in ``literals`` written in as that literal (a tuple as an array),
    and every other value slot as its ``%(slot)s`` parameter."""
    values: dict[str, sql.Composable] = {slot: sql.Placeholder(slot) for slot in VALUE_SLOTS}
    for slot, value in literals:
        if slot in SWITCHES:
            continue
        if slot not in values:
            raise ValueError(f"{slot!r} is not a value slot of the statements: {VALUE_SLOTS}")
        values[slot] = sql.Literal(list(value) if isinstance(value, tuple) else value)
    values.update(
        command=sql.Identifier(schema, table),
        snowflake=sql.Identifier(schema, "snowflake_id"),
        # pgqueue's report outbox, and NoETL's own tables beside its command table
        outbox=sql.Identifier(schema, "pgqueue_outbox"),
        new_id=sql.Identifier(schema, "pgqueue_new_id"),
        registry=sql.Identifier(schema, "pgqueue_worker"),
        limits=sql.Identifier(schema, "pgqueue_limit"),
        pauses=sql.Identifier(schema, "pgqueue_pause"),
        starts=sql.Identifier(schema, "pgqueue_start"),
        settings=sql.Identifier(schema, "pgqueue_setting"),
        schedules=sql.Identifier(schema, "pgqueue_schedule"),
        uniques=sql.Identifier(schema, "pgqueue_unique"),
        attempt_log=sql.Identifier(schema, "pgqueue_attempt_log"),
        waiters=sql.Identifier(schema, "pgqueue_waiter"),
        execution=sql.Identifier(schema, "execution"),
        event=sql.Identifier(schema, "event"),
        runtime=sql.Identifier(schema, "runtime"),
    )
    # the queue's name, for the advisory lock of its claims (claim_lock.sql)
    values["queue_name"] = sql.Literal(f"{schema}.{table}")
    # where pgqueue.wait hears that its command finished (QueueTable.done_channel)
    values["done_channel"] = sql.Literal(f"pgqueue.{schema}.{table}.done")
    for part in PARTS:
        values[part] = sql.SQL(text(f"part_{part}").rstrip()).format(**values)
    rated = bool(dict(literals).get("rated"))
    for slot, (under_rate, without) in RATED.items():
        if rated:
            # a part's name, or the SQL itself
            with_rate = text(under_rate) if under_rate.startswith("part_") else under_rate
            values[slot] = sql.SQL(with_rate.rstrip()).format(**values)
        else:
            values[slot] = sql.SQL(without)
    # the plain claim takes nothing while the fleet shares fairly (the fair
    # claim, rendered with its switch, is the one to run then)
    values["fair_guard"] = sql.SQL(
        ""
        if dict(literals).get("fair") is not None
        else "\nAND NOT EXISTS (SELECT 1 FROM {} WHERE name = 'fair_share')"
    ).format(values["settings"])
    plain = sql.SQL(text("part_plain_filter").rstrip())
    values["kind_scans"], values["pending_rows"] = _kind_scans(dict(literals), values, plain)
    limited = sql.SQL(text("part_limited_filter").rstrip())
    scans, _ = _kind_scans(dict(literals), values, limited, merged=False)
    values["limited_scans"] = scans
    return sql.SQL(text(name, package)).format(**values)


@lru_cache(maxsize=1024)
def compiled(
    name: str, schema: str, table: str, literals: Literals = (), package: str = CORE
) -> bytes:
    """`render`'s statement as the bytes the server reads. The hot path runs a
    few statements over and over: psycopg would compose each one again on
    every run (its cache of parsed queries is keyed by these very bytes)."""
    return render(name, schema, table, literals, package).as_bytes(None)


#: the column a fair claim spreads over, by its ``fair`` switch
FAIR_GROUPS = {"execution": "execution_id", "key": "concurrency_key"}


def _kind_scans(
    literals: dict[str, Hashable],
    values: dict[str, sql.Composable],
    scan_filter: sql.SQL,
    *,
    merged: bool = True,
) -> tuple[sql.Composed, sql.Composed]:
    """A scan claim's CTEs of pending rows under ``scan_filter`` (`_plain_scans`,
    and with the ``fair`` switch `_fair_scans`). With ``merged``, also the
    select ``picked`` takes of them: a single scan as it comes, in its index's
    order, several merged in claim order; without, the CTEs end with
    ``pending``, all of them, each with its ``round`` (0 but in a fair claim)."""
    scans, names = _plain_scans(literals, values, scan_filter)
    fair = literals.get("fair")
    if fair is not None:
        return _fair_scans(literals, values, scan_filter, scans, names, str(fair), merged=merged)
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT * FROM {}").format(sql.Identifier(name)) for name in names
    )
    if not merged:
        pending = sql.SQL("pending AS (SELECT *, 0 AS round FROM ({}) AS u),").format(union)
        return sql.Composed([*scans, pending]), sql.Composed([])
    columns = sql.SQL("SELECT execution_id, command_id, status FROM {}")
    if len(names) == 1:
        return sql.Composed(scans), columns.format(sql.Identifier(names[0]))
    # one kind and the kindless probe: the probe's rows first, as strays are
    if len(names) == 2:
        return sql.Composed(scans), sql.SQL(" UNION ALL ").join(
            columns.format(sql.Identifier(name)) for name in reversed(names)
        )
    return sql.Composed(scans), sql.SQL(
        "(SELECT execution_id, command_id, status FROM ({}) AS pending"
        " ORDER BY priority DESC, due_at, command_id LIMIT {})"
    ).format(union, values["limit"])


def _fair_scans(
    literals: dict[str, Hashable],
    values: dict[str, sql.Composable],
    scan_filter: sql.SQL,
    scans: list[sql.Composed],
    names: list[str],
    fair: str,
    *,
    merged: bool,
) -> tuple[sql.Composed, sql.Composed]:
    """The plain scans, and a fair scan (part_fair_scan.sql) per kind a
    worker names (or one of every kind), merged with their round into the CTE
    ``pending`` (part_fair_pending.sql); with ``merged`` (a plain claim), the
    fair scans lock nothing and the rows it takes are locked once chosen
    (part_fair_taken.sql), round-robin; without (claim_limited.sql, one
    claim at a time), they lock what they read."""
    if fair not in FAIR_GROUPS:
        raise ValueError(f"fair share is over {sorted(FAIR_GROUPS)}, not {fair!r}")
    group = sql.Identifier(FAIR_GROUPS[fair])
    kinds = literals.get("tool_kinds")
    if literals.get("any_kind") is False and isinstance(kinds, tuple):
        ranges = [
            sql.SQL("coalesce(c.tool_kind, '') >= {k} AND coalesce(c.tool_kind, '') <= {k}").format(
                k=sql.Literal(kind)
            )
            for kind in kinds
        ]
    else:
        ranges = [
            sql.SQL("({any_kind} OR coalesce(c.tool_kind, '') = ANY({tool_kinds}::text[]))").format(
                **values
            )
        ]
    fair_names = []
    for n, kind_range in enumerate(ranges):
        name = f"fair_{n}"
        fair_names.append(name)
        scans.append(
            sql.SQL(text("part_fair_scan")).format(
                **values,
                name=sql.Identifier(name),
                groups=sql.Identifier(f"fair_groups_{n}"),
                group=group,
                kind_range=kind_range,
                scan_filter=scan_filter.format(**values, kind_test=sql.SQL("gr.kind")),
                locking=sql.SQL("" if merged else "FOR UPDATE SKIP LOCKED"),
            )
        )
    union = sql.SQL(" UNION ").join(
        sql.SQL("SELECT * FROM {}").format(sql.Identifier(name)) for name in names + fair_names
    )
    scans.append(sql.SQL(text("part_fair_pending")).format(**values, group=group, union=union))
    if not merged:
        return sql.Composed(scans), sql.Composed([])
    scans.append(sql.SQL(text("part_fair_taken")).format(**values))
    return sql.Composed(scans), sql.Composed(
        [sql.SQL("SELECT execution_id, command_id, status FROM fair_taken")]
    )


def _plain_scans(
    literals: dict[str, Hashable],
    values: dict[str, sql.Composable],
    scan_filter: sql.SQL,
) -> tuple[list[sql.Composed], list[str]]:
    """A scan claim's plain scans (part_kind_scan.sql) under ``scan_filter``:
    one per kind a worker names and one of rows with no kind (``kindless``),
    when its kinds are literals; else one scan of every kind (or of the kinds
    a parameter names); with the CTE name of each."""
    kinds = literals.get("tool_kinds")
    if literals.get("any_kind") is False and isinstance(kinds, tuple):
        named = [(f"pending_{n}", kind) for n, kind in enumerate(kinds)]
        named.append(("kindless", ""))
        scans = [
            sql.SQL(text("part_kind_scan")).format(
                **values,
                name=sql.Identifier(name),
                kind=sql.Literal(kind),
                scan_filter=scan_filter.format(**values, kind_test=sql.Literal(kind)),
            )
            for name, kind in named
        ]
        names = [name for name, _ in named]
    else:
        names = ["pending_0"]
        scan = sql.SQL(text("part_any_kind_scan"))
        scans = [
            scan.format(
                **values,
                name=sql.Identifier(names[0]),
                scan_filter=scan_filter.format(
                    **values, kind_test=sql.SQL("coalesce(c.tool_kind, '')")
                ),
            )
        ]
    return scans, names
