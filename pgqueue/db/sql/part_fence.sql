-- (part of every write after a claim: the fence.) The row of input `r` is
-- still under the claim that `r` names: the same key and claim token (a row
-- claimed again since has another token), and still leased. The leased test is
-- a CASE on purpose: the planner cannot estimate it from statistics, which a
-- queue makes stale at once (taken with nothing leased, they promise one
-- leased row, and the write is then planned as a scan of the table with the
-- input re-read for every row it finds: quadratic).
c.execution_id = r.execution_id
AND c.command_id = r.command_id
AND c.claim_token = r.token
AND CASE c.status WHEN 'CLAIMED' THEN true WHEN 'RUNNING' THEN true ELSE false END
