-- (part of every fenced batch write: the row of input `r`, still under the
-- claim token `r` names; a row claimed again since has another token)
c.execution_id = r.execution_id
AND c.command_id = r.command_id
AND c.claim_token = r.token
