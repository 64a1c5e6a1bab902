"""What whatsmeow reports (through neonize's event types), read as signals. One table.

| neonize event | signal | the transport then reports |
|---|---|---|
| `PairStatusEv` SUCCESS | `Paired(jid)` | `Linked` (the transport vouches: empty ref) |
| `PairStatusEv` ERROR | `Ended(LOGGED_OUT)` | `Unlinked(logged_out=True)` |
| `ConnectedEv`, `KeepAliveRestoredEv` | `Up` | `Reconnected` after a `Down` |
| `DisconnectedEv`, `KeepAliveTimeoutEv` | `Down` | `Unlinked` (network; reconnect) |
| `LoggedOutEv` | `Ended(LOGGED_OUT)` | `Unlinked(logged_out=True)` |
| `TemporaryBanEv` | `Ended(BANNED)` | `Banned` |
| `StreamReplacedEv`, `ClientOutdatedEv` | `Ended(FAILED)` | `SessionFailed` |
| `ConnectFailureEv` | by reason, below | |
| a failed connect (dial error) | `Ended(UNREACHABLE)` | `Unlinked` if it was up |
| `ReceiptEv` DELIVERED / READ, PLAYED | `Receipts` | `Receipt` per known message id |
| `MessageEv` | `Arrived` | `Inbound` when from someone else (inbound.py) |

whatsmeow itself turns a <failure> at connect into LoggedOut (401, 403, 406), TemporaryBan
(402) or ClientOutdated (405), reconnects by itself on 500 and 503 (a Disconnected), and
dispatches ConnectFailure only for the rest; `_connect_failure` reads every reason anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from neonize.aioze.events import (
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.proto.Neonize_pb2 import JID, ConnectFailureReason

from kernel.clock import utcnow
from services.device.adapters.send_ledger import OutcomeUnknownError
from services.device.app.transport import ReceiptKind, SessionDownError, TransportError

SUBSCRIBED = (PairStatusEv, ConnectedEv, KeepAliveTimeoutEv, KeepAliveRestoredEv,
              LoggedOutEv, StreamReplacedEv, TemporaryBanEv, ConnectFailureEv,
              ClientOutdatedEv, DisconnectedEv, ReceiptEv, MessageEv)


class EndKind(StrEnum):
    LOGGED_OUT = "logged_out"  # only a new link brings it back
    BANNED = "banned"
    FAILED = "failed"  # beyond a reconnect (stream replaced, client outdated, …)
    UNREACHABLE = "unreachable"  # the connect failed (dial error): reconnect later
    EXPIRED = "expired"  # a pairing's QR codes ran out: nothing to report


@dataclass(frozen=True)
class Up:
    """Connected (again)."""


@dataclass(frozen=True)
class Down:
    """The connection dropped; the link stays and whatsmeow reconnects."""

    reason: str


@dataclass(frozen=True)
class Paired:
    jid: JID


@dataclass(frozen=True)
class Ended:
    """The session is over for good: no reconnect."""

    kind: EndKind
    reason: str


@dataclass(frozen=True)
class Receipts:
    kind: ReceiptKind
    message_ids: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class Arrived:
    """A message (neonize's `MessageEv`): inbound.py reads those from someone else."""

    event: Any


Signal = Up | Down | Paired | Ended | Receipts | Arrived

_REASON = ConnectFailureReason
_LOGGED_OUT_REASONS = {_REASON.LOGGED_OUT, _REASON.MAIN_DEVICE_GONE, _REASON.UNKNOWN_LOGOUT}
_TRANSIENT_REASONS = {_REASON.INTERNAL_SERVER_ERROR, _REASON.SERVICE_UNAVAILABLE}
_RECEIPTS = {ReceiptEv.DELIVERED: ReceiptKind.DELIVERED, ReceiptEv.READ: ReceiptKind.READ,
             ReceiptEv.PLAYED: ReceiptKind.READ}


def reason_name(reason: int) -> str:
    return _REASON.Name(reason) if reason in _REASON.values() else str(reason)


def jid_text(jid: JID) -> str:
    device = f":{jid.Device}" if jid.Device else ""
    return f"{jid.User}{device}@{jid.Server}"


def jid_from_text(text: str) -> JID:
    user_device, _, server = text.partition("@")
    user, _, device = user_device.partition(":")
    return JID(User=user, Device=int(device or 0), Server=server, RawAgent=0, Integrator=0,
               IsEmpty=False)


def at_time(stamp: int) -> datetime:
    if stamp <= 0:
        return utcnow()
    return datetime.fromtimestamp(stamp / 1000 if stamp > 10**11 else stamp, UTC)


def _pair_status(ev: Any) -> Signal:
    if ev.Status == PairStatusEv.SUCCESS:
        return Paired(ev.ID)
    return Ended(EndKind.LOGGED_OUT, f"pairing failed: {ev.Error or 'unknown error'}")


def _connect_failure(ev: Any) -> Signal:
    text = f"{reason_name(ev.Reason)}{': ' + ev.Message if ev.Message else ''}"
    if ev.Reason in _LOGGED_OUT_REASONS:
        return Ended(EndKind.LOGGED_OUT, f"logged out by WhatsApp ({text})")
    if ev.Reason == _REASON.TEMP_BANNED:
        return Ended(EndKind.BANNED, f"temporarily banned by WhatsApp ({text})")
    if ev.Reason in _TRANSIENT_REASONS:
        return Down(f"WhatsApp refused the connection for now ({text})")
    return Ended(EndKind.FAILED, f"WhatsApp refused the connection ({text})")


def _temporary_ban(ev: Any) -> Signal:
    code = TemporaryBanEv.TempBanReason.Name(ev.Code) \
        if ev.Code in TemporaryBanEv.TempBanReason.values() else str(ev.Code)
    return Ended(EndKind.BANNED, f"temporarily banned by WhatsApp: {code} (expire {ev.Expire})")


def _receipt(ev: Any) -> Signal | None:
    kind = _RECEIPTS.get(ev.Type)
    if kind is None or not ev.MessageIDs:
        return None
    return Receipts(kind, tuple(ev.MessageIDs), at_time(ev.Timestamp))


_SIGNALS: dict[type, Callable[[Any], Signal | None]] = {
    PairStatusEv: _pair_status,
    ConnectedEv: lambda ev: Up(),
    KeepAliveRestoredEv: lambda ev: Up(),
    DisconnectedEv: lambda ev: Down("connection to WhatsApp lost"),
    KeepAliveTimeoutEv: lambda ev: Down(f"keepalive timed out ({ev.ErrorCount} failures)"),
    LoggedOutEv: lambda ev: Ended(EndKind.LOGGED_OUT, "logged out "
                                  f"{'by WhatsApp' if ev.OnConnect else 'from the phone'} "
                                  f"({reason_name(ev.Reason)})"),
    TemporaryBanEv: _temporary_ban,
    StreamReplacedEv: lambda ev: Ended(EndKind.FAILED, "stream replaced: the session was "
                                                       "opened by another client"),
    ClientOutdatedEv: lambda ev: Ended(EndKind.FAILED, "client outdated: WhatsApp refuses "
                                                       "this whatsmeow version (upgrade neonize)"),
    ConnectFailureEv: _connect_failure,
    ReceiptEv: _receipt,
    MessageEv: Arrived,
}


# whatsmeow's send errors (neonize raises SendMessageError with their text): the ones that
# mean nothing left this client, and the ones after which WhatsApp may have the message (an
# answer that never came, a connection that went down while the message was on its way):
# those are never sent again, as WhatsApp does not deduplicate by our id.
_NOT_SENT = ("websocket not connected", "not connected", "not logged in",
             "doesn't contain a device jid", "client is nil")
_UNKNOWN = ("timed out waiting for message send response", "context deadline exceeded",
            "disconnected before", "stream end", "use of closed network connection",
            "broken pipe", "connection reset")


def send_failure(text: str) -> TransportError:
    """The transport's error for a failed send: handed back, never resent, or refused."""
    lowered = text.lower()
    if any(marker in lowered for marker in _NOT_SENT):
        return SessionDownError(f"WhatsApp session not connected: {text}")
    if any(marker in lowered for marker in _UNKNOWN):
        return OutcomeUnknownError(f"no answer from WhatsApp; not sent again: {text}")
    return TransportError(f"WhatsApp refused the message: {text}")


def signal_for(event: Any) -> Signal | None:
    """The signal a neonize event carries; None for the ones the transport ignores."""
    read = _SIGNALS.get(type(event))
    return read(event) if read is not None else None
