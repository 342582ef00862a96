-- The chaos run's bookkeeping, beside its queue in the pgqueue_chaos schema
-- (made anew each run): every execution of a tool, and every transition of a
-- row to COMPLETED, so "completed twice" is visible if it ever happens.
CREATE TABLE pgqueue_chaos.chaos_executions (
    command_id bigint NOT NULL,
    worker_id text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE pgqueue_chaos.chaos_completions (
    command_id bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION pgqueue_chaos.chaos_completed() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$ BEGIN
    INSERT INTO pgqueue_chaos.chaos_completions (command_id) VALUES (NEW.command_id);
    RETURN NULL;
END $$;
CREATE TRIGGER chaos_completed AFTER UPDATE ON {command} FOR EACH ROW
    WHEN (NEW.status = 'COMPLETED' AND OLD.status IS DISTINCT FROM 'COMPLETED')
    EXECUTE FUNCTION pgqueue_chaos.chaos_completed();
