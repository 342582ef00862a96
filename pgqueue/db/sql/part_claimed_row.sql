-- (part of claim_batch and claim_target: a claimed row's columns, in the order
-- of gateway.ClaimedRow, up to its previous_status; meta and the loop columns
-- are what a report to a control plane names)
c.execution_id, c.command_id, c.step_name, c.tool_kind, c.context,
c.attempts, {max_attempts} AS max_attempts, c.claim_token, c.meta, c.loop_event_id, c.iter_index
