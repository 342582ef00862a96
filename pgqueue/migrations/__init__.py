"""Alembic migrations for the queue table (``pgqueue migrate`` or ``alembic upgrade head``)."""
