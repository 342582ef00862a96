-- Commands by tool kind and state, for `pgqueue status`.
SELECT coalesce(nullif(tool_kind, ''), '(none)') AS tool_kind,
       coalesce(status, '(null)') AS status,
       count(*) AS commands
FROM {command}
GROUP BY 1, 2
ORDER BY 1, 2
