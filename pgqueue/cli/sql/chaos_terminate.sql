-- Cut one backend's connection, as a network fault or an admin would.
SELECT pg_terminate_backend(%(pid)s)
