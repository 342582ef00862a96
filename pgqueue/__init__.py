"""pgqueue: a PostgreSQL-native command queue for NoETL-style control planes.

The table of contents of the contract (see the README):

- the wire format: `Command`, the outcomes `Claimed`, `AlreadyClaimed`,
  `RetryLater`, `Failed`, and `Pulled`;
- the pull model: `CommandSource`, `InMemorySource`, `PgCommandSource`;
- producing: `enqueue`, `enqueue_many` (async) and their `_sync` forms;
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
    "PgCommandSource",
    "PgHandle",
    "PgQueueError",
    "Pulled",
    "QueueTable",
    "RetryLater",
    "RetryPolicy",
    "SchemaNotMigrated",
    "enqueue",
    "enqueue_many",
    "enqueue_many_sync",
    "enqueue_sync",
]
