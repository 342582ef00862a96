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


def spawn(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    kwargs.setdefault("env", env())
    return subprocess.Popen(
        [sys.executable, "-m", "pgqueue", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
