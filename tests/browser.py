"""Headless Debian Chromium through Playwright, for the browser tests (`-m browser`): one launch, one
Korean tab, the screenshot folders. Full-page screenshots go to artifacts/screenshots/, the README's (small,
cropped) to docs/screenshots/."""

import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
DOC_SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
DOC_SIZE = {"width": 1120, "height": 640}  # README screenshots: the top of the page, each well under 200 KB


@contextmanager
def chromium_tab():
    """A Korean 1400x1000 tab in headless Chromium; dialogs are dismissed and their messages kept in
    `tab.dialogs`. Fails (never skips) when Chromium is not installed."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ko-KR")
        context.set_default_timeout(15_000)
        tab = context.new_page()
        tab.dialogs = []
        tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
        yield tab
        context.close()
        browser.close()


def doc_screenshot(tab, name):
    """A small PNG of the top of the page for the README (docs/screenshots/)."""
    DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = DOC_SCREENSHOTS / name
    tab.screenshot(path=str(path), clip={"x": 0, "y": 0, **DOC_SIZE})
    assert path.stat().st_size < 200_000, f"{name} is {path.stat().st_size:,} bytes"
