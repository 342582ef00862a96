"""The README says what the code does: every worker flag in the configuration
table with its variable, every verb in the CLI reference."""

from __future__ import annotations

import argparse

from pgqueue.cli import environment
from pgqueue.cli.parser import VERBS, parser
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def _verbs() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_worker_flag_is_in_the_configuration_table_with_its_variable() -> None:
    table = README[README.index("## Configuration") : README.index("### Deployment")]
    for action in _verbs()["worker"]._actions:
        name = environment.variable(action)
        if name is None:
            continue
        flag = max(action.option_strings, key=len)
        assert f"| `{flag}` | `{name}` |" in table, flag


def test_every_verb_is_in_the_cli_reference() -> None:
    reference = README[README.index("## CLI reference") : README.index("## Schema and migrations")]
    for verb in VERBS:
        assert f"pgqueue {verb.name}" in reference, verb.name


def test_the_worker_flags_and_the_settings_are_the_same_fields() -> None:
    """The CLI is a mapping of its flags onto `WorkerSettings`: one field per
    flag, one flag per field (but the token, which is never a flag)."""
    from pgqueue.cli.worker import flag_of
    from pgqueue.settings import WorkerSettings

    flags = {
        max(a.option_strings, key=len)
        for a in _verbs()["worker"]._actions
        if a.option_strings and a.dest not in ("help", "verbose", "log_format")
    }
    fields = {flag_of(f) for f in WorkerSettings.model_fields if f != "noetl_token"}
    assert flags == fields
