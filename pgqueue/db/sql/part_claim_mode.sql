-- (part of claim_mode and claim_lock: which scan claim runs next.) While any
-- limit exists (a concurrency limit or a rate), the limited claim, under the
-- exclusive claim lock; whether a rate is set; and the fleet's fair share.
SELECT CASE WHEN l.limits > 0 THEN 'exclusive' ELSE 'shared' END AS claim_lock,
       l.rates > 0 AS rated,
       (SELECT value FROM {settings} WHERE name = 'fair_share') AS fair
-- the limits, read once: how many, and how many with a rate
FROM (SELECT count(*) AS limits, count(rate_count) AS rates FROM {limits}) AS l
