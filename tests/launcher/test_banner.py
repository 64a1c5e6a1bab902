"""The banner's pool lines from a status report: the linked pooled devices of the
transport in use only, and how to link one under a real transport when there is none
(issue 14, item 6; the running stack's banner: tests/launcher/test_up.py)."""

from __future__ import annotations

from typing import Any

import pytest

from launcher import banner


def device(device_id: str, transport: str, linked: bool, pooled: bool = True) -> dict[str, Any]:
    return {"device_id": device_id, "pooled": pooled, "transport": transport,
            "linked": linked, "state": "connected" if linked else "awaiting scan"}


@pytest.mark.parametrize("transport", ["whatsmeow", "cloud"])
def test_a_real_transport_without_a_linked_pool_device_says_how_to_link_one(
        transport: str) -> None:
    report = {"devices": [device("pool-1", "simulator", True),  # another transport's
                          device("abc", transport, True, pooled=False),  # not pooled
                          device("def", transport, False)]}  # pooled, not linked
    said = banner.pool(report, transport)
    assert said[0] == f"{transport}; pool: no linked device, so Messaging API sends cannot go out"
    assert said[1].startswith("Link a pool number: sign in as the admin, POST /api/instances")
    assert "/api/v1/whatsapp/instance/qrcode" in " ".join(said)
    if transport == "cloud":
        assert "SWITCHBOARD_CLOUD_PHONE_NUMBER_IDS" in " ".join(said)


def test_linked_pool_devices_are_counted_and_named() -> None:
    report = {"devices": [device("pool-1", "whatsmeow", True),
                          device("pool-2", "whatsmeow", False)]}
    assert banner.pool(report, "whatsmeow") == [
        "whatsmeow; pool: 1 linked device: pool-1 (connected)"]


def test_no_report_says_where_to_look() -> None:
    assert banner.pool(None, "cloud") == ["cloud; pool unknown (see `switchboard status`)"]
    assert banner.lines("gRPC:", ["auth a:1", "billing b:2"]) == [
        "  gRPC:         auth a:1", "                billing b:2"]
