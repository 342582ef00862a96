"""`pgqueue demo` as root runs its embedded server as a system user, and says
so before it creates one (it created a system user and a home directory
without a word)."""

from __future__ import annotations

import logging
import os
import pwd
import subprocess
import uuid

import pytest

from pgqueue.cli import embedded


@pytest.mark.skipif(os.geteuid() != 0, reason="only root creates the service user")
def test_the_service_user_is_announced_before_it_is_created(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"pgq{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(embedded, "SERVICE_USER", name)
    seen_before: list[bool] = []
    real_run = subprocess.run

    def run(*args: object, **kwargs: object) -> object:
        # the announcement is already there when useradd runs
        seen_before.append(any(name in r.getMessage() for r in caplog.records))
        return real_run(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(embedded.subprocess, "run", run)
    try:
        with caplog.at_level(logging.WARNING, logger="pgqueue.cli.embedded"):
            user = embedded._service_user()
        assert user.pw_name == name
        assert seen_before == [True]
        (record,) = [r for r in caplog.records if name in r.getMessage()]
        assert "runs as a system user" in record.getMessage()
        assert f"userdel -r {name}" in record.getMessage()
        # a second start reuses it, silently
        caplog.clear()
        embedded._service_user()
        assert not caplog.records
    finally:
        real_run(["userdel", "-r", name], capture_output=True, check=False)
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
