-- (part of claim_limited, under a rate: the full_kinds branch of a kind whose
-- rate's window is full)
    UNION ALL
    SELECT l.key
    FROM lim AS l
    WHERE l.scope = 'tool_kind'
      AND coalesce(((SELECT used FROM rates) ->> ('tool_kind:' || l.key))::int, 0)
          >= l.rate_count
