"""A live API server (uvicorn on a free loopback port) for tests that need real HTTP, and the
browser the Playwright modules drive (one per module: it is slow to start)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from router.runtime import Runtime
from tests.support.browser import chromium, free_port, serving
from tests.support.mail import Relay, relaying

__all__ = ["free_port", "live_server"]


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[str]:
    with serving(runtime) as url:
        yield url


@pytest.fixture
def relay() -> Iterator[Relay]:
    """A local SMTP relay that Okno's e-mail channel sends to (tests/support/mail.py)."""
    with relaying() as box:
        yield box


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched
