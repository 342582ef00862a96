-- Which of NoETL's tables sit beside the command table: its executions (whose
-- finished ones get no more work) and its runtime registry (workers' liveness).
SELECT to_regclass(%(execution)s) IS NOT NULL AS execution,
       to_regclass(%(runtime)s) IS NOT NULL AS runtime
