-- Whether this role may delete from the queue table (retention needs it; the
-- pgqueue_worker role does not have it unless granted).
SELECT has_table_privilege(%(regclass)s, 'DELETE') AS allowed
