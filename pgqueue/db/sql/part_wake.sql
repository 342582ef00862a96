-- (part of every write that finishes commands, after the CTE `written`, and
-- read by its final SELECT.) One notification naming the finished commands
-- someone waits on (pgqueue.wait), none when nobody waits: a NOTIFY takes the
-- server's notification lock at commit, and every worker's completions would
-- queue on it.
SELECT count(pg_notify(%(finished_channel)s, v.ids)) AS woken
FROM (
    SELECT string_agg(DISTINCT v.command_id::text, ',') AS ids
    FROM {waiter} AS v
    WHERE v.command_id IN (SELECT command_id FROM written)
) AS v
WHERE v.ids IS NOT NULL
