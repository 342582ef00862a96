-- Of the tool kinds given, those no live worker serves (pgqueue enqueue warns).
SELECT k.tool_kind
FROM unnest(%(tool_kinds)s::text[]) AS k(tool_kind)
WHERE {unserved}
ORDER BY k.tool_kind
