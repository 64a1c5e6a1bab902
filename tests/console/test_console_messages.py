"""The console's messages, webhooks and credits in headless Chromium against the stack as
`make run` starts it: a test message watched to Read, a bulk job's counts, the history
filtered, a webhook whose deliveries fail, the credits, and a phone-sized screen."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.console.browser import operator_tab, token
from tests.gateway.webhook_receiver import receiver
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


def test_a_test_message_reaches_read_and_a_bulk_job_counts_live(
        stack: Stack, browser: Browser, admin_token: str) -> None:
    with operator_tab(browser, stack.url, admin_token, "sender", credits=20) as opened:
        page = opened.page
        opened.go("Messages")
        expect(page.get_by_role("status")).to_have_text("Live updates on")
        single = page.get_by_role("region", name="Send a test message")
        single.get_by_label("Number (international)").fill("27821230001")
        single.get_by_label("Message").fill("Hello from the console")
        single.get_by_role("button", name="Send").click()
        expect(single.locator("[data-field=status]")).to_have_text("Read")

        bulk = page.get_by_role("region", name="Send a bulk message")
        bulk.get_by_label("Numbers (one a line, or separated by commas)").fill(
            "27821230002\n27821230003, 27821230004")
        bulk.get_by_label("Message").fill("Hello, all three")
        bulk.get_by_role("button", name="Send to all").click()
        job = page.get_by_role("region", name="Bulk job")
        expect(job.get_by_role("heading")).to_have_text(re.compile(r"^Bulk job bulk_\w+$"))
        expect(job.get_by_role("paragraph").first).to_have_text(
            "Bulk message queued successfully for 3 numbers")
        expect(job.locator("[data-count=read]")).to_have_text("Read: 3")
        expect(job.locator("[data-count=queued]")).to_have_text("Queued: 0")
        expect(job.locator("[data-count=failed]")).to_have_text("Failed: 0")
        expect(job.locator("[data-count=total]")).to_have_text("Total: 3")

        history = page.get_by_role("region", name="History")
        history.get_by_label("Number").fill("27821230003")
        history.get_by_role("button", name="Filter").click()
        expect(history.locator("tbody tr")).to_have_count(1)
        expect(history.locator("tbody tr [data-field=status]")).to_have_text("Read")
        history.get_by_label("Number").fill("")
        history.get_by_label("Status").select_option("Read")
        history.get_by_role("button", name="Filter").click()
        expect(history.locator("tbody tr")).to_have_count(4)
        opened.shoot("messages")


def test_a_failing_webhook_shows_its_failed_deliveries(
        stack: Stack, browser: Browser, admin_token: str) -> None:
    with receiver("whsec_console", fail_first=10**6) as failing, \
            operator_tab(browser, stack.url, admin_token, "hooked", credits=5) as opened:
        page = opened.page
        opened.go("Webhooks")
        page.get_by_label("URL").fill(failing.url)
        page.get_by_label("Secret (blank: one is generated)").fill("whsec_console")
        page.get_by_role("button", name="Add").click()
        expect(page.get_by_text(f"Signing secret of {failing.url}: whsec_console")).to_be_visible()
        sent = httpx.post(f"{stack.url}/api/messages/send-message", timeout=10,
                          headers={"Authorization": f"Bearer {token(stack.url, 'hooked')}"},
                          json={"number": "27821230009", "message": "for the log"})
        assert sent.status_code == 200, sent.text
        page.get_by_role("button", name=f"Delivery log of {failing.url}").click()
        log = page.get_by_role("region", name=f"Delivery log of {failing.url}")
        failed = log.locator("tbody tr", has_text="HTTP 500").first  # newest first
        expect(failed).to_contain_text(sent.json()["queue_id"], timeout=15_000)
        expect(failed).to_contain_text("Queued")
        assert failing.calls and failing.calls[0][0] == 500
        opened.shoot("webhooks")


def test_credits_and_a_phone_sized_screen(stack: Stack, browser: Browser,
                                          admin_token: str) -> None:
    with operator_tab(browser, stack.url, admin_token, "pocket", credits=7,
                      width=375, height=740) as opened:
        page = opened.page
        opened.go("Credits")
        expect(page.locator("[data-field=credits]")).to_have_text("7")
        opened.shoot("credits-phone")
        for name in ("Messages", "Webhooks", "Instances"):
            opened.go(name)
            # nothing wider than the screen: tables scroll inside their own box
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, name
            assert page.evaluate(UNLABELLED) == [], name
            if name == "Messages":
                opened.shoot("messages-phone")


# every field of a form has a label a screen reader announces
UNLABELLED = """[...document.querySelectorAll('input, select, textarea')]
    .filter((field) => field.labels.length === 0).map((field) => field.name)"""
