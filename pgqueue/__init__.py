"""pgqueue: a PostgreSQL-native command queue for NoETL-style control planes.

The table of contents of the contract (the README and docs/design.md):

- the wire format: `Command`, the outcomes `Claimed`, `AlreadyClaimed`,
  `RetryLater`, `Failed`, and `Pulled`; the states, `Status`;
- the pull model: `CommandSource`, `InMemorySource`, and `PgCommandSource`
  (with its `PgHandle`) on the table a `QueueTable` names;
- producing: `enqueue`, `enqueue_many` (async) and their `_sync` forms, of
  `NewCommand`s;
- running: `Worker` (and its `WorkerStats`), `ToolContext`, `RetryPolicy`,
  `PermanentFailure`;
- operating: `get`, `wait`, `cancel`, `requeue` (a `CommandState`), and their
  ``_sync`` twins;
- the errors: `PgQueueError` and its subclasses.
"""

from pgqueue.backoff import RetryPolicy
from pgqueue.db.table import QueueTable
from pgqueue.enqueue import Enqueued, enqueue, enqueue_many, enqueue_many_sync, enqueue_sync
from pgqueue.errors import (
    CommandCancelled,
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailable,
    HandleAlreadySettled,
    LeaseLost,
    PermanentFailure,
    PgQueueError,
    SchemaNotMigrated,
    Snooze,
)
from pgqueue.finishing import (
    cancel,
    cancel_sync,
    complete,
    complete_sync,
    fail,
    fail_sync,
    retry,
    retry_sync,
    snooze,
    snooze_sync,
)
from pgqueue.flow import (
    InvalidLimit,
    Limit,
    Pause,
    Rate,
    clear_limit,
    clear_limit_sync,
    fair_share,
    fair_share_sync,
    limits,
    limits_sync,
    pause,
    pause_sync,
    paused,
    paused_sync,
    resume,
    resume_sync,
    set_fair_share,
    set_fair_share_sync,
    set_limit,
    set_limit_sync,
    why,
    why_sync,
)
from pgqueue.models import (
    AlreadyClaimed,
    Claimed,
    ClaimOutcome,
    Command,
    Failed,
    Pulled,
    RetryLater,
)
from pgqueue.newcommand import NewCommand
from pgqueue.operations import (
    CommandNotFound,
    CommandState,
    get,
    get_sync,
    requeue,
    requeue_sync,
    retry_now,
    retry_now_sync,
)
from pgqueue.pg_source import PgCommandSource, PgHandle
from pgqueue.schedules import (
    InvalidSchedule,
    Schedule,
    ScheduleNotFound,
    add_schedule,
    add_schedule_sync,
    pause_schedule,
    pause_schedule_sync,
    remove_schedule,
    remove_schedule_sync,
    resume_schedule,
    resume_schedule_sync,
    run_schedule_now,
    run_schedule_now_sync,
    schedules,
    schedules_sync,
)
from pgqueue.source import CommandSource, InMemorySource
from pgqueue.states import Status
from pgqueue.tools import ToolContext
from pgqueue.waiting import wait, wait_sync
from pgqueue.worker import Worker, WorkerStats

__version__ = "0.1.0"

__all__ = [
    "AlreadyClaimed",
    "ClaimOutcome",
    "Claimed",
    "Command",
    "CommandCancelled",
    "CommandNotFound",
    "CommandSource",
    "CommandState",
    "ConfigurationError",
    "DatabaseError",
    "DatabaseUnavailable",
    "Enqueued",
    "Failed",
    "HandleAlreadySettled",
    "InMemorySource",
    "InvalidLimit",
    "InvalidSchedule",
    "LeaseLost",
    "Limit",
    "NewCommand",
    "Pause",
    "PermanentFailure",
    "PgCommandSource",
    "PgHandle",
    "PgQueueError",
    "Pulled",
    "QueueTable",
    "Rate",
    "RetryLater",
    "RetryPolicy",
    "Schedule",
    "ScheduleNotFound",
    "SchemaNotMigrated",
    "Snooze",
    "Status",
    "ToolContext",
    "Worker",
    "WorkerStats",
    "add_schedule",
    "add_schedule_sync",
    "cancel",
    "cancel_sync",
    "clear_limit",
    "clear_limit_sync",
    "complete",
    "complete_sync",
    "enqueue",
    "enqueue_many",
    "enqueue_many_sync",
    "enqueue_sync",
    "fail",
    "fail_sync",
    "fair_share",
    "fair_share_sync",
    "get",
    "get_sync",
    "limits",
    "limits_sync",
    "pause",
    "pause_schedule",
    "pause_schedule_sync",
    "pause_sync",
    "paused",
    "paused_sync",
    "remove_schedule",
    "remove_schedule_sync",
    "requeue",
    "requeue_sync",
    "resume",
    "resume_schedule",
    "resume_schedule_sync",
    "resume_sync",
    "retry",
    "retry_now",
    "retry_now_sync",
    "retry_sync",
    "run_schedule_now",
    "run_schedule_now_sync",
    "schedules",
    "schedules_sync",
    "set_fair_share",
    "set_fair_share_sync",
    "set_limit",
    "set_limit_sync",
    "snooze",
    "snooze_sync",
    "wait",
    "wait_sync",
    "why",
    "why_sync",
]
