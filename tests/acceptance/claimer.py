"""A minimal claimer process for the acceptance tests.

``drain DSN WORKER SLOTS``: claim until nothing is left, recording every ack
in ``acks`` and completing the command. ``hold DSN WORKER LEASE``: claim one
command, print its id, and wait forever without acking (to be SIGKILLed).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import psycopg_pool

from pgqueue import Claimed, PgCommandSource


async def drain(dsn: str, worker: str, slots: int) -> None:
    async with psycopg_pool.AsyncConnectionPool(
        dsn, min_size=2, max_size=slots + 1, open=False
    ) as pool:
        await pool.wait()
        async with PgCommandSource(pool, worker_id=worker, wait=False) as source:

            async def slot() -> None:
                while (pulled := await source.next()) is not None:
                    outcome = pulled.outcome
                    if not isinstance(outcome, Claimed):
                        await source.nack(pulled.ack)
                        continue
                    await source.ack(pulled.ack)
                    async with pool.connection() as conn:
                        await conn.execute(
                            "INSERT INTO acks (command_id, worker) VALUES (%s, %s)",
                            (int(outcome.command.command_id), worker),
                        )
                    await source.complete(pulled.ack, {"ok": True})

            await asyncio.gather(*(slot() for _ in range(slots)))


async def hold(dsn: str, worker: str, lease_seconds: float) -> None:
    async with psycopg_pool.AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
        await pool.wait()
        source = PgCommandSource(
            pool, worker_id=worker, wait=False, lease_for=timedelta(seconds=lease_seconds)
        )
        pulled = await source.next()
        assert pulled is not None and isinstance(pulled.outcome, Claimed)
        print(pulled.outcome.command.command_id, flush=True)
        await asyncio.Event().wait()  # never acks


def main() -> None:
    mode, dsn, worker, arg = sys.argv[1:5]
    if mode == "drain":
        asyncio.run(drain(dsn, worker, int(arg)))
    elif mode == "hold":
        asyncio.run(hold(dsn, worker, float(arg)))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
