-- (part of the claim and the nack: a command's attempt limit, as `c`.) NoETL
-- writes its own limit into meta.max_attempts; where that is a positive
-- integer it is the limit, otherwise the max_attempts column is.
CASE WHEN jsonb_typeof(c.meta -> 'max_attempts') = 'number'
          AND (c.meta ->> 'max_attempts') ~ '^[1-9][0-9]*$'
          AND length(c.meta ->> 'max_attempts') <= 9
     THEN (c.meta ->> 'max_attempts')::int
     ELSE c.max_attempts END
