"""The web UI in Debian's Chromium (Playwright), against `plugboard serve` on a port of
127.0.0.1 with the session's test host registered as `th`."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.guests import Booted, boot
from tests.harness import GuestFactory, NetworkFactory, TestHost
from tests.harness.service import Service

CHROMIUM = "/usr/bin/chromium"  # Debian's package (scripts/install-deps --test)
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # Playwright's own browser download cannot work on these machines: Debian's Chromium.
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def served(services, testhost: TestHost) -> Service:
    service = services.serve()
    created = service.post(
        "/hosts", json={"name": "th", "uri": testhost.uri, "domain_type": "qemu"}
    )
    assert created.status_code == 201, created.text
    return service


@pytest.fixture
def booted(networks: NetworkFactory, guests: GuestFactory) -> Booted:
    """A persistent guest on one of two networks, with its address (tests/e2e/guests.py)."""
    return boot(networks, guests)


def origin(service: Service) -> str:
    return service.settings.api_url


@pytest.fixture
def anonymous(browser: Browser, served: Service) -> Iterator[Page]:
    context = browser.new_context(base_url=origin(served), viewport=VIEWPORT)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, token: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Hosts")).to_be_visible()


@pytest.fixture
def admin(anonymous: Page, served: Service) -> Page:
    """A browser page signed in with the service's admin token."""
    sign_in(anonymous, served.token)
    return anonymous


EXTERNAL = re.compile(r"""https?://[^\s"'<>)&]+""")
NO_SCHEME = re.compile(r"""(?:src|href|action)=["']//""")  # protocol-relative: another host


def assert_local(page: Page, service: Service) -> None:
    """The page and every asset it loaded name nothing outside the service (the XML
    namespaces libvirt writes are names, not links: none appear in pages but as text)."""
    html = page.content()
    found = [u for u in EXTERNAL.findall(html) if not u.startswith(origin(service))]
    assert not [u for u in found if not u.startswith("http://libvirt.org/schemas/")], found
    assert not NO_SCHEME.search(html)
    for path in ("/static/plugboard.css", "/static/htmx-2.0.11.min.js"):
        body = page.request.get(path).text()
        assert not re.search(r"https?://", body), path


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
