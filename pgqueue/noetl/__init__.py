"""Running NoETL's workflows on pgqueue workers (README: "Running NoETL workflows
on pgqueue"): `NoetlReporter` tells NoETL's control plane how each command went,
through the outbox and the `pgqueue.relay.Relay`; `RuntimeHeartbeat` keeps the
worker's row in NoETL's runtime registry."""

from pgqueue.noetl.reporter import NoetlReporter
from pgqueue.noetl.runtime import RuntimeHeartbeat

__all__ = ["NoetlReporter", "RuntimeHeartbeat"]
