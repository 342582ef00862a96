-- (part of claim_batch and claim_target: a claimed row's columns, in the order
-- of gateway.ClaimedRow, up to its previous_status)
c.execution_id, c.command_id, c.step_name, c.tool_kind, c.context,
c.attempts, c.max_attempts, c.claim_token
