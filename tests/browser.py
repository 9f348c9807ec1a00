"""Headless Chromium for tests: Debian's ``chromium`` driven through its ``chromedriver`` by
selenium (scripts/install.sh installs both). Nothing is downloaded: the driver's path is given,
so Selenium Manager never runs, and Chromium's background connections are switched off (this
machine's network refuses them, and a test must not depend on them)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
)
"""Chromium's flags: headless, as root in a container, with no traffic of its own."""


def browser_paths() -> tuple[str, str]:
    """(chromium, chromedriver) on PATH; else skip, or fail under CI (CI installs them)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = (
        "chromium and chromium-driver are not installed (bash scripts/install.sh installs them)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so this is an error, not a skip")
    pytest.skip(reason)


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium (selenium WebDriver) with an empty profile, closed afterwards; its
    console log is readable with ``driver.get_log("browser")``."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = browser_paths()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(120)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any, allow_network: bool = False) -> list[dict[str, Any]]:
    """The browser console's SEVERE entries since the last call (``allow_network``: leave out
    Chromium's own "Failed to load resource" lines for answers the page expected, e.g. a 400)."""
    entries = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    if allow_network:
        entries = [e for e in entries if e.get("source") != "network"]
    return entries
