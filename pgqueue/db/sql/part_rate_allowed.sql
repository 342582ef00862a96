-- (part of the statements under rate limits: how many starts the rate of the
-- key `s.key` allows in its window, chosen as in part_rate_window.sql)
coalesce(({rate_counts} ->> s.key)::int,
         CASE WHEN left(s.key, 10) = 'execution:'
              THEN ({rate_counts} ->> 'every_execution:')::int END)
