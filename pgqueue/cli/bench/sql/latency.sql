-- Enqueue-to-claim and enqueue-to-complete latency percentiles, in ms, from the
-- database's own clock (created_at, claimed_at, completed_at).
SELECT count(*) AS commands,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM claimed_at - created_at) * 1000) AS claim_ms,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM completed_at - created_at) * 1000) AS complete_ms
FROM {command}
WHERE status = 'COMPLETED'
