"""Every ``pgqueue worker`` flag from the environment: ``--lease 10s`` is also
``PGQUEUE_LEASE=10s``, ``--tool-kinds a b`` is ``PGQUEUE_TOOL_KINDS="a b"``.

A flag given on the command line wins over its variable; a repeatable flag's
values (``--tools``, ``--http-allow-host`` …) add to the variable's (comma
separated). A switch (``--until-empty``) is set by ``1``, ``true``, ``yes`` or
``on``, and unset by ``0``, ``false``, ``no`` or ``off``. A value the flag would
refuse is refused the same way, naming the variable. ``PGQUEUE_DSN`` (every
verb's ``--dsn``) is read where the database is found, not here.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
#: read elsewhere (every verb's own), or not a setting at all
_SKIP = {"help", "dsn"}


#: where `apply` leaves the variables it refused, for the verb to say
REFUSED = "environment_refused"


class _Refused(Exception):
    """A variable's value its flag would refuse."""


def variable(action: argparse.Action) -> str | None:
    """The environment variable of a flag (``None``: a positional, or none)."""
    longs = [o for o in action.option_strings if o.startswith("--")]
    if not longs or action.dest in _SKIP:
        return None
    return "PGQUEUE_" + longs[0][2:].upper().replace("-", "_")


def _value(parser: argparse.ArgumentParser, action: argparse.Action, name: str, text: str) -> Any:
    if isinstance(action, argparse._StoreTrueAction):
        if text.strip().lower() in _TRUE:
            return True
        if text.strip().lower() in _FALSE:
            return False
        raise _Refused(f"{name}: {text!r} is not a switch value (1/0, true/false, yes/no, on/off)")
    if isinstance(action, argparse._CountAction):  # -v: PGQUEUE_VERBOSE=2 is -vv
        if not text.strip().isdigit():
            raise _Refused(f"{name}: {text!r} is not a count (0, 1, 2)")
        return int(text)
    convert = action.type if callable(action.type) else str
    many = isinstance(action, argparse._AppendAction) or action.nargs in ("+", "*")
    parts = [p for p in text.replace(",", " ").split()] if many else [text]
    values = []
    for part in parts:
        try:
            values.append(convert(part))
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise _Refused(f"{name}: {exc}") from None
    if action.choices is not None and any(v not in action.choices for v in values):
        raise _Refused(f"{name}: {text!r} is not one of {', '.join(map(str, action.choices))}")
    return values if many else values[0]


def apply(parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None) -> None:
    """Set the defaults of ``parser``'s flags from their ``PGQUEUE_*`` variables."""
    environ = os.environ if environ is None else environ
    defaults: dict[str, Any] = {}
    refused: list[str] = []
    for action in parser._actions:
        name = variable(action)
        if name is None or name not in environ:
            continue
        try:
            defaults[action.dest] = _value(parser, action, name, environ[name])
        except _Refused as exc:
            refused.append(str(exc))
    # said by the verb whose variable it is, when that verb runs (a worker's
    # variable must not break `pgqueue status`)
    defaults[REFUSED] = refused
    parser.set_defaults(**defaults)


def refused(args: argparse.Namespace) -> str | None:
    """The first variable of the verb's that held a value its flag refuses."""
    found: list[str] = getattr(args, REFUSED, [])
    return found[0] if found else None
