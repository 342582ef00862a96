-- (part of claim_limited, under a rate: the rates as maps (part_rate_counts.sql)
-- and the starts within each rate's window (part_rate_used.sql: the starts
-- table holds only the recent starts of rate-limited keys))
    SELECT {rate_counts} AS n, {rate_used} AS used
