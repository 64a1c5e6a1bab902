"""Dispatch: one queued message, claimed once, sent through one connected device.

The claim is the first event of the message's dispatch stream, appended at expected
version 0, so one replica wins it. A claim that was never followed by a send (a crash
mid-send) is sent again with the same transport message id, which the far side
deduplicates. A message whose device is not live here (another replica holds it, it
is reconnecting, or it dropped while the message waited for its pacing slot) is handed
back to the queue (HandBackError: the consumer naks it) and is sent by another device,
or by the same one once it is back. A send the far side could not take now (a
TransientTransportError, or no answer within the attempt's timeout) is counted on the
stream and tried again after an exponential backoff (the consumer naks it with that
delay), with the same transport message id; the last attempt allowed fails the
message, which billing refunds. A message no device has claimed `expire_after` seconds
after it was queued (no pool device, an instance that never came back) fails instead of
being claimed, and billing refunds it. Receipts from the transport settle the same stream.

Only the decision to claim or send reads the stream, and not even that on a message's
first delivery, when nobody can have claimed it yet: the claim starts from an empty
stream and its expected version 0 still refuses it if a copy of the message was claimed
after all (then the stream is read and the decision taken again). The steps after it
(sent, a failed try, receipts) start from the cached copy, as they only move the stream
forward: a copy another writer made stale fails to save and the step reads again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from kernel.changes import KeyedLocks, Repo, change, retrying
from kernel.clock import Clock
from kernel.consumer import HandBackError
from services.device.app.live import LiveDevice, LiveDevices
from services.device.app.pacing import Pacer
from services.device.app.sessions import Placement
from services.device.app.transport import (
    Receipt,
    ReceiptKind,
    Sent,
    SessionDownError,
    TransientTransportError,
    Transport,
    TransportError,
    Undelivered,
    digits,
)
from services.device.domain import errors
from services.device.domain.commands import DispatchMessage
from services.device.domain.dispatch import Dispatch, message_id_from

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
# (device id, number, user id, when): a pool send going out, for conversation affinity
PoolSent = Callable[[str, str, int, datetime], None]
RECONNECT_WAIT = 2.0


@dataclass(frozen=True)
class Slot:
    """A device and when (on the pacer's clock) the send through it may start: taken in
    the same step that chose the device, so concurrent choices see each other's slots
    and spread over the devices instead of piling onto the one that looked idle."""

    device: LiveDevice
    start: float


@dataclass(frozen=True)
class RetryPolicy:
    """Transient send failures: `attempts` tries in all, waiting base * 2^(n-1) seconds
    (at most `cap`) after the n-th failure; `timeout` bounds one try."""

    attempts: int = 6
    base: float = 2.0
    cap: float = 60.0
    timeout: float = 20.0

    def delay(self, failed_attempts: int) -> float:
        return min(self.cap, self.base * 2 ** max(0, failed_attempts - 1))


def attempt_timeout(retry: RetryPolicy, transport: object) -> float:
    """One try's bound: the policy's, or longer when the transport's own send gives up
    later (whatsmeow: 75 s), so that a send still under way is never taken for lost."""
    return max(retry.timeout, float(getattr(transport, "send_timeout", 0.0)))


class Whereabouts(Protocol):
    async def placement(self, device_id: str) -> Placement: ...

    async def pool_elsewhere(self) -> bool: ...


class Dispatcher:
    def __init__(self, dispatches: Repo[Dispatch], live: LiveDevices, transport: Transport,
                 pacer: Pacer, clock: Clock, whereabouts: Whereabouts,
                 device_wait: float = 5.0, sleep: Sleep = asyncio.sleep,
                 retry: RetryPolicy | None = None, expire_after: float = 86_400.0,
                 on_pool_sent: PoolSent | None = None) -> None:
        self.dispatches = dispatches
        self.live = live
        self.transport = transport
        self.pacer = pacer
        self.clock = clock
        self.whereabouts = whereabouts
        self.device_wait = device_wait
        self.sleep = sleep
        self.retry = retry or RetryPolicy()
        self.expire_after = expire_after
        self.on_pool_sent = on_pool_sent
        self.in_flight = KeyedLocks()

    async def dispatch(self, cmd: DispatchMessage) -> None:
        """Idempotent: a redelivered message waits for its twin here, then finds it done."""
        async with self.in_flight.hold(cmd.message_id):
            await self._dispatch(cmd, unread=cmd.first_delivery)

    async def _dispatch(self, cmd: DispatchMessage, unread: bool = False) -> None:
        """`unread`: the first try starts from an empty stream, as on a first delivery. A
        claim that loses the race to another writer is decided again on theirs (the
        kernel's `retrying`), and the message is sent only once a claim is saved."""
        first = iter((unread,))

        async def decide() -> tuple[Dispatch, Slot | None, bool]:
            dispatch = Dispatch(cmd.message_id) if next(first, False) else \
                await self.dispatches.get(cmd.message_id)
            if dispatch.is_settled:
                return dispatch, None, False
            if dispatch.is_claimed_unsent:  # claimed before, not sent: send it now
                return dispatch, None, True
            slot = await self._claim(dispatch, cmd)
            return dispatch, slot, slot is not None

        dispatch, slot, send = await retrying(decide)
        if send:
            await self._send(dispatch, cmd, slot)

    async def _claim(self, dispatch: Dispatch, cmd: DispatchMessage) -> Slot | None:
        """Claim the message for a device, or fail it (expired, or no device connected);
        saved. The device's slot when claimed."""
        slot = None
        if self._expired(cmd):
            dispatch.fail(f"no WhatsApp device took the message within "
                          f"{_duration(self.expire_after)} of queueing", cmd.user_id)
        elif (slot := await self._choose(cmd)) is None:
            dispatch.fail(f"instance {cmd.instance_id} is not connected", cmd.user_id)
        else:
            dispatch.claim(slot.device.device_id, cmd.user_id)
        await self.dispatches.save(dispatch)
        return slot

    def _expired(self, cmd: DispatchMessage) -> bool:
        return cmd.queued_at is not None and \
            (self.clock() - cmd.queued_at).total_seconds() >= self.expire_after

    async def _choose(self, cmd: DispatchMessage) -> Slot | None:
        """A live device for the message and its next slot; None when its instance is not
        linked at all."""
        device = await (self._pinned(cmd.instance_id) if cmd.pinned else self._pooled())
        return None if device is None else self._take(device)

    def _take(self, device: LiveDevice) -> Slot:
        return Slot(device, self.pacer.take(device.device_id))

    async def _pinned(self, device_id: str) -> LiveDevice | None:
        where = await self.whereabouts.placement(device_id)
        if where is Placement.AWAY:
            raise HandBackError(f"device {device_id} is served by another replica")
        if where is Placement.RECONNECTING:
            raise HandBackError(f"device {device_id} is reconnecting", RECONNECT_WAIT)
        return self.live.get(device_id)

    async def _pooled(self) -> LiveDevice:
        if not self.live.pooled() and await self.whereabouts.pool_elsewhere():
            raise HandBackError("the connected pooled devices are in other replicas")
        await self.live.wait_for_pooled(self.device_wait)
        pooled = {d.device_id: d for d in self.live.pooled()}
        best = self.pacer.least_loaded(pooled)
        if best is None:
            raise errors.NoDeviceAvailableError("no pooled device is connected")
        return pooled[best]

    async def _send(self, dispatch: Dispatch, cmd: DispatchMessage,
                    slot: Slot | None = None) -> None:
        if slot is None:
            claimed = self.live.get(dispatch.device_id)
            slot = self._take(claimed) if claimed else await self._choose(cmd)
        if slot is None:
            await self._fail(cmd, f"device {dispatch.device_id} is not connected")
            return
        device = slot.device
        await self.sleep(max(0.0, slot.start - self.pacer.clock()))
        if self.live.get(device.device_id) is None:
            raise HandBackError(f"device {device.device_id} dropped before sending")
        if self.on_pool_sent is not None and not cmd.pinned:  # before a reply can come
            self.on_pool_sent(device.device_id, digits(cmd.number), cmd.user_id, self.clock())
        try:
            sent = await self._attempt(device.device_id, cmd, dispatch.transport_message_id)
        except SessionDownError as exc:
            raise HandBackError(str(exc)) from exc
        except TransientTransportError as exc:
            await self._retry_later(cmd, device.device_id, str(exc) or type(exc).__name__,
                                    exc.retry_after)
            return
        except TransportError as exc:
            await self._fail(cmd, str(exc) or type(exc).__name__)
            return
        await change(self.dispatches, cmd.message_id,
                     lambda d: d.mark_sent(device.device_id, sent.at), trust_cache=True)

    async def _attempt(self, device_id: str, cmd: DispatchMessage,
                       transport_message_id: str) -> Sent:
        timeout = attempt_timeout(self.retry, self.transport)
        try:
            return await asyncio.wait_for(
                self._sending(device_id, cmd, transport_message_id), timeout)
        except TimeoutError as exc:
            raise TransientTransportError(
                f"no answer from the far side within {timeout:g} s") from exc

    def _sending(self, device_id: str, cmd: DispatchMessage,
                 transport_message_id: str) -> Awaitable[Sent]:
        """The transport's call for the message: a Meta template, a media file, or text."""
        if cmd.whatsapp_template:
            return self.transport.send_template(device_id, cmd.number,
                                                json.loads(cmd.whatsapp_template),
                                                transport_message_id)
        if cmd.media is not None:
            return self.transport.send_media(device_id, cmd.number, cmd.media, cmd.body,
                                             transport_message_id)
        return self.transport.send(device_id, cmd.number, cmd.body, transport_message_id)

    async def _retry_later(self, cmd: DispatchMessage, device_id: str, reason: str,
                           at_least: float = 0.0) -> None:
        """Count the failed attempt; unless it was the last, hand the message back to be
        tried again after the backoff (or the far side's own wait, when longer)."""
        dispatch = await change(self.dispatches, cmd.message_id,
                                lambda d: d.attempt_failed(device_id, reason,
                                                           self.retry.attempts),
                                trust_cache=True)
        if dispatch.is_claimed_unsent:
            wait = max(self.retry.delay(dispatch.failed_attempts), at_least)
            log.info("message %s: attempt %d failed (%s); again in %.1f s", cmd.message_id,
                     dispatch.failed_attempts, reason, wait)
            raise HandBackError(f"retrying after: {reason}", wait)
        log.info("message %s: %s", cmd.message_id, dispatch.reason or "settled meanwhile")

    async def _fail(self, cmd: DispatchMessage, reason: str) -> None:
        log.info("message %s failed: %s", cmd.message_id, reason)
        await change(self.dispatches, cmd.message_id, lambda d: d.fail(reason, cmd.user_id),
                     trust_cache=True)


def _duration(seconds: float) -> str:
    """86400 -> "24 h", 90 -> "90 s": a setting as the reason shows it."""
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


async def record_receipt(dispatches: Repo[Dispatch], receipt: Receipt) -> None:
    """Delivered / read, in any order and any number of times: the lattice keeps the max."""
    message_id = message_id_from(receipt.transport_message_id)
    if message_id is None:
        return

    def apply(dispatch: Dispatch) -> None:
        if receipt.kind is ReceiptKind.READ:
            dispatch.mark_read(receipt.at)
        else:
            dispatch.mark_delivered(receipt.at)

    await change(dispatches, message_id, apply, trust_cache=True)


async def record_undelivered(dispatches: Repo[Dispatch], failure: Undelivered) -> None:
    """The far side failed a message it had taken: Failed once, however often reported."""
    message_id = message_id_from(failure.transport_message_id)
    if message_id is not None:
        await change(dispatches, message_id, lambda d: d.undeliverable(failure.reason),
                     trust_cache=True)
