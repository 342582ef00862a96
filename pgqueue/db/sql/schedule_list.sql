-- Every schedule (or the one named), by name, with the database's clock: a
-- worker decides what is due by it, so hosts' clocks cannot disagree.
SELECT s.*, clock_timestamp() AS now
FROM {schedules} AS s
WHERE %(name)s::text IS NULL OR s.name = %(name)s
ORDER BY s.name
