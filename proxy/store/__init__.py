"""Postgres: the pool, migrations, threads and their event log, conversations, retention."""

# The public face: the modules other packages import from. The rest are internal to the package.
__all__ = (
    "conversations",
    "db",
    "embedded",
    "event_log",
    "migrate",
    "notify",
    "pg_server",
    "provider_copies",
    "pruning",
    "retention",
    "threads",
)
