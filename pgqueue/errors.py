"""One exception hierarchy. Each class's docstring is its default message."""

from __future__ import annotations


class PgQueueError(Exception):
    """pgqueue failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class HandleAlreadySettled(PgQueueError):
    """This handle was already acked or nacked; each handle is settled exactly once."""


class LeaseLost(PgQueueError):
    """The lease on this command was lost: another worker claimed it again, or it was
    cancelled or finished; nothing was written."""


class CommandCancelled(LeaseLost):
    """The command was cancelled by an operator."""


class DatabaseError(PgQueueError):
    """The database refused the operation."""

    def __init__(
        self, message: str | None = None, *, sqlstate: str | None = None, transient: bool = False
    ) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.transient = transient


class DatabaseUnavailable(DatabaseError):
    """The database could not be reached."""


class ConfigurationError(PgQueueError):
    """The configuration is invalid."""


class SchemaNotOurs(ConfigurationError):
    """This schema was not made by the pgqueue program that would drop it; nothing
    was touched."""


class PermanentFailure(PgQueueError):
    """The tool failed in a way a retry cannot fix; the command is parked as FAILED."""


class SchemaNotMigrated(DatabaseError):
    """The pgqueue schema is missing or out of date: run `pgqueue migrate`."""
