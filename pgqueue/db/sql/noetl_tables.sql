-- Which of NoETL's tables sit beside the command table: its event log (an
-- execution with a terminal event gets no more work) and its runtime registry
-- (workers' liveness).
SELECT to_regclass(%(event)s) IS NOT NULL AS event,
       to_regclass(%(runtime)s) IS NOT NULL AS runtime
