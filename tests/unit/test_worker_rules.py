"""The seed's caller rules, applied by `Worker` to any `CommandSource`."""

from __future__ import annotations

from pgqueue import AlreadyClaimed, Claimed, Command, Failed, InMemorySource, RetryLater
from pgqueue.backoff import RetryPolicy
from pgqueue.source import Settlement
from pgqueue.tools import ToolContext
from pgqueue.worker import Worker


def command(command_id: str, kind: str = "echo") -> Command:
    return Command(
        command_id=command_id, execution_id=1, step="s", tool_kind=kind, input={"v": command_id}
    )


async def test_each_outcome_is_settled_the_seed_way_and_claimed_ones_run() -> None:
    source = InMemorySource(
        [
            Claimed(command("a")),
            AlreadyClaimed(),
            RetryLater("overload"),
            Failed("malformed payload"),
            Claimed(command("b")),
        ]
    )
    ran: list[str] = []
    worker = Worker(source, concurrency=1, claim_backoff=RetryPolicy(base=0, jitter=0))

    @worker.tool("echo")
    async def echo(cmd: Command, ctx: ToolContext) -> dict[str, object]:
        ran.append(cmd.command_id)
        return {"echo": cmd.input}

    stats = await worker.run()
    assert ran == ["a", "b"]
    assert source.log == [
        Settlement("ack", 0),  # Claimed: ack, then dispatch
        Settlement("ack", 1),  # AlreadyClaimed: ack
        Settlement("nack", 2),  # RetryLater: nack
        Settlement("nack", 3),  # Failed: nack
        Settlement("ack", 4),
    ]
    assert (
        stats["completed"],
        stats["already_claimed"],
        stats["retry_later"],
        stats["claim_failed"],
    ) == (
        2,
        1,
        1,
        1,
    )


async def test_sync_tools_and_failures_are_counted() -> None:
    source = InMemorySource([Claimed(command("a", "sync")), Claimed(command("b", "boom"))])
    worker = Worker(source, concurrency=2)
    worker.register("sync", lambda cmd, ctx: {"sum": 1 + 1})

    async def boom(cmd: Command, ctx: ToolContext) -> None:
        raise RuntimeError("no")

    worker.register("boom", boom)
    stats = await worker.run()
    assert (stats["completed"], stats["failed"]) == (1, 1)
