-- Fair share over executions (pgqueue fair-share execution), for the fair
-- burn-down.
INSERT INTO {settings} (name, value) VALUES ('fair_share', 'execution')
