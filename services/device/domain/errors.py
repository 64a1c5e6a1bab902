"""Every rule of the device service that a command can break, under one base.

Each error also inherits the kernel category that fixes its gRPC status, so the edge
maps it with the kernel's one table; `code` is the API-level reason.
"""

from __future__ import annotations

from kernel.errors import (
    ConflictError,
    DomainError,
    InvalidRequestError,
    NotFoundError,
    UnavailableError,
)


class DeviceError(DomainError):
    """Base of the device service's named errors."""


class InvalidDeviceIdError(DeviceError, InvalidRequestError):
    code = "INVALID_REQUEST"


class DeviceNotFoundError(DeviceError, NotFoundError):
    code = "DEVICE_NOT_FOUND"


class DeviceAlreadyRegisteredError(DeviceError, ConflictError):
    code = "DEVICE_EXISTS"


class AlreadyConnectedError(DeviceError, ConflictError):
    code = "ALREADY_CONNECTED"


class NotConnectedError(DeviceError, ConflictError):
    code = "NOT_CONNECTED"


class QrNotIssuedError(DeviceError, ConflictError):
    code = "QR_NOT_ISSUED"


class QrExpiredError(DeviceError, ConflictError):
    code = "QR_EXPIRED"


class InvalidPairingRefError(DeviceError, InvalidRequestError):
    code = "INVALID_PAIRING_REF"


class DeviceBannedError(DeviceError, ConflictError):
    code = "DEVICE_BANNED"


class DeviceFailedError(DeviceError, ConflictError):
    code = "DEVICE_FAILED"


class MessageAlreadyClaimedError(DeviceError, ConflictError):
    code = "MESSAGE_ALREADY_CLAIMED"


class MessageNotClaimedError(DeviceError, ConflictError):
    code = "MESSAGE_NOT_CLAIMED"


class NoDeviceAvailableError(DeviceError, UnavailableError):
    code = "NO_DEVICE_AVAILABLE"


class SimulatorOnlyError(DeviceError, InvalidRequestError):
    code = "SIMULATOR_ONLY"


class UnsupportedByTransportError(DeviceError, InvalidRequestError):
    """The transport in use has no such thing (a pairing code on the Cloud API, a Meta
    template on the simulator or whatsmeow): asking again will not help."""

    code = "UNSUPPORTED_BY_TRANSPORT"


class InvalidPhoneNumberError(DeviceError, InvalidRequestError):
    code = "INVALID_REQUEST"


class DeviceElsewhereError(DeviceError, UnavailableError):
    """Another replica holds the device's session lease; the call can be retried."""

    code = "SERVICE_UNAVAILABLE"
