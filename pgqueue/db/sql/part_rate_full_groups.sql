-- (part of claim_limited, under a rate: the full_groups branch of an execution
-- or a key whose rate's window is full; each key that started anything within
-- its window is in the map)
        UNION ALL
        SELECT CASE WHEN left(u.key, 10) = 'execution:' THEN 'execution' ELSE 'key' END,
               CASE WHEN left(u.key, 10) = 'execution:' THEN substr(u.key, 11)::bigint END,
               CASE WHEN left(u.key, 4) = 'key:' THEN substr(u.key, 5) END
        FROM jsonb_each_text((SELECT used FROM rates)) AS u (key, started)
        WHERE (left(u.key, 10) = 'execution:' OR left(u.key, 4) = 'key:')
          AND u.started::int
              >= coalesce(((SELECT n FROM rates) ->> u.key)::int,
                          CASE WHEN left(u.key, 10) = 'execution:'
                               THEN ((SELECT n FROM rates) ->> 'every_execution:')::int END)
