"""Running the ``pgqueue`` CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from tests.conftest import ROOT

STRIPPED = (
    "PGQUEUE_DSN",
    "DATABASE_URL",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGSERVICE",
    "PGPASSWORD",
)


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    clean.update(extra)
    return clean


def pgqueue(*args: str, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("env", env())
    return subprocess.run(
        [sys.executable, "-m", "pgqueue", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


class Child(subprocess.Popen[str]):
    """A spawned ``pgqueue`` process that cannot outlive its ``with`` block.

    Leaving the block while it still runs kills it: a wait that failed inside
    the block would otherwise hang on the process until pytest's timeout, and
    leave it running after the test. Its stderr is added to the failure.
    """

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self.poll() is None:
            self.kill()
            _, err = self.communicate(timeout=30)
            if exc is None:
                super().__exit__(exc_type, exc, tb)
                raise AssertionError(f"{self.args!r} was still running:\n{err[-4000:]}")
            exc.add_note(f"{self.args!r} stderr:\n{err[-4000:]}")
        super().__exit__(exc_type, exc, tb)


def spawn(*args: str, **kwargs: Any) -> Child:
    kwargs.setdefault("env", env())
    return Child(
        [sys.executable, "-m", "pgqueue", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
