"""Headless Chromium for the console's tests: Debian's /usr/bin/chromium driven by
Playwright (never a browser Playwright downloads), pages that record every request they
make, screenshots kept under test-artifacts/console/ (git-ignored)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

CHROMIUM = os.environ.get("SWITCHBOARD_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
PASSWORD = "console-operator-7"


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A page of its own (a fresh context: no token survives between tabs) and every URL
    it requested."""

    page: Page
    origin: str
    requested: list[str] = field(default_factory=list)

    def shoot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def foreign(self) -> list[str]:
        """Requests to anything but the gateway (data: URLs are not requests)."""
        return [url for url in self.requested if not url.startswith(self.origin + "/")]

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        self.page.goto(f"{self.origin}/console")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("heading", level=1)).to_have_text("Instances")

    def create_instance(self, name: str) -> Locator:
        """An instance made with the Instances page's form; its panel, opened."""
        self.page.get_by_label("Instance name").fill(name)
        self.page.get_by_role("button", name="Create").click()
        return self.page.get_by_role("region", name=f"Instance {name}")

    def go(self, page_name: str) -> None:
        """Through the navigation, as a person would (no reload)."""
        self.page.get_by_role("navigation", name="Main").get_by_role(
            "link", name=page_name).click()
        expect(self.page.get_by_role("heading", level=1)).to_have_text(page_name)


@contextmanager
def tab(browser: Browser, origin: str, width: int = 1100, height: int = 800) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    opened = Tab(page, origin)
    page.on("request", lambda request: opened.requested.append(request.url))
    try:
        yield opened
    finally:
        context.close()
    assert not opened.foreign(), opened.foreign()


@contextmanager
def operator_tab(browser: Browser, url: str, admin_token: str, username: str,
                 credits: int, width: int = 1100, height: int = 800) -> Iterator[Tab]:
    """A new operator with `credits`, signed in to the console in a tab of its own."""
    operator(url, admin_token, username, credits)
    with tab(browser, url, width, height) as opened:
        opened.sign_in(username)
        yield opened


def operator(url: str, admin_token: str, username: str, credits: int) -> int:
    """A user signed up through the API, granted `credits` by the admin; its id."""
    made = httpx.post(f"{url}/api/auth/register", timeout=10,
                      json={"username": username, "password": PASSWORD})
    assert made.status_code == 201, made.text
    user_id = int(made.json()["user_id"])
    granted = httpx.post(f"{url}/api/admin/users/{user_id}/credits", timeout=10,
                         headers={"Authorization": f"Bearer {admin_token}"},
                         json={"amount": credits, "reason": "console tests"})
    assert granted.status_code == 200, granted.text
    return user_id


def token(url: str, username: str, password: str = PASSWORD) -> str:
    signed = httpx.post(f"{url}/api/auth/login", timeout=10,
                        json={"username": username, "password": password})
    assert signed.status_code == 200, signed.text
    return str(signed.json()["access_token"])
