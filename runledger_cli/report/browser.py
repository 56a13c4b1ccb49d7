"""A report page in headless Chromium: screenshots, and what the page said while it loaded.

playwright drives the system's Chromium (Debian's package, from ``make system-deps``), so
no browser is ever downloaded; the flags keep it off the network.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium (make system-deps); never a download
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class BrowserMissingError(RuntimeError):
    """Chromium is not installed where the project's setup puts it."""


@dataclass
class BrowserLog:
    """What the page said while it loaded: console messages, uncaught errors, requests."""

    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"] + self.page_errors


@contextlib.contextmanager
def open_in_chromium(
    page: Path, *, width: int = 1440, height: int = 1000
) -> Iterator[tuple[Any, BrowserLog]]:
    """Open an HTML file in headless Chromium (a fresh profile); yields (page, log).

    Uses playwright to drive the system's Chromium (``CHROMIUM``, or the
    ``RUNLEDGER_CHROMIUM`` environment variable), so nothing is downloaded.
    """
    executable = os.environ.get("RUNLEDGER_CHROMIUM", CHROMIUM)
    if not Path(executable).is_file():
        raise BrowserMissingError(
            f"Chromium not found at {executable}: install it with make system-deps "
            "(Debian package chromium)"
        )
    from playwright.sync_api import sync_playwright  # dev dependency

    log = BrowserLog()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            tab = browser.new_page(viewport={"width": width, "height": height})
            tab.on("console", lambda m: log.console.append((m.type, m.text)))
            tab.on("pageerror", lambda e: log.page_errors.append(str(e)))
            tab.on("request", lambda r: log.requests.append(r.url))
            tab.goto(page.resolve().as_uri(), wait_until="load")
            yield tab, log
        finally:
            browser.close()


def screenshot(page: Path, png: Path, *, width: int = 1440) -> BrowserLog:
    """A full-page PNG of an HTML page, as headless Chromium draws it."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with open_in_chromium(page, width=width) as (tab, log):
        tab.screenshot(path=str(png), full_page=True)
    return log
