from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from pgqueue import ConfigurationError
from pgqueue import dsn as dsns


def test_resolution_order() -> None:
    env = {"PGQUEUE_DSN": "postgresql:///a", "DATABASE_URL": "postgresql:///b", "PGHOST": "h"}
    assert dsns.resolve("postgresql:///x", env) == ("postgresql:///x", "--dsn")
    assert dsns.resolve(None, env) == ("postgresql:///a", "PGQUEUE_DSN")
    del env["PGQUEUE_DSN"]
    assert dsns.resolve(None, env) == ("postgresql:///b", "DATABASE_URL")
    del env["DATABASE_URL"]
    assert dsns.resolve(None, env) == ("", "PG* variables")
    assert dsns.resolve(None, {}) is None


def test_sqlalchemy_style_urls_are_accepted() -> None:
    assert dsns.resolve("postgresql+psycopg://u@h/db", {}) == ("postgresql://u@h/db", "--dsn")


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://user:s3cr3t@host:5432/db",
        "postgres://user:s3cr3t@host/db?sslmode=require",
        "host=h user=u password=s3cr3t dbname=d",
        "host=h password='s3 cr3t' dbname=d",
        "postgresql://host/db?user=u&password=s3cr3t",
    ],
)
def test_mask_hides_the_password(dsn: str) -> None:
    masked = dsns.mask(dsn)
    assert "s3cr3t" not in masked and "cr3t" not in masked
    assert "****" in masked


def test_invalid_dsn_error_is_masked() -> None:
    with pytest.raises(ConfigurationError) as info:
        dsns.validate("host=h password=s3cr3t dbname='unterminated")
    assert "s3cr3t" not in str(info.value)


# Every printable password, in every form a DSN can carry it: libpq's parser
# decides what is the password, and mask() must hide it whatever it contains.
passwords = st.text(
    alphabet=st.characters(exclude_categories=["Cs", "Cc"]), min_size=6, max_size=40
)


def _kv_quoted(password: str) -> str:
    return "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"


FORMS = {
    "url raw": lambda p: f"postgresql://alice:{p}@db.example:5432/app",
    "url encoded": lambda p: f"postgresql://alice:{quote(p, safe='')}@db.example:5432/app",
    "url query": lambda p: f"postgresql://db.example/app?user=alice&password={quote(p, safe='')}",
    "key/value": lambda p: f"host=db.example user=alice password={_kv_quoted(p)} dbname=app",
}


@pytest.mark.parametrize("form", sorted(FORMS))
@settings(max_examples=150, deadline=None)
@given(password=passwords)
def test_mask_hides_any_password_in_any_form(form: str, password: str) -> None:
    dsn = FORMS[form](password)
    assume(password not in FORMS[form]("\x00"))  # not a piece of the DSN's own text
    masked = dsns.mask(dsn)
    assert password not in masked
    assert quote(password, safe="") not in masked
    try:
        parsed = conninfo_to_dict(dsn).get("password")
    except Exception:
        parsed = None
    if parsed:
        assert parsed not in masked


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://alice:ab?cdef@host/db", "postgresql://alice:****@host/db"),
        ("postgresql://alice:ab#cd@host/db", "postgresql://alice:****@host/db"),
        ("postgresql://alice:ab/cd@host/db", "postgresql://alice:****@host/db"),
        ("postgresql://alice:ab@cd@host/db", "postgresql://alice:****@host/db"),
        ("postgresql://alice@host/db", "postgresql://alice@host/db"),
        ("host=h dbname=d", "host=h dbname=d"),
    ],
)
def test_mask_keeps_what_is_not_secret(dsn: str, shown: str) -> None:
    assert dsns.mask(dsn) == shown


def test_a_dsn_with_a_password_is_told_apart() -> None:
    assert dsns.has_password("postgresql://alice:pw@host/db")
    assert dsns.has_password("host=h password=pw")
    assert not dsns.has_password("postgresql://alice@host/db")
    assert not dsns.has_password("service=prod")
