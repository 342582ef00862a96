-- Pause tool kinds: no claim takes their commands from the next claim on
-- (running ones finish). A kind paused already keeps its first pause time and
-- takes the new reason. Returns the kinds as they now stand.
INSERT INTO {pauses} AS p (tool_kind, reason, paused_at)
SELECT kind, %(reason)s, now()
FROM unnest(%(tool_kinds)s::text[]) AS kind
ON CONFLICT (tool_kind) DO UPDATE
SET reason = EXCLUDED.reason
RETURNING p.tool_kind, p.reason, p.paused_at
