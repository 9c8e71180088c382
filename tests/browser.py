"""Headless Chromium for tests: open a page, collect its console errors, run JavaScript,
take screenshots.

Built on Playwright for Python driving Debian's `chromium` (`executable_path`, so Playwright
never downloads a browser of its own). `scripts/setup.sh` installs the package where apt is
available; elsewhere set TINYAI_CHROMIUM to a Chromium or Chrome binary. Where neither
Playwright nor a browser is found, `chromium_or_skip()` skips the test and says which.

    with open_browser() as browser:
        page = browser.open(Path("report.html").as_uri())    # or http://127.0.0.1:PORT/
        page.evaluate("document.title")
        page.page.fill("input", "hello")                     # the Playwright Page itself
        assert page.errors == []
        png = page.screenshot()

    with serve(directory) as base_url:  # a folder over http://127.0.0.1 (a thread)
        ...
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """$TINYAI_CHROMIUM, else the first Chromium or Chrome on PATH."""
    explicit = os.environ.get("TINYAI_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return next((p for p in map(shutil.which, _CANDIDATES) if p), None)


def chromium_or_skip() -> str:
    """The browser's path; skips the calling test, saying what is missing, where there is none."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright for Python is not installed: pip install -e '.[dev]'")
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium found: run scripts/setup.sh (installs Debian's chromium) "
                    "or set TINYAI_CHROMIUM=/path/to/chromium")
    return path


class BrowserPage:
    """One open page and everything it reported: console errors, uncaught exceptions and
    failed requests as lines in `errors`, and every URL it requested in `requests`."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("request", lambda req: self.requests.append(req.url))
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("requestfailed", lambda req: self.errors.append(
            f"request failed: {req.url} ({req.failure})"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def evaluate(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)

    def screenshot(self, path: Path | None = None, full_page: bool = True) -> bytes:
        return self.page.screenshot(path=path, full_page=full_page, animations="disabled")


class Browser:
    def __init__(self, browser: Any, width: int, height: int) -> None:
        self._browser = browser
        self._viewport = {"width": width, "height": height}

    def open(self, url: str, wait_until: str = "load") -> BrowserPage:
        """A fresh page (its own context: no shared cookies or storage) loaded from `url`."""
        context = self._browser.new_context(viewport=self._viewport, device_scale_factor=1)
        page = BrowserPage(context.new_page())
        page.page.goto(url, wait_until=wait_until)
        return page


@contextmanager
def open_browser(width: int = 1100, height: int = 900) -> Iterator[Browser]:
    """Headless Chromium for the duration of the block (skips the test where there is none)."""
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield Browser(browser, width, height)
        finally:
            browser.close()


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1 (a free port) from a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # keep pytest's output clean
        pass
