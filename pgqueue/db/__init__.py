"""The database layer: the only code that runs pgqueue's SQL.

- `table`: where the queue lives (`QueueTable`);
- `statements`: the named ``.sql`` files, rendered with `psycopg.sql`;
- `translate`: psycopg's errors mapped onto pgqueue's hierarchy, in one place;
- `deadlines`: each role of statement's server and client deadlines;
- `wire`: the binary array and row codecs of the hot path;
- `gateway`: `Gateway`, every statement pgqueue runs on a pool;
- `plans`: statements run on a caller's own connection (enqueue).
"""
