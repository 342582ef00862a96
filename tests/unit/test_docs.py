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
