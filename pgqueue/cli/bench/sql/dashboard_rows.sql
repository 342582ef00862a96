-- The dashboard's bench: %(rows)s commands as a busy queue holds them, of five
-- kinds: 90 %% finished over the last two hours (half of them within the
-- overview's hour, so its chart reads them), 5 %% FAILED, 5 %% PENDING.
INSERT INTO {command} (execution_id, command_id, step_name, tool_kind, status, context, result,
                       error, completed_at, attempts)
SELECT g / 10, g, 'step ' || (g %% 50), 'kind' || (g %% 5),
       CASE WHEN g %% 20 = 0 THEN 'FAILED' WHEN g %% 20 = 1 THEN 'PENDING' ELSE 'COMPLETED' END,
       '{{}}', '{{}}',
       CASE WHEN g %% 20 = 0 THEN 'boom' END,
       CASE WHEN g %% 20 <> 1 THEN now() - (g %% 7200) * interval '1 second' END,
       0
FROM generate_series(1, %(rows)s) AS g
