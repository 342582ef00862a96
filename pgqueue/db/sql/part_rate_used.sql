-- (part of the statements under rate limits: how many commands of each
-- rate-limited key started within its window, as a map keyed as in
-- part_rate_counts.sql, '{{}}' when none did. An execution with no rate of
-- its own is under the rate for every execution. Starts of a key no rate
-- names any more count for nothing: their window is NULL.)
(SELECT coalesce(jsonb_object_agg(u.key, u.started), '{{}}')
 FROM (
     SELECT s.key, count(*) AS started
     FROM {starts} AS s
     WHERE s.started_at > now() - {rate_window}
     GROUP BY s.key
 ) AS u)
