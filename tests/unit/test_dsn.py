from __future__ import annotations

import pytest

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
