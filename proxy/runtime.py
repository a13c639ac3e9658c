"""What every entry point needs: settings, tenants and an open database, in one context manager.

Used by the web app's lifespan and by CLI commands (migrate, sync, seed-demo, tools ...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from proxy.settings import Settings
from proxy.store.db import Database, database_url
from proxy.tenants import TenantDirectory, load_tenants


@dataclass(slots=True)
class Runtime:
    settings: Settings
    tenants: TenantDirectory
    db: Database


@asynccontextmanager
async def open_runtime(
    settings: Settings | None = None, *, tenants: TenantDirectory | None = None
) -> AsyncIterator[Runtime]:
    """Load tenants (raising ``ConfigError`` early), start/open the database, apply migrations.

    Tenants loaded here need no provider key: the app passes its own (checked) directory, and the
    commands that open a runtime by themselves (tools, usage, sync, ...) never call a model. An
    embedded database started here is stopped when the block ends, unless another process (or an
    enclosing block) still uses it.
    """
    settings = settings or Settings()
    tenants = tenants or load_tenants(settings, provider_keys=False)
    async with (
        database_url(settings.database_url, settings.embedded_database_dir) as url,
        Database.connect(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max) as db,
    ):
        yield Runtime(settings=settings, tenants=tenants, db=db)
