-- (part of the statements under rate limits: the window of the rate-limited
-- key `s.key`, as an interval: its own rate's period, or for an execution
-- with no rate of its own the period of the rate for every execution; NULL
-- when no rate names the key)
make_interval(secs => coalesce(
    ({rate_periods} ->> s.key)::float8,
    CASE WHEN left(s.key, 10) = 'execution:'
         THEN ({rate_periods} ->> 'every_execution:')::float8 END))
