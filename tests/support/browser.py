"""Real HTTP and a real browser for tests: the app under uvicorn on a free loopback port, and
Debian's Chromium driven by Playwright (its own browser download fails on this machine kind).

Both are slow to start: modules hold them in module-scoped fixtures, one each per module.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.app import create_app
from router.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine's probe starts it: without the background-networking flags Chromium keeps
# dialling Google's hosts, which this closed network refuses.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(runtime: Runtime) -> Iterator[str]:
    """The app on a free port; `public_url` points at it, so links in mails and pages work."""
    port = free_port()
    runtime.settings.public_url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield runtime.settings.public_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium, or the test is skipped where it is not installed."""
    if not shutil.which("chromium"):
        pytest.skip("chromium is not installed (scripts/setup-system-deps.sh installs it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    """A full-page screenshot into OKNO_SCREENSHOT_DIR (e.g. `docs`, from the repository root)
    when it is set: that is how the docs' pictures are retaken; a plain test run writes nothing."""
    target = os.environ.get("OKNO_SCREENSHOT_DIR")
    if target:
        page.screenshot(path=str(ROOT / target / name), full_page=True)
