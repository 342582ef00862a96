"""No password of a DSN in any text pgqueue writes: every DSN is checked once,
a URL whose password libpq would misread is refused saying how to encode it,
and whatever libpq or psycopg said is scrubbed of every run of the password's
characters (libpq quoted a password whole, its head, or its tail)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import quote, unquote

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from pgqueue import ConfigurationError
from pgqueue import dsn as dsns

#: passwords of printable ASCII, the characters URLs and libpq treat specially
#: included; long enough to be told from ordinary text (see dsn.SCRUB_RUN)
PASSWORDS = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="'\\"),
    min_size=dsns.SCRUB_RUN,
    max_size=24,
)


@pytest.fixture(autouse=True)
def no_remembered_passwords() -> Iterator[None]:
    dsns.forget()
    yield
    dsns.forget()


def leaks(text: str, password: str) -> list[str]:
    """The runs of ``SCRUB_RUN`` or more of the password's characters in ``text``."""
    n = dsns.SCRUB_RUN
    return [
        password[i : i + n] for i in range(len(password) - n + 1) if password[i : i + n] in text
    ]


def forms(password: str) -> list[str]:
    """The DSN forms a user writes a password in: raw and encoded URLs, key/value."""
    return [
        f"postgresql://app:{password}@127.0.0.1:5432/db",
        f"postgresql://app:{quote(password, safe='')}@127.0.0.1:5432/db",
        f"postgres://app:{password}@db.internal/db?sslmode=require",
        f"host=127.0.0.1 user=app password='{password}' dbname=db",
        f"postgresql://127.0.0.1/db?user=app&password={quote(password, safe='')}",
    ]


@settings(max_examples=300, deadline=None)
@given(password=PASSWORDS)
# refused for its "/", and "sn:" stands in the flag the refusal names: no leak
@example(password="sn:/")  # noqa: S106 - a generated password, kept as a case
# its "**@" stands in the masked DSN, "app:****@": no telling, so assumed away
@example(password="0**@")  # noqa: S106 - a generated password, kept as a case
def test_a_dsn_is_read_as_written_or_refused_without_its_password(password: str) -> None:
    # a password that is all ordinary text shows up in ordinary text too
    assume(any(not c.isalnum() for c in password))
    # nor one that shares a run with the rest of the DSN ("1/d" is in "0.1/db"),
    # with the DSN as masked ("**@" is in "app:****@127") or with pgqueue's own
    # advice ("23," is in "# as %23, ?")
    around = " ".join(forms("") + forms("****")) + " **** " + dsns.ENCODING_ADVICE
    assume(leaks(around, password) == [])
    # a refusal of how the password is written is one of these, whole: nothing
    # of the password in it (its runs may still stand in "--dsn: ", "sn:")
    refusals = {f"--dsn: {why}: {dsns.ENCODING_ADVICE}" for why in dsns.PASSWORD_PROBLEMS}
    for dsn in forms(password):
        dsns.forget()
        assert dsns.has_password(dsn), dsn
        try:
            checked = dsns.validate(dsn, name="--dsn")
        except ConfigurationError as exc:
            message = str(exc)
            assert "\n" not in message and message.startswith("--dsn: ")
            assert message in refusals or leaks(message, password) == [], (dsn, message)
            continue
        # accepted: libpq reads exactly the password the user wrote (a raw one
        # that reads as percent-encoding, "%41", is that encoding: no telling)
        assert conninfo_to_dict(checked)["password"] in (password, unquote(password)), dsn
        assert leaks(dsns.mask(checked), password) == [], dsn


@pytest.mark.parametrize(
    ("dsn", "secret", "why"),
    [
        ("postgresql://u:ab%zzSECRET@h/db", "ab%zzSECRET", "'%' that is not"),
        ("postgresql://u:wr@ng#pa?ss/x@h", "wr@ng#pa?ss/x", "unencoded"),
        ("postgresql://u:ab@SECRET@h", "ab@SECRET", "unencoded '@'"),
        ("postgresql://u:ab/SECRET@h/db", "ab/SECRET", "unencoded '/'"),
    ],
)
def test_what_a_new_user_tried_is_refused_saying_how_to_encode_it(
    dsn: str, secret: str, why: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        dsns.validate(dsn, name="PGQUEUE_DSN")
    message = str(raised.value)
    assert message.startswith("PGQUEUE_DSN: ") and why in message
    assert "percent-encode" in message and "%40" in message
    assert leaks(message, secret) == []
    assert dsns.has_password(dsn)


def test_libpq_own_words_are_scrubbed_of_every_part_of_the_password() -> None:
    dsns.remember("postgresql://u:wr@ng#pa?ss/x@h")
    dsns.remember("postgresql://u:ab@SECRET@h")
    said = (
        'invalid URI query parameter: "ss/x@h"; failed to resolve host "SECRET@127.0.0.1";'
        ' invalid percent-encoded token: "wr@ng#pa"'
    )
    scrubbed = dsns.scrub(said)
    for part in ("ss/x@", "SECRET", "wr@ng#pa"):
        assert part not in scrubbed
    assert "failed to resolve host" in scrubbed  # the rest of the message stays


def test_the_password_warning_is_right_both_ways() -> None:
    assert dsns.has_password("postgresql://u:ab/SECRET@h/db")
    assert dsns.has_password("postgresql://u:ab@SECRET@h")
    assert not dsns.has_password("mysql://root@localhost/db")
    assert not dsns.has_password("postgresql://root@localhost/db")
    assert not dsns.has_password("postgresql:///db?application_name=a@b")
    assert dsns.has_password("host=h password=x1y2")


def test_log_lines_are_scrubbed_whatever_logged_them(caplog: pytest.LogCaptureFixture) -> None:
    dsns.remember("postgresql://u:Hunter2!x@h/db")
    logger = logging.getLogger("psycopg.pool")
    record = logger.makeRecord(
        "psycopg.pool",
        logging.WARNING,
        __file__,
        1,
        "error connecting in %r: password %s rejected",
        ("pool", "Hunter2!x"),
        None,
        extra={"dsn": "postgresql://u:Hunter2!x@h/db"},
    )
    assert dsns.ScrubSecrets().filter(record)
    line = logging.Formatter("%(message)s %(dsn)s").format(record)
    assert "Hunter2" not in line and "unter2!x" not in line
