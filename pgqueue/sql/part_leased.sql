-- (part of the fenced batch writes: the row is still leased.) A CASE on
-- purpose: the planner cannot estimate it from statistics, which a queue makes
-- stale at once (taken with nothing leased, they promise one leased row, and
-- the write is then planned as a scan of the table with the input re-read for
-- every row it finds: quadratic).
CASE c.status WHEN 'CLAIMED' THEN true WHEN 'RUNNING' THEN true ELSE false END
