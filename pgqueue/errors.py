"""One exception hierarchy. Each class's docstring is its default message."""

from __future__ import annotations

from datetime import timedelta


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


class Snooze(PgQueueError):
    """Raised by a tool: run this command again after ``delay`` (a `timedelta`
    or seconds), without spending an attempt. ``raise pgqueue.Snooze(30)``."""

    def __init__(self, delay: timedelta | float) -> None:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
        if not 0 <= seconds <= 366 * 86400:
            raise ValueError(f"snooze: from 0 up to a year, not {seconds:g}s")
        super().__init__(f"snoozed for {seconds:g}s")
        self.delay = timedelta(seconds=seconds)
