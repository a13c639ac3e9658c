from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_server import redis_binary, running_redis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if redis_binary() is None:
        pytest.skip("redis-server binary not found (apt-get install redis-server) - Redis limiter tests skipped")
    with running_redis() as url:
        yield url
