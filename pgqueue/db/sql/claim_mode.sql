-- Which scan claim a worker runs next, asked after a plain claim (which runs
-- with no lead) took nothing: claim_lock.sql's row, with no lock taken.
SELECT CASE WHEN l.limits > 0 THEN 'exclusive' ELSE 'shared' END AS claim_lock,
       l.rates > 0 AS rated,
       (SELECT value FROM {settings} WHERE name = 'fair_share') AS fair
-- the limits, read once: how many, and how many with a rate
FROM (SELECT count(*) AS limits, count(rate_count) AS rates FROM {limits}) AS l
