"""The settings about the database: which Postgres (or the embedded one, and where its data lives),
and the connections each worker keeps and waits for.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class DatabaseFields(BaseModel):
    """The database and the service's local state."""

    # --- database ---
    database_url: str | None = Field(
        None,
        validation_alias="DATABASE_URL",
        description="Any Postgres with the `vector` extension (Supabase included). Unset: an embedded"
        " Postgres + pgvector is started with its data under PROXY_DATA_DIR/postgres.",
        examples=["postgresql://user:password@host:5432/dbname"],
        json_schema_extra={"heading": "database"},
    )
    data_dir: Path = Field(
        Path(".data"),
        validation_alias="PROXY_DATA_DIR",
        description="Local state: the embedded Postgres, the demo's files and mail.",
    )
    db_pool_min: int = Field(1, validation_alias="PROXY_DB_POOL_MIN", description="Connections kept open per worker.")
    db_pool_max: int = Field(10, validation_alias="PROXY_DB_POOL_MAX", description="Connections at most per worker.")
    db_request_timeout: float = Field(
        5.0,
        gt=0,
        validation_alias="PROXY_DB_REQUEST_TIMEOUT",
        description="A request waits at most this many seconds for a database connection; past that, or with"
        " the database away, it answers 503 `database_unavailable` with Retry-After.",
    )
