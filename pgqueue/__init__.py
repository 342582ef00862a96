"""pgqueue: a PostgreSQL-native command queue for NoETL-style control planes.

The table of contents of the contract (see the README):

- the wire format: `Command`, the outcomes `Claimed`, `AlreadyClaimed`,
  `RetryLater`, `Failed`, and `Pulled`;
- the pull model: `CommandSource`, `InMemorySource`, `PgCommandSource`;
- producing: `enqueue`, `enqueue_many` (async) and their `_sync` forms;
- running: `Worker`, `ToolContext`, `RetryPolicy`, `PermanentFailure`;
- the errors: `PgQueueError` and its subclasses.
"""

from pgqueue.backoff import RetryPolicy
from pgqueue.enqueue import NewCommand, enqueue, enqueue_many, enqueue_many_sync, enqueue_sync
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
)
from pgqueue.gateway import QueueTable
from pgqueue.models import (
    AlreadyClaimed,
    Claimed,
    ClaimOutcome,
    Command,
    Failed,
    Pulled,
    RetryLater,
)
from pgqueue.pg_source import PgCommandSource, PgHandle
from pgqueue.source import CommandSource, InMemorySource
from pgqueue.tools import ToolContext
from pgqueue.worker import Worker, WorkerStats

__version__ = "0.1.0"

__all__ = [
    "AlreadyClaimed",
    "ClaimOutcome",
    "Claimed",
    "Command",
    "CommandCancelled",
    "CommandSource",
    "ConfigurationError",
    "DatabaseError",
    "DatabaseUnavailable",
    "Failed",
    "HandleAlreadySettled",
    "InMemorySource",
    "LeaseLost",
    "NewCommand",
    "PermanentFailure",
    "PgCommandSource",
    "PgHandle",
    "PgQueueError",
    "Pulled",
    "QueueTable",
    "RetryLater",
    "RetryPolicy",
    "SchemaNotMigrated",
    "ToolContext",
    "Worker",
    "WorkerStats",
    "enqueue",
    "enqueue_many",
    "enqueue_many_sync",
    "enqueue_sync",
]
