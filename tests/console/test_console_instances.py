"""The console in headless Chromium against the stack as `make run` starts it: sign in,
create an instance, see its QR code and the next one as it rotates, scan it with the
simulated phone, watch the instance turn Connected without a reload and see a message its
phone received; link another by a pairing code; then the admin's view of users, credits,
the pool and devices."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.console.browser import operator, operator_tab, tab
from tests.device.test_simulator import decode_qr_data_url
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


def test_a_refused_sign_in_shows_the_apis_own_message(stack: Stack, browser: Browser) -> None:
    with tab(browser, stack.url) as opened:
        opened.page.goto(f"{stack.url}/console")
        opened.page.get_by_label("Username").fill("nobody-here")
        opened.page.get_by_label("Password").fill("not-the-password-1")
        opened.page.keyboard.press("Enter")  # the keyboard alone submits the form
        expect(opened.page.get_by_role("alert")).to_have_text(
            "Invalid username or password (UNAUTHORIZED)")
        opened.shoot("sign-in")


def test_an_instance_is_linked_by_its_qr_code_and_turns_connected_live(
        stack: Stack, browser: Browser, admin_token: str) -> None:
    with operator_tab(browser, stack.url, admin_token, "linker", credits=10) as opened:
        page = opened.page
        panel = opened.create_instance("Front desk")
        expect(page.get_by_text("The secret key is shown only now")).to_be_visible()
        expect(panel.locator("[data-field=status]")).to_have_text("Disconnected")

        panel.get_by_role("button", name="Link with a QR code").click()
        qr = panel.get_by_role("img", name="QR code: scan it in WhatsApp, Linked devices")
        expect(qr).to_be_visible()
        opened.shoot("instances-qr")
        page.evaluate("window.notReloaded = true")
        first = str(qr.get_attribute("src"))
        # 12 s codes (the stack's setting), replaced 5 s before they expire: the page
        # shows the next one by itself
        expect(qr).not_to_have_attribute("src", first, timeout=15_000)
        assert decode_qr_data_url(str(qr.get_attribute("src"))) != decode_qr_data_url(first)
        scanned = httpx.post(f"{stack.url}/simulator/scan", timeout=10, json={
            "qr": decode_qr_data_url(str(qr.get_attribute("src"))),
            "phone_number": "15550007777"})
        assert scanned.status_code == 200, scanned.text

        expect(panel.locator("[data-field=status]")).to_have_text("Connected", timeout=5_000)
        expect(panel.get_by_text("Linked: +15550007777 is Connected.")).to_be_visible()
        expect(page.locator("tr", has_text="Front desk")).to_contain_text("Connected")
        assert page.evaluate("window.notReloaded") is True
        opened.shoot("instances-connected")

        opened.go("Messages")
        expect(page.get_by_role("region", name="Received")).to_contain_text(
            "Nothing received yet.")
        answered = httpx.post(f"{stack.url}/simulator/reply", timeout=10, json={
            "from": "27821239999", "to": "15550007777", "message": "Hi back, front desk"})
        assert answered.status_code == 200, answered.text
        received = page.get_by_role("region", name="Received").locator("tbody tr")
        expect(received).to_contain_text("Hi back, front desk", timeout=15_000)  # live
        expect(received).to_contain_text("27821239999")

        opened.go("Instances")
        page.get_by_role("button", name="Open Front desk").click()
        panel.get_by_role("button", name="Restart").click()
        expect(page.get_by_role("status")).to_have_text("Instance restarted successfully")
        panel.get_by_role("button", name="Log out").click()
        expect(panel.locator("[data-field=status]")).to_have_text("Disconnected")


def test_an_instance_is_linked_by_a_pairing_code_typed_on_the_phone(
        stack: Stack, browser: Browser, admin_token: str) -> None:
    with operator_tab(browser, stack.url, admin_token, "pairer", credits=1) as opened:
        panel = opened.create_instance("Back office")
        panel.get_by_label("Phone number (international)").fill("15550008888")
        panel.get_by_role("button", name="Get a pairing code").click()
        shown = panel.locator("[data-field=pairing-code]")
        expect(shown).to_have_text(re.compile(r"^[1-9A-HJ-NP-TV-Z]{4}-[1-9A-HJ-NP-TV-Z]{4}$"))
        opened.shoot("instances-pairing-code")
        typed = httpx.post(f"{stack.url}/simulator/pairing-code", timeout=10, json={
            "code": shown.inner_text(), "phone_number": "15550008888"})
        assert typed.status_code == 200, typed.text
        expect(panel.locator("[data-field=status]")).to_have_text("Connected", timeout=5_000)


def test_the_admin_sees_users_grants_credits_and_sees_the_pool_and_devices(
        stack: Stack, browser: Browser, admin_token: str) -> None:
    granted = operator(stack.url, admin_token, "granted", credits=3)
    password = (stack.var_dir / "secrets" / "admin-password").read_text().strip()
    with tab(browser, stack.url) as opened:
        page = opened.page
        opened.sign_in("admin", password)
        opened.go("Admin")
        pool = page.get_by_role("region", name="The pool")
        expect(pool).to_contain_text("simulator")
        expect(pool).to_contain_text("3 of 3")
        row = page.locator("tr[data-user=granted]")
        expect(row.locator("[data-field=credits]")).to_have_text("3")
        page.get_by_role("combobox", name="User").select_option(label=f"granted (id {granted})")
        page.get_by_label("Credits").fill("40")
        page.get_by_label("Reason").fill("a console grant")
        page.get_by_role("button", name="Grant credits").click()
        expect(page.locator("tr[data-user=granted] [data-field=credits]")).to_have_text("43")
        page.get_by_role("button", name="Disable granted").click()
        expect(page.locator("tr[data-user=granted] [data-field=disabled]")).to_have_text("yes")
        page.get_by_role("button", name="Disable admin").click()  # refused: the API says why
        expect(page.get_by_role("status")).to_contain_text("(INVALID_REQUEST)")
        expect(page.get_by_role("region", name="Devices (every instance)")).to_be_visible()
        opened.shoot("admin")
