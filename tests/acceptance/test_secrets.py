"""No password in anything a verb prints: every DSN a verb takes (--dsn,
PGQUEUE_DSN, DATABASE_URL, --listen-dsn, --postgres-tool-dsn) is checked
before anything connects, one that libpq would misread is refused in one line
saying how to encode it, and libpq's own words about a DSN it could not use
are scrubbed of every part of the password. Each case runs the real CLI."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from subprocess import CompletedProcess

import pytest

from tests.acceptance.cli import env, pgqueue

pytestmark = pytest.mark.slow

#: each verb, with the arguments it needs besides a DSN
VERBS: dict[str, tuple[str, ...]] = {
    "migrate": (),
    "enqueue": ("--step", "s", "--tool-kind", "noop"),
    "worker": ("--until-empty",),
    "status": (),
    "show": ("1",),
    "requeue": ("--all",),
    "cancel": ("1",),
    "prune": ("--older-than", "7d", "--yes"),
    "demo": ("--commands", "1"),
    "bench": ("-n", "10"),
}

#: what a new user tried: passwords libpq misreads, each with the part it printed
MISREAD = {
    "postgresql://u:ab%zzSECRET@127.0.0.1:1/db": "ab%zzSECRET",
    "postgresql://u:wr@ng#pa?ss/x@127.0.0.1:1/db": "wr@ng#pa?ss/x",
    "postgresql://u:ab@SECRET@127.0.0.1:1/db": "ab@SECRET",
    "postgresql://u:ab/SECRET@127.0.0.1:1/db": "ab/SECRET",
}


def leaks(text: str, password: str) -> list[str]:
    return [password[i : i + 3] for i in range(len(password) - 2) if password[i : i + 3] in text]


def run(args: tuple[str, ...], **variables: str) -> CompletedProcess[str]:
    return pgqueue(*args, env=env(**variables), timeout=120)


def test_a_misread_password_is_refused_by_every_verb_and_never_shown() -> None:
    cases: list[tuple[tuple[str, ...], dict[str, str], str, str]] = []
    for dsn, secret in MISREAD.items():
        for verb, extra in VERBS.items():
            cases.append(((verb, "--dsn", dsn, *extra), {}, secret, "--dsn"))
        for variable in ("PGQUEUE_DSN", "DATABASE_URL"):
            cases.append((("status",), {variable: dsn}, secret, variable))
        for flag in ("--listen-dsn", "--postgres-tool-dsn"):
            args = ("worker", "--dsn", "postgresql://127.0.0.1:1/db", flag, dsn, "--until-empty")
            if flag == "--postgres-tool-dsn":
                args += ("--enable-postgres-tool",)
            cases.append((args, {}, secret, flag))
        cases.append(
            (
                ("worker", "--dsn", "postgresql://127.0.0.1:1/db", "--until-empty"),
                {"PGQUEUE_LISTEN_DSN": dsn},
                secret,
                "--listen-dsn",
            )
        )
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda case: run(case[0], **case[1]), cases))
    for (args, variables, secret, name), result in zip(cases, done, strict=True):
        said = result.stdout + result.stderr
        where = (args, variables, said)
        assert leaks(said, secret) == [], where
        assert result.returncode == 2, where
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "percent-encode" in lines[0], where
        assert f": {name}: " in lines[0], where


def test_a_connection_that_fails_says_why_without_the_password() -> None:
    secret = "Tr0ub4dor&3xyz"  # noqa: S105 - a test password
    dsn = "postgresql://app:Tr0ub4dor%263xyz@127.0.0.1:1/db?connect_timeout=2"
    verbs = VERBS
    with ThreadPoolExecutor(4) as pool:
        done = dict(
            zip(
                verbs,
                pool.map(lambda item: run((item[0], "--dsn", dsn, *item[1])), verbs.items()),
                strict=True,
            )
        )
    for verb, result in done.items():
        said = result.stdout + result.stderr
        assert leaks(said, secret) == [], (verb, said)
        assert result.returncode in (2, 3), (verb, said)
        # the warning that the flag carries a password, which ps shows
        assert "--dsn carries a password" in result.stderr, (verb, said)


def test_chaos_takes_no_dsn_and_echoes_none() -> None:
    """chaos runs on an embedded server of its own: it offered --dsn and ignored it."""
    for dsn, secret in MISREAD.items():
        done = run(("chaos", "--dsn", dsn))
        assert done.returncode == 2
        assert "unrecognized arguments: --dsn" in done.stderr
        assert leaks(done.stdout + done.stderr, secret) == [], done.stderr


def test_the_password_warning_is_not_given_for_a_dsn_without_one() -> None:
    done = run(("status", "--dsn", "postgresql://root@127.0.0.1:1/db?connect_timeout=2"))
    assert "carries a password" not in done.stderr
    assert done.returncode == 3
