-- (part of claim_target and, under a rate, claim_limited: the `started` CTE,
-- after the claim's `claimed` CTE.) Each start a rate counts, written before
-- the claim lock is let go: one row per claimed command (a rescue too; not a
-- stray, which only gets parked) and rate-limited key of it
-- (part_rate_keys.sql).
started AS (
    INSERT INTO {starts} (key, started_at)
    SELECT k.key, now()
    FROM claimed AS x
    CROSS JOIN LATERAL ({rate_keys}) AS k
    WHERE x.previous_status IN ('PENDING', 'CLAIMED', 'RUNNING')
)
