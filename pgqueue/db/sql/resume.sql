-- Resume paused tool kinds; returns the kinds that were paused.
DELETE FROM {pauses}
WHERE tool_kind = ANY(%(tool_kinds)s::text[])
RETURNING tool_kind, reason, paused_at
