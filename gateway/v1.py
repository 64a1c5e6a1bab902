"""The Instance API's success envelope: `{"success": true, "message", "data"}`."""

from __future__ import annotations

from typing import Any

PREFIX = "/api/v1/whatsapp"


def ok(message: str, data: Any) -> dict[str, Any]:
    return {"success": True, "message": message, "data": data}
