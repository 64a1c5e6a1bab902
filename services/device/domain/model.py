"""The Device aggregate: a WhatsApp number's link to Switchboard, as a state machine.

    (new) --register--> Disconnected --issue_qr--> AwaitingScan --link--> Connected
    AwaitingScan --issue_qr--> AwaitingScan (a fresh QR replaces the old one: rotation)
    Connected --disconnect(network)--> Disconnected, session kept --reconnect--> Connected
    Connected, AwaitingScan, Failed, Disconnected --log_out--> Disconnected, no session
    Disconnected, Failed --issue_qr--> AwaitingScan (re-link)
    Failed (session kept) --reconnect--> Connected (a restart)
    any registered state but Banned --ban--> Banned (terminal)
    Disconnected, AwaitingScan, Connected --fail--> Failed
    any registered state --retire--> Retired (terminal: the instance was deleted)

Every other command is refused with a named error.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from kernel.aggregate import Aggregate
from services.device.domain import errors
from services.device.domain.events import (
    DeviceBanned,
    DeviceConnected,
    DeviceDisconnected,
    DeviceErrorRecorded,
    DeviceFailed,
    DeviceReconnected,
    DeviceRegistered,
    DeviceRetired,
    QrIssued,
)

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# The same error again within this is not noted again (a reconnect loop's attempts).
ERROR_REPEAT = timedelta(minutes=1)


class DeviceStatus(StrEnum):
    NEW = "new"
    DISCONNECTED = "disconnected"
    AWAITING_SCAN = "awaiting_scan"
    CONNECTED = "connected"
    BANNED = "banned"
    FAILED = "failed"
    RETIRED = "retired"


def effective_status(status: DeviceStatus, qr_expires_at: datetime | None,
                     now: datetime) -> DeviceStatus:
    """What a caller sees: a QR nobody scanned in time leaves the device Disconnected."""
    if status is DeviceStatus.AWAITING_SCAN and qr_expires_at is not None \
            and now >= qr_expires_at:
        return DeviceStatus.DISCONNECTED
    return status


class Device(Aggregate):
    stream_prefix = "device"

    def __init__(self, device_id: str) -> None:
        super().__init__(device_id)
        self.status = DeviceStatus.NEW
        self.name = ""
        self.owner_user_id = 0
        self.pooled = False
        self.transport = ""
        self.instance_number = 0
        self.created_at: datetime | None = None
        self.phone_number = ""
        self.reason = ""
        self.pairing_ref = ""
        self.qr_expires_at: datetime | None = None
        self.session_linked = False
        self.connected_at: datetime | None = None
        self.last_error = ""
        self.last_error_at: datetime | None = None

    # Commands

    def register(self, name: str, owner_user_id: int, pooled: bool, transport: str,
                 instance_number: int = 0, created_at: datetime | None = None) -> None:
        if self.status is not DeviceStatus.NEW:
            raise errors.DeviceAlreadyRegisteredError(f"device {self.id} already exists",
                                                      device_id=self.id)
        if not DEVICE_ID.match(self.id):
            raise errors.InvalidDeviceIdError(f"invalid device id {self.id!r}")
        self._record(DeviceRegistered(self.id, name or self.id, owner_user_id, pooled,
                                      transport, instance_number, created_at))

    def issue_qr(self, pairing_ref: str, expires_at: datetime) -> None:
        self.check_can_issue_qr()
        self._record(QrIssued(self.id, pairing_ref, expires_at))

    def check_can_issue_qr(self) -> None:
        """Refuse before asking a transport for a pairing that could not be recorded."""
        self._require_usable()
        if self.status is DeviceStatus.CONNECTED:
            raise self._already_connected()

    def link(self, pairing_ref: str, phone_number: str, now: datetime) -> None:
        """A phone scanned the QR carrying `pairing_ref` (empty: the transport vouches)."""
        self._require_usable()
        if self.status is DeviceStatus.CONNECTED:
            raise self._already_connected()
        if pairing_ref:
            self._check_scanned_qr(pairing_ref, now)
        self._record(DeviceConnected(self.id, phone_number, now))

    def _check_scanned_qr(self, pairing_ref: str, now: datetime) -> None:
        if self.status is not DeviceStatus.AWAITING_SCAN:
            raise errors.QrNotIssuedError(f"device {self.id} has no QR code to scan",
                                          device_id=self.id)
        if pairing_ref != self.pairing_ref:
            raise errors.InvalidPairingRefError("this QR code was replaced by a newer one",
                                                device_id=self.id)
        if self.qr_expires_at is not None and now > self.qr_expires_at:
            raise errors.QrExpiredError("the QR code has expired", device_id=self.id)

    def disconnect(self, reason: str, logged_out: bool = False) -> None:
        self._require_usable()
        if self.status not in (DeviceStatus.CONNECTED, DeviceStatus.AWAITING_SCAN):
            raise errors.NotConnectedError(f"device {self.id} is not connected",
                                           device_id=self.id)
        self._record(DeviceDisconnected(self.id, reason, logged_out))

    def log_out(self, reason: str) -> None:
        """End the link wherever it stands; nothing to do when there is none."""
        self._require_usable()
        if self.session_linked or self.status in (DeviceStatus.CONNECTED,
                                                  DeviceStatus.AWAITING_SCAN):
            self._record(DeviceDisconnected(self.id, reason, True))

    def check_can_reconnect(self) -> None:
        self._require_usable()
        if self.status is DeviceStatus.CONNECTED:
            return
        if not self.session_linked:
            raise errors.NotConnectedError(
                f"device {self.id} has no linked session: scan a new QR code",
                device_id=self.id)

    def reconnect(self, now: datetime) -> None:
        """The dropped session is up again. A duplicate report changes nothing."""
        self.check_can_reconnect()
        if self.status is not DeviceStatus.CONNECTED:
            self._record(DeviceReconnected(self.id, now))

    def ban(self, reason: str) -> None:
        self._require_usable()
        self._record(DeviceBanned(self.id, reason))

    def fail(self, reason: str) -> None:
        self._require_usable()
        if self.status is DeviceStatus.FAILED:
            raise errors.DeviceFailedError(f"device {self.id} already failed: {self.reason}",
                                           device_id=self.id)
        self._record(DeviceFailed(self.id, reason))

    def record_error(self, reason: str, at: datetime) -> None:
        """Note what went wrong with it, as its transport said it; nothing else changes,
        and it stays noted after the device recovers."""
        if not self.exists or not reason:
            return
        if reason == self.last_error and self.last_error_at is not None \
                and at - self.last_error_at < ERROR_REPEAT:
            return
        self._record(DeviceErrorRecorded(self.id, reason, at))

    def retire(self, reason: str) -> None:
        if self.status is DeviceStatus.NEW:
            raise self._not_found()
        if self.status is not DeviceStatus.RETIRED:
            self._record(DeviceRetired(self.id, reason))

    # Queries

    @property
    def is_connected(self) -> bool:
        return self.status is DeviceStatus.CONNECTED

    @property
    def exists(self) -> bool:
        return self.status not in (DeviceStatus.NEW, DeviceStatus.RETIRED)

    @property
    def wants_session(self) -> bool:
        """Some replica should hold its session: connected, or reconnecting."""
        return self.exists and self.session_linked and self.status in (
            DeviceStatus.CONNECTED, DeviceStatus.DISCONNECTED)

    def _require_usable(self) -> None:
        if not self.exists:
            raise self._not_found()
        if self.status is DeviceStatus.BANNED:
            raise errors.DeviceBannedError(f"device {self.id} is banned: {self.reason}",
                                           device_id=self.id)

    def _not_found(self) -> errors.DeviceNotFoundError:
        return errors.DeviceNotFoundError(f"device {self.id} not found", device_id=self.id)

    def _already_connected(self) -> errors.AlreadyConnectedError:
        return errors.AlreadyConnectedError(f"device {self.id} is already connected",
                                            device_id=self.id)

    # Events

    def when_DeviceRegistered(self, e: DeviceRegistered) -> None:
        self.status = DeviceStatus.DISCONNECTED
        self.name, self.owner_user_id = e.name, e.owner_user_id
        self.pooled, self.transport = e.pooled, e.transport
        self.instance_number, self.created_at = e.instance_number, e.created_at

    def when_QrIssued(self, e: QrIssued) -> None:
        self.status = DeviceStatus.AWAITING_SCAN
        self.pairing_ref, self.qr_expires_at = e.pairing_ref, e.expires_at
        self.reason, self.session_linked = "", False

    def when_DeviceConnected(self, e: DeviceConnected) -> None:
        self.status, self.session_linked = DeviceStatus.CONNECTED, True
        self.phone_number, self.connected_at = e.phone_number, e.connected_at
        self.pairing_ref, self.qr_expires_at, self.reason = "", None, ""

    def when_DeviceReconnected(self, e: DeviceReconnected) -> None:
        self.status, self.connected_at, self.reason = DeviceStatus.CONNECTED, e.connected_at, ""

    def when_DeviceDisconnected(self, e: DeviceDisconnected) -> None:
        self._leave(DeviceStatus.DISCONNECTED, e.reason)
        self.session_linked = self.session_linked and not e.logged_out

    def when_DeviceBanned(self, e: DeviceBanned) -> None:
        self._leave(DeviceStatus.BANNED, e.reason)
        self.session_linked = False

    def when_DeviceFailed(self, e: DeviceFailed) -> None:
        self._leave(DeviceStatus.FAILED, e.reason)

    def when_DeviceErrorRecorded(self, e: DeviceErrorRecorded) -> None:
        self.last_error, self.last_error_at = e.reason, e.at

    def when_DeviceRetired(self, e: DeviceRetired) -> None:
        self._leave(DeviceStatus.RETIRED, e.reason)
        self.session_linked = False

    def _leave(self, status: DeviceStatus, reason: str) -> None:
        self.status, self.reason = status, reason
        self.pairing_ref, self.qr_expires_at = "", None
