"""A live API server (uvicorn on a free loopback port) for tests that need real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from router.runtime import Runtime
from tests.support.browser import free_port, serving

__all__ = ["free_port", "live_server"]


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[str]:
    with serving(runtime) as url:
        yield url
