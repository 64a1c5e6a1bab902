"""The Instance API's envelopes, `{"success": true, "message", "data"}` and its error
`{"success": false, "message", "error", "data": null}`, and the `data` documents of seed
000, as the OpenAPI document declares them."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from gateway.shapes import EXAMPLE_MESSAGES, DeviceWord, NaiveTime, refusals

PREFIX = "/api/v1/whatsapp"

D = TypeVar("D")


def ok(message: str, data: Any) -> dict[str, Any]:
    return {"success": True, "message": message, "data": data}


class Ok(BaseModel, Generic[D]):
    success: Literal[True]
    message: str
    data: D


class V1Error(BaseModel):
    """The Instance API's error envelope."""

    success: Literal[False]
    message: str
    error: str = Field(description="The API code (docs/api.md), e.g. QUOTA_EXCEEDED")
    data: None

    unauthorized: ClassVar[str] = "INVALID_CREDENTIALS"

    @classmethod
    def example(cls, code: str, status: int) -> dict[str, Any]:
        return {"success": False, "message": EXAMPLE_MESSAGES.get(code, code), "error": code,
                "data": None}


def v1_refusals(*answers: int | str) -> dict[int | str, Any]:
    """`refusals`, in the Instance API's envelope; a bad key pair is always possible."""
    return refusals(401, *answers, model=V1Error)


class Subscription(BaseModel):
    type: str
    period: str
    monthlyQuota: int
    messagesUsed: int
    messagesRemaining: int
    usagePercentage: float
    startDate: NaiveTime | None
    endDate: NaiveTime | None
    isActive: bool
    isExpired: bool
    autoRenew: bool


class LastError(BaseModel):
    """Switchboard's addition to the instance document (clients of seed 000 ignore it):
    the last error the instance's device reported, kept after it recovers."""

    at: NaiveTime | None
    reason: str


class InstanceInfo(BaseModel):
    id: int
    instanceId: str
    instanceName: str
    status: DeviceWord
    isConnected: bool
    whatsappNumber: str | None
    createdAt: NaiveTime | None
    connectedAt: NaiveTime | None
    subscription: Subscription | None
    lastError: LastError | None


class QrCode(BaseModel):
    qrCode: str
    expiresIn: int


class PairingCode(BaseModel):
    pairingCode: str = Field(pattern=r"^[1-9A-HJ-NP-TV-Z]{8}$", examples=["K7WQ2RPX"])
    expiresIn: int


class MessageSent(BaseModel):
    messageId: str
    status: str
    phoneNumber: str
    message: str
    sentAt: NaiveTime | None
    quotaRemaining: int
    quotaUsed: int
    quotaTotal: int


class Quota(BaseModel):
    monthlyQuota: int
    messagesUsed: int
    messagesRemaining: int
    usagePercentage: float
    periodStart: NaiveTime | None
    periodEnd: NaiveTime | None
    hasQuotaAvailable: bool
    isSubscriptionActive: bool
