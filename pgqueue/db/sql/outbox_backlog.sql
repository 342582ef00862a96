-- How many reports wait for delivery (parked ones aside), counted up to a bound
-- only: the count is read every relay round, however long the outage.
SELECT count(*) AS waiting
FROM (
    SELECT 1 FROM {outbox} WHERE parked_at IS NULL LIMIT %(bound)s
) AS waiting
