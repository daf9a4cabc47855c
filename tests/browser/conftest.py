"""Browser tests: Playwright driving Debian's chromium against a real daphne process
that serves the test database and the session's Redis.

Playwright's sync API keeps an event loop running on the test thread, which makes
Django refuse sync ORM calls there. Browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for
their own duration only (the server under test is a separate process and unaffected),
and start Playwright per test so no loop outlives them.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections
from playwright.sync_api import sync_playwright

from tests.support.daphne import DaphneServer
from tests.support.live import database_url_for_tests, redis_url

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-results"


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker):
    with DaphneServer(database_url=database_url_for_tests(), redis_url=redis_url()) as server:
        yield server


@pytest.fixture
def browser(transactional_db, daphne_server, monkeypatch):
    assert os.path.exists(CHROMIUM), "Browser tests need chromium: run `make test` (installs it)."
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # ORM calls made while Playwright's loop runs get a connection of their own
            # (Django keys connections by context); close it with the test.
            connections.close_all()


def session_cookie(user, url: str) -> dict:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return {"name": settings.SESSION_COOKIE_NAME, "value": session.session_key, "url": url}


@pytest.fixture
def open_page(browser, daphne_server, request):
    """open_page(user=None, width=1280, height=900) -> a Page at the live server, logged
    in as `user`. Console errors (CSP violations included) fail the test."""
    contexts = []
    console_errors: list[str] = []

    def _open(user=None, *, width: int = 1280, height: int = 900):
        context = browser.new_context(
            base_url=daphne_server.url, viewport={"width": width, "height": height}
        )
        if user is not None:
            context.add_cookies([session_cookie(user, daphne_server.url)])
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.on(
            "console",
            lambda msg: console_errors.append(msg.text) if msg.type == "error" else None,
        )
        page.on("pageerror", lambda exc: console_errors.append(str(exc)))
        contexts.append(context)
        return page

    yield _open
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                page.screenshot(path=ARTIFACTS / f"{request.node.name}-{n}-{m}.png")
    for context in contexts:
        context.close()
    unexpected = [e for e in console_errors if "WebSocket" not in e and "ERR_INTERNET" not in e]
    assert not unexpected, f"browser console errors: {unexpected}\n{daphne_server.log()}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
