"""Browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live server, and axe-core.

Tests marked `browser` run when a Chromium is found (env `CHROMIUM_PATH`, else `chromium` on PATH, else
/usr/bin/chromium). When none is, each is reported as skipped by name; under `CI=true` they fail instead,
because CI always runs them (`.ci/run` installs Debian's `chromium` when it is missing).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API keeps an asyncio event loop running on the main thread for as long as the browser is
# open (it switches between greenlets on top of that loop). Django sees that running loop and refuses ORM calls
# from the test thread with SynchronousOnlyOperation, although nothing here is actually async: the fixtures
# that create users, and every later database test in the same process, would fail. The variable tells Django
# that this thread's synchronous database access is safe.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

REPO_ROOT = Path(__file__).resolve().parents[3]
AXE_SCRIPT = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO_ROOT / "test-artifacts"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = ("serious", "critical")
LOCALE = "zh-CN"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# The machine has no internet: without these Chromium keeps trying to reach Google's services (updates,
# sync, safe browsing, QUIC probes) and floods the log with refused connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _executable(path: str | None) -> str | None:
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    return None


def find_chromium() -> str | None:
    """The Chromium to drive, or None. A CHROMIUM_PATH that does not exist means "no Chromium", not "look
    elsewhere", so the skip path can be tried on a machine that has one."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return _executable(configured)
    return _executable(shutil.which("chromium")) or _executable(DEFAULT_CHROMIUM)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if find_chromium() is not None or _in_ci():
        return  # under CI a missing Chromium fails in the `browser` fixture, test by test
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.skip(reason=f"{item.nodeid}: no Chromium found (apt-get install chromium)"))


# Other apps' test directories take these fixtures with `from zhengtong.portal.tests.conftest import *`, which
# makes each directory's `browser` a session fixture of its own. Playwright's sync API allows one instance per
# thread, so they all share the one started here, and the last to finish stops it.
_SHARED: dict[str, Any] = {}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session (per xdist worker)."""
    executable = find_chromium()
    if executable is None:
        pytest.fail("no Chromium found (apt-get install chromium); CI=true runs the browser tests, so they fail "
                    "rather than skip", pytrace=False)
    if not _SHARED:
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        try:
            chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        except BaseException:
            playwright.stop()
            raise
        _SHARED.update(playwright=playwright, chromium=chromium, users=0)
    _SHARED["users"] += 1
    try:
        yield _SHARED["chromium"]
    finally:
        _SHARED["users"] -= 1
        if not _SHARED["users"]:
            shared = dict(_SHARED)
            _SHARED.clear()
            try:
                shared["chromium"].close()
            finally:
                shared["playwright"].stop()


@pytest.fixture
def page(browser: Any, live_server: Any, transactional_db: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, Simplified Chinese) on a page whose relative URLs go to the live
    server: `page.goto("/login/")`."""
    context = browser.new_context(locale=LOCALE, base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(5_000)
    browser_page = context.new_page()
    yield browser_page
    context.close()


def _artifact_name(nodeid: str, label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{nodeid.split('::', 1)[-1]}-{label}").strip("_")[:180] + ".png"


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """Save a full-page screenshot under test-artifacts/ (git-ignored) for a person to look at."""

    def save(browser_page: Any, label: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / _artifact_name(request.node.nodeid, label)
        browser_page.screenshot(path=str(path), full_page=True)
        return path

    return save


def run_axe(browser_page: Any) -> list[dict[str, Any]]:
    """Inject axe-core into the page and return its WCAG 2.0/2.1 A and AA violations."""
    if not AXE_SCRIPT.is_file():
        pytest.fail(f"{AXE_SCRIPT} is missing: run `npm ci` in {REPO_ROOT}", pytrace=False)
    browser_page.add_script_tag(content=AXE_SCRIPT.read_text(encoding="utf-8"))
    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}}
    result = browser_page.evaluate("options => axe.run(document, options)", options)
    return list(result["violations"])


def format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            lines.append(f"    target {json.dumps(node['target'], ensure_ascii=False)}")
            summary = (node.get("failureSummary") or "").replace("\n", " ").strip()
            if summary:
                lines.append(f"      {summary}")
    return "\n".join(lines)


@pytest.fixture
def assert_accessible(screenshot: Callable[[Any, str], Path]) -> Callable[[Any, str], None]:
    """Screenshot the page, run axe-core on it, and fail on any serious or critical violation."""

    def check(browser_page: Any, label: str) -> None:
        screenshot(browser_page, label)
        blocking = [v for v in run_axe(browser_page) if v.get("impact") in BLOCKING_IMPACTS]
        if blocking:
            pytest.fail(f"axe-core: {len(blocking)} serious or critical violation(s) on {label} "
                        f"({browser_page.url}):\n{format_violations(blocking)}", pytrace=False)

    return check
