"""What a transport reports on its own, turned into commands on devices and dispatches."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kernel.changes import Repo
from kernel.retry import outlasting_outage
from services.device.app.dispatch import record_receipt, record_undelivered
from services.device.app.inbound import InboundDeps, receive_inbound
from services.device.app.sessions import Sessions
from services.device.app.transport import (
    Banned,
    Inbound,
    Linked,
    Receipt,
    Reconnected,
    SessionFailed,
    TransportEvent,
    Trouble,
    Undelivered,
    Unlinked,
)
from services.device.domain.dispatch import Dispatch

log = logging.getLogger(__name__)


@dataclass
class FarSide:
    sessions: Sessions
    dispatches: Repo[Dispatch]
    inbound: InboundDeps

    async def __call__(self, event: TransportEvent) -> None:
        if isinstance(event, Inbound):
            # recorded before the transport lets the far side forget it: an outage is
            # waited out, and a failure leaves it to the far side's next delivery
            deps = self.inbound
            await outlasting_outage(lambda: receive_inbound(event, deps),
                                    f"inbound {event.transport_message_id}", log)
        elif isinstance(event, Receipt):
            # nothing would report it again: a database outage is waited out
            await outlasting_outage(lambda: record_receipt(self.dispatches, event),
                                    f"receipt for {event.transport_message_id}", log)
        elif isinstance(event, Undelivered):
            await outlasting_outage(lambda: record_undelivered(self.dispatches, event),
                                    f"failure of {event.transport_message_id}", log)
        elif isinstance(event, Linked):
            await self.sessions.linked(event)
        elif isinstance(event, Unlinked):
            await self.sessions.unlinked(event)
        elif isinstance(event, Reconnected):
            await self.sessions.reconnected(event)
        elif isinstance(event, Banned):
            await self.sessions.banned(event)
        elif isinstance(event, SessionFailed):
            await self.sessions.failed(event)
        elif isinstance(event, Trouble):
            await self.sessions.trouble(event)
