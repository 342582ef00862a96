-- A worker's row in NoETL's runtime registry, made or refreshed: NoETL's own
-- workers do the same every 15 s, and its claim policy reads a claim whose
-- worker has no fresh row as orphaned.
INSERT INTO {runtime} AS rt
    (runtime_id, name, kind, uri, status, capabilities, capacity, runtime, heartbeat)
-- the id from the schema's snowflake_id(), as NoETL fills it (through
-- migration 0008's wrapper: the worker role may draw ids, not use NoETL's sequence)
VALUES ({new_id}(), %(name)s, 'worker_pool', %(uri)s, 'ready', %(capabilities)s,
        %(capacity)s, %(runtime)s, now())
-- one row per (kind, name): refreshed in place
ON CONFLICT (kind, name) DO UPDATE
SET status = 'ready',
    uri = excluded.uri,
    capabilities = excluded.capabilities,
    capacity = excluded.capacity,
    runtime = excluded.runtime,
    heartbeat = now(),
    updated_at = now()
