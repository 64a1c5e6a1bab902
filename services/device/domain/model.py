"""The Device aggregate: a WhatsApp number's link to Switchboard, as a state machine.

    (new) --register--> Disconnected --issue_qr--> AwaitingScan --link--> Connected
    AwaitingScan --issue_qr--> AwaitingScan (a fresh QR replaces the old one)
    AwaitingScan, Connected --disconnect--> Disconnected
    Failed --issue_qr--> AwaitingScan (re-link)
    any registered state but Banned --ban--> Banned (terminal)
    Disconnected, AwaitingScan, Connected --fail--> Failed

Every other command is refused with a named error.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from kernel.aggregate import Aggregate
from services.device.domain import errors
from services.device.domain.events import (
    DeviceBanned,
    DeviceConnected,
    DeviceDisconnected,
    DeviceFailed,
    DeviceRegistered,
    QrIssued,
)

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class DeviceStatus(StrEnum):
    NEW = "new"
    DISCONNECTED = "disconnected"
    AWAITING_SCAN = "awaiting_scan"
    CONNECTED = "connected"
    BANNED = "banned"
    FAILED = "failed"


class Device(Aggregate):
    stream_prefix = "device"

    def __init__(self, device_id: str) -> None:
        super().__init__(device_id)
        self.status = DeviceStatus.NEW
        self.name = ""
        self.owner_user_id = 0
        self.pooled = False
        self.transport = ""
        self.phone_number = ""
        self.reason = ""
        self.pairing_ref = ""
        self.qr_expires_at: datetime | None = None

    # Commands

    def register(self, name: str, owner_user_id: int, pooled: bool, transport: str) -> None:
        if self.status is not DeviceStatus.NEW:
            raise errors.DeviceAlreadyRegisteredError(f"device {self.id} already exists",
                                                      device_id=self.id)
        if not DEVICE_ID.match(self.id):
            raise errors.InvalidDeviceIdError(f"invalid device id {self.id!r}")
        self._record(DeviceRegistered(self.id, name or self.id, owner_user_id, pooled,
                                      transport))

    def issue_qr(self, pairing_ref: str, expires_at: datetime) -> None:
        self.check_can_issue_qr()
        self._record(QrIssued(self.id, pairing_ref, expires_at))

    def check_can_issue_qr(self) -> None:
        """Refuse before asking a transport for a pairing that could not be recorded."""
        self._require_usable()
        if self.status is DeviceStatus.CONNECTED:
            raise self._already_connected()

    def link(self, pairing_ref: str, phone_number: str, now: datetime) -> None:
        """A phone scanned the QR carrying `pairing_ref`."""
        self._require_usable()
        if self.status is DeviceStatus.CONNECTED:
            raise self._already_connected()
        if self.status is not DeviceStatus.AWAITING_SCAN:
            raise errors.QrNotIssuedError(f"device {self.id} has no QR code to scan",
                                          device_id=self.id)
        if pairing_ref != self.pairing_ref:
            raise errors.InvalidPairingRefError("this QR code was replaced by a newer one",
                                                device_id=self.id)
        if self.qr_expires_at is not None and now > self.qr_expires_at:
            raise errors.QrExpiredError("the QR code has expired", device_id=self.id)
        self._record(DeviceConnected(self.id, phone_number))

    def disconnect(self, reason: str) -> None:
        self._require_usable()
        if self.status not in (DeviceStatus.CONNECTED, DeviceStatus.AWAITING_SCAN):
            raise errors.NotConnectedError(f"device {self.id} is not connected",
                                           device_id=self.id)
        self._record(DeviceDisconnected(self.id, reason))

    def ban(self, reason: str) -> None:
        self._require_usable()
        self._record(DeviceBanned(self.id, reason))

    def fail(self, reason: str) -> None:
        self._require_usable()
        if self.status is DeviceStatus.FAILED:
            raise errors.DeviceFailedError(f"device {self.id} already failed: {self.reason}",
                                           device_id=self.id)
        self._record(DeviceFailed(self.id, reason))

    # Queries

    @property
    def is_connected(self) -> bool:
        return self.status is DeviceStatus.CONNECTED

    def _require_usable(self) -> None:
        if self.status is DeviceStatus.NEW:
            raise errors.DeviceNotFoundError(f"device {self.id} not found", device_id=self.id)
        if self.status is DeviceStatus.BANNED:
            raise errors.DeviceBannedError(f"device {self.id} is banned: {self.reason}",
                                           device_id=self.id)

    def _already_connected(self) -> errors.AlreadyConnectedError:
        return errors.AlreadyConnectedError(f"device {self.id} is already connected",
                                            device_id=self.id)

    # Events

    def when_DeviceRegistered(self, e: DeviceRegistered) -> None:
        self.status = DeviceStatus.DISCONNECTED
        self.name, self.owner_user_id = e.name, e.owner_user_id
        self.pooled, self.transport = e.pooled, e.transport

    def when_QrIssued(self, e: QrIssued) -> None:
        self.status = DeviceStatus.AWAITING_SCAN
        self.pairing_ref, self.qr_expires_at = e.pairing_ref, e.expires_at
        self.reason = ""

    def when_DeviceConnected(self, e: DeviceConnected) -> None:
        self.status = DeviceStatus.CONNECTED
        self.phone_number = e.phone_number
        self.pairing_ref, self.qr_expires_at, self.reason = "", None, ""

    def when_DeviceDisconnected(self, e: DeviceDisconnected) -> None:
        self._leave(DeviceStatus.DISCONNECTED, e.reason)

    def when_DeviceBanned(self, e: DeviceBanned) -> None:
        self._leave(DeviceStatus.BANNED, e.reason)

    def when_DeviceFailed(self, e: DeviceFailed) -> None:
        self._leave(DeviceStatus.FAILED, e.reason)

    def _leave(self, status: DeviceStatus, reason: str) -> None:
        self.status, self.reason = status, reason
        self.pairing_ref, self.qr_expires_at = "", None
