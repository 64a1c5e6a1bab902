"""What `switchboard up` prints once its stack is healthy, beside the settings: the pool
as the device service reports it (`switchboard status --json`), and how to link a pool
number when the transport is a real one."""

from __future__ import annotations

from typing import Any

INDENT = " " * 16

LINK_A_NUMBER = {
    "whatsmeow": [
        "Link a pool number: sign in as the admin, POST /api/instances (an admin's instance",
        "joins the pool), then show GET /api/v1/whatsapp/instance/qrcode?publicKey=..&secretKey=..",
        "and scan it on the phone: WhatsApp > Settings > Linked devices > Link a device.",
    ],
    "cloud": [
        "Link a pool number: sign in as the admin, POST /api/instances (an admin's instance",
        "joins the pool), map its instance_id to your phone number id in",
        "SWITCHBOARD_CLOUD_PHONE_NUMBER_IDS, restart, then GET /api/v1/whatsapp/instance/qrcode",
        "with its keys: that activates the number with Meta (no scan).",
    ],
}


def pool(report: dict[str, Any] | None, transport: str) -> list[str]:
    """The Transport lines: the pooled devices of `transport` with a link, and how to
    add one when there is none."""
    if report is None or report.get("devices") is None:
        return [f"{transport}; pool unknown (see `switchboard status`)"]
    linked = [d for d in report["devices"]
              if d["pooled"] and d["transport"] == transport and d["linked"]]
    if not linked:
        hint = LINK_A_NUMBER.get(transport, [])
        return [f"{transport}; pool: no linked device, so Messaging API sends cannot go out",
                *hint]
    names = ", ".join(f"{d['device_id']} ({d['state']})" for d in linked)
    return [f"{transport}; pool: {len(linked)} linked device{'s' * (len(linked) > 1)}: {names}"]


def lines(label: str, values: list[str]) -> list[str]:
    """`label` on the first line, the rest aligned under it."""
    return [f"  {label:<14}{values[0]}", *(INDENT + v for v in values[1:])]
