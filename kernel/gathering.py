"""Calls shared and gathered.

`FreshAsks`: concurrent asks of one key share calls, and every answer still comes from a
call that began after its ask arrived (the gateway's asks of auth about each request's
token or key pair; messaging's asks whether an instance's device is connected).

`Gatherer`: requests made while a call is on its way wait for the next call, which
carries every request that came meanwhile (at most `most`), and each request gets the
outcome its own call would have had.

The caller supplies `send`, which makes one call for a list of requests and returns one
outcome per request, in order: its answer, or the exception its own call would have
raised (a refusal of one touches no other). When `send` itself fails (the callee is
unreachable, the deadline passed), every request of that call fails with that error,
as each call would have. A caller that goes away does not take its request out of the
call it is in: its outcome is still read, so a failure is never reported as unread."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

Q = TypeVar("Q")
A = TypeVar("A")

MOST_GATHERED = 256  # requests in one call at most
# Loop turns a group (kernel/groupchange.py, kernel/groupcommit.py) waits as it starts,
# for the callers already under way (`let_callers_join`).
GATHER_TURNS = 3


Call = Callable[[], Awaitable[Any]]


class FreshAsks:
    """Asks that share calls per key without ever answering from the past.

    An ask of a key nobody is asking about makes its call itself. An ask that comes while
    a call of its key is in flight does not join it (that call may have read what came
    before a change this ask must see, such as a user disabled just now): it waits for
    the key's next call, which begins when the one in flight ends, made once for every
    ask that came in between. A burst of asks of one key costs about one call per round
    trip, and each answer is as fresh as a call made when its ask arrived."""

    def __init__(self) -> None:
        self._busy: dict[Hashable, asyncio.Future[None]] = {}  # the key's call in flight
        self._next: dict[Hashable, asyncio.Future[Any]] = {}  # the call the next asks share
        self._rounds: set[asyncio.Task[None]] = set()

    async def ask(self, key: Hashable, call: Call) -> Any:
        """`call()`'s answer, or that of a call of `key` begun after this ask arrived."""
        busy = self._busy.get(key)
        if busy is None:
            return await self._call(key, call)
        shared = self._next.get(key)
        if shared is None:
            shared = asyncio.get_running_loop().create_future()
            shared.add_done_callback(retrieved)
            self._next[key] = shared
            round_ = asyncio.create_task(self._round(key, busy, shared, call))
            self._rounds.add(round_)
            round_.add_done_callback(self._rounds.discard)
        return await asyncio.shield(shared)

    async def _call(self, key: Hashable, call: Call) -> Any:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._busy[key] = done
        try:
            return await call()
        finally:
            done.set_result(None)
            if self._busy.get(key) is done:
                del self._busy[key]

    async def _round(self, key: Hashable, busy: asyncio.Future[None],
                     shared: asyncio.Future[Any], call: Call) -> None:
        await busy
        del self._next[key]  # from here on, an ask is later than this call: a round of its own
        try:
            shared.set_result(await self._call(key, call))
        except asyncio.CancelledError:
            shared.cancel()
            raise
        except Exception as exc:  # every waiter gets the call's failure
            shared.set_exception(exc)


class Gatherer(Generic[Q, A]):
    def __init__(self, send: Callable[[list[Q]], Awaitable[Sequence[A | BaseException]]],
                 most: int = MOST_GATHERED) -> None:
        self._send_call = send
        self._most = most
        self._waiting: list[tuple[Q, asyncio.Future[A]]] = []
        self._sender: asyncio.Task[None] | None = None
        self.calls = 0  # calls made, for tests and operators

    async def __call__(self, request: Q) -> A:
        answer: asyncio.Future[A] = asyncio.get_running_loop().create_future()
        answer.add_done_callback(retrieved)
        self._waiting.append((request, answer))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_all())
        return await asyncio.shield(answer)

    async def _send_all(self) -> None:
        while self._waiting:
            batch = self._waiting[:self._most]
            self._waiting = self._waiting[self._most:]
            await self._send(batch)

    async def _send(self, batch: list[tuple[Q, asyncio.Future[A]]]) -> None:
        self.calls += 1
        try:
            outcomes = await self._send_call([request for request, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(batch)} requests")
        except BaseException as exc:  # the call failed: each outcome is unknown alike
            for _, answer in batch:
                settle(answer, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for (_, answer), outcome in zip(batch, outcomes, strict=True):
            settle(answer, outcome)


async def let_callers_join(turns: int = GATHER_TURNS) -> None:
    """A few turns of the event loop before a group takes its first callers. Requests
    that arrive together (a burst read off many connections at once) reach a group's
    queue a turn or two apart, each a few awaits from the start; taken at once, the first
    group holds the first one or two and the rest follow in groups of their own, each
    paying a whole transaction or call. A turn lasts as long as the callbacks ready in
    it: under load those of the callers on their way, idle a few microseconds. Callers
    that come as a steady flow gain nothing by it, and where each holds one of a bounded
    number of places (a consumer's batch settled message by message) the wait costs
    throughput: such a group waits no turns (device's dispatch, kernel/groupcommit.py)."""
    for _ in range(turns):
        await asyncio.sleep(0)


def settle(answer: asyncio.Future[Any], outcome: Any) -> None:
    """Give `answer` its outcome (an exception is raised to its reader), unless it has one."""
    if answer.done():
        return
    if isinstance(outcome, asyncio.CancelledError):
        answer.cancel()
    elif isinstance(outcome, BaseException):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)


def retrieved(answer: asyncio.Future[Any]) -> None:
    """A done-callback: an answer whose reader went away is still read, so its failure is
    not reported as never retrieved."""
    if not answer.cancelled():
        answer.exception()
