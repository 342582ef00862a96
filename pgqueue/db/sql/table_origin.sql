-- Who created the queue table: pgqueue marks its own with a comment. Retention
-- is on by default only there; NoETL reads its finished rows.
SELECT obj_description(to_regclass(%(regclass)s), 'pg_class') AS comment
