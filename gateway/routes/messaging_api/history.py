"""Messaging API: GET /api/messages/messages (seed 002), the user's messages newest first.

Filters beyond the seed's page/per_page: `status` (a status word, any case), `number`
(a recipient, "+" optional), `since` and `until` (ISO 8601 date or date-time; naive means
UTC; `since` inclusive, `until` exclusive, and a bare date for `until` includes that whole
day). per_page is capped at 100; a bad value of any parameter is 400 INVALID_REQUEST.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import Query

from gateway.deps import CurrentUser, ServiceClients
from gateway.errors import ApiError
from gateway.leanroute import api_router
from gateway.routes.messaging_api.messages import STATUS_WORDS
from gateway.shapes import MessagePage, refusals
from gateway.timefmt import iso_z
from kernel.clock import to_timestamp
from switchboard.messaging.v1 import messaging_pb2

router = api_router(prefix="/api/messages", tags=["messages"], responses=refusals(401))

MAX_PER_PAGE = 100
STATUS_BY_WORD: dict[str, messaging_pb2.Status] = {
    word.lower(): value for value, word in STATUS_WORDS.items()}


def _status(word: str | None) -> messaging_pb2.Status:
    if not word:
        return messaging_pb2.STATUS_UNSPECIFIED
    found = STATUS_BY_WORD.get(word.strip().lower())
    if found is None:
        raise ApiError("INVALID_REQUEST", f"status: unknown status {word[:20]!r} (one of "
                       + ", ".join(STATUS_WORDS.values()) + ")")
    return found


def _moment(name: str, text: str | None, end_of_day: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return _clamped(moment, timedelta(days=1) if end_of_day else timedelta())
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ApiError("INVALID_REQUEST", f"{name}: not an ISO 8601 date or date-time "
                       f"({text[:40]!r})") from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return _clamped(moment, timedelta())


def _clamped(moment: datetime, shift: timedelta) -> datetime:
    """`moment + shift` in UTC; past the calendar's first or last day (0001-01-01 at
    +05:00, the end of 9999-12-31), the edge itself: every message lies within it."""
    try:
        return (moment + shift).astimezone(UTC)
    except OverflowError:
        edge = datetime.min if moment.year == datetime.min.year else datetime.max
        return edge.replace(tzinfo=UTC)


def _item(found: messaging_pb2.MessageStatus) -> dict[str, object]:
    return {"queue_id": found.queue_id, "number": found.number, "message": found.message,
            "status": STATUS_WORDS.get(found.status, "Queued"),
            "created_at": iso_z(found.created_at)}


@router.get("/messages", response_model=MessagePage, name="list_messages")
async def messages(user: CurrentUser, clients: ServiceClients,
                   page: Annotated[int, Query(ge=1, le=10**6)] = 1,
                   per_page: Annotated[int, Query(ge=1, le=10**6)] = 10,
                   status: Annotated[str | None, Query(max_length=20)] = None,
                   number: Annotated[str | None, Query(max_length=32)] = None,
                   since: Annotated[str | None, Query(max_length=40)] = None,
                   until: Annotated[str | None, Query(max_length=40)] = None
                   ) -> dict[str, object]:
    """The user's messages, newest first, a page at a time (`per_page` at most 100), filtered by
    status, number and time (`since` inclusive, `until` exclusive)."""
    start, end = _moment("since", since), _moment("until", until, end_of_day=True)
    if start and end and start >= end:
        raise ApiError("INVALID_REQUEST", "since must be before until")
    found = await clients.messaging.ListMessages(messaging_pb2.ListMessagesRequest(
        user_id=user.user_id, page=page, per_page=min(per_page, MAX_PER_PAGE),
        status=_status(status), number=(number or "").strip(), since=to_timestamp(start),
        until=to_timestamp(end)))
    return {
        "messages": [_item(m) for m in found.messages],
        "pagination": {"page": found.page, "per_page": found.per_page,
                       "total": found.total, "pages": found.pages},
    }
