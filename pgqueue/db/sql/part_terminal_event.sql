-- (part of cancel_dead and cancel_ended: the newest terminal event of the
-- execution of row `r`, if any, as `t`: NoETL's own claim rule, its
-- _fetch_execution_terminal_event. A probe of the event table's
-- (execution_id, event_type, event_id) index per row, whatever the size of
-- the event log.)
CROSS JOIN LATERAL (
    SELECT e.event_type
    FROM {event} AS e
    WHERE e.execution_id = r.execution_id
      AND e.event_type IN ('playbook.completed', 'playbook.failed', 'workflow.completed',
                           'workflow.failed', 'execution.cancelled')
    ORDER BY e.event_id DESC
    LIMIT 1
) AS t
