"""The database layer: the only code that runs SQL.

- `table`: where the queue lives (`QueueTable`) and a command's key;
- `statements`: the named ``.sql`` files, rendered with `psycopg.sql`;
- `translate`: psycopg's errors mapped onto pgqueue's hierarchy, in one place;
- `wire`: the binary array and row codecs of the hot path;
- `gateway`: `Gateway`, every statement pgqueue runs, and `run_plan`, the
  driver of statements on a caller's own connection (enqueue).
"""
