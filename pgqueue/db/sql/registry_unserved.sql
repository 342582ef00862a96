-- Of the tool kinds given, those no live worker serves (pgqueue enqueue warns).
SELECT k.tool_kind
FROM unnest(%(tool_kinds)s::text[]) AS k(tool_kind)
WHERE NOT EXISTS (
    SELECT 1
    FROM {registry} AS w
    WHERE w.heartbeat_at >= now() - %(stale)s::interval
      AND (k.tool_kind = ANY(w.tool_kinds) OR cardinality(w.tool_kinds) = 0)
)
ORDER BY k.tool_kind
