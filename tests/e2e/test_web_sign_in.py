"""Signing in on the web with a username and password, in Chromium: the session id changes at
sign-in (the old one stops working), a disabled user's session ends, and failed sign-ins are
throttled (429 with Retry-After) and in the audit log without the password."""

import re
import time

from playwright.sync_api import Browser, Page, Response, expect

from tests.e2e.conftest import VIEWPORT, origin, sign_in
from tests.harness.service import Service

PASSWORD = "correct horse battery"


def add_user(served: Service, name: str, role: str = "user") -> None:
    made = served.post("/users", json={"username": name, "password": PASSWORD, "role": role})
    assert made.status_code == 201, made.text


def post_sign_in(page: Page, username: str, password: str) -> Response:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/sign-in")
    ) as answer:
        page.get_by_role("button", name="Sign in").click()
    return answer.value


def session_cookie(page: Page) -> str:
    (value,) = [c["value"] for c in page.context.cookies() if c["name"] == "pb_session"]
    return value


def still_signed_in(browser: Browser, served: Service, session_id: str) -> bool:
    """Whether a browser with only this session cookie gets the hosts page."""
    context = browser.new_context(base_url=origin(served), viewport=VIEWPORT)
    try:
        context.add_cookies([{"name": "pb_session", "value": session_id, "url": origin(served)}])
        page = context.new_page()
        page.goto("/hosts")
        return "/sign-in" not in page.url
    finally:
        context.close()


def test_a_user_signs_in_with_a_password_and_the_old_session_stops_working(
    anonymous: Page, served: Service, browser: Browser
):
    add_user(served, "alice")
    grant = {"user": "alice", "role": "network-user", "object": "hosts/th/networks/lab"}
    assert served.post("/grants", json=grant).status_code == 201  # she sees th's networks
    page = anonymous
    sign_in(page, served.token)  # a session already in this browser (the admin's)
    before = session_cookie(page)
    assert still_signed_in(browser, served, before)

    page.goto("/sign-in?next=/hosts/th/networks")
    assert post_sign_in(page, "alice", PASSWORD).status == 303
    expect(page).to_have_url(re.compile(r"/hosts/th/networks$"))
    expect(page.locator(".user-name")).to_have_text("alice")
    expect(page.locator(".badge.user")).to_have_text("user")
    after = session_cookie(page)
    assert after != before
    assert not still_signed_in(browser, served, before)
    assert still_signed_in(browser, served, after)
    assert PASSWORD not in str(page.context.cookies())

    events = served.get("/events", params={"target": "users/alice"}).json()["items"]
    assert [(e["actor"], e["action"], e["result"]) for e in events] == [
        ("alice", "sign-in (web)", "ok"),
        ("admin", "POST /grants", "ok"),
        ("admin", "POST /users", "ok"),
    ]

    # Disabled: the session ends at the next page.
    assert served.patch("/users/alice", json={"enabled": False}).status_code == 200
    page.goto("/hosts")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    refused = post_sign_in(page, "alice", PASSWORD)
    assert refused.status == 401
    expect(page.get_by_role("alert")).to_contain_text("the user 'alice' is disabled")


def test_eleven_fast_bad_passwords_give_429_with_retry_after(anonymous: Page, served: Service):
    add_user(served, "bob")
    page = anonymous
    page.goto("/sign-in")
    deadline = time.monotonic() + 50  # all within the throttle's minute
    statuses = [post_sign_in(page, "bob", f"wrong password {i}").status for i in range(10)]
    assert statuses == [401] * 10
    expect(page.get_by_role("alert")).to_contain_text("wrong username or password")

    throttled = post_sign_in(page, "bob", "wrong password 10")
    assert throttled.status == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    expect(page.get_by_role("alert")).to_contain_text("too many failed sign-ins")
    # The right password waits too: no guess is checked while throttled.
    assert post_sign_in(page, "bob", PASSWORD).status == 429
    assert time.monotonic() < deadline

    events = served.get("/events", params={"target": "users/bob"}).json()["items"][:-1]
    assert [e["result"] for e in events] == ["TOO_MANY_REQUESTS"] * 2 + ["UNAUTHORIZED"] * 10
    assert all(
        (e["actor"], e["via"]) == ("bob", "password") and e["detail"].startswith("from 127.0.0.1")
        for e in events
    )
    assert not any("wrong password" in str(e) or PASSWORD in str(e) for e in events)
