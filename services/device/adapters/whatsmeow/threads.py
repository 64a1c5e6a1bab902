"""The threads neonize runs on: bounded, and apart from the event loop's default executor.

neonize calls every Go function through `asyncio.to_thread`, so by default they all share
the loop's default executor: each live session's blocking `Neonize()` call (it returns
only when the session stops) holds one of its threads for good, and once they are all
held every neonize call (sends, stops) and everything else in the process that uses the
default executor waits behind them. Here each client's calls go to two executors:

- sessions: one thread for each session's `Neonize()` call, at most `max_sessions`. A
  session beyond them is refused (`SessionsFullError`) rather than queued, so that a
  queued connect can never start a client nobody waits for any more. The slot comes
  back when the call returns: the session stopped, or its connect failed.
- calls: `call_workers` threads for the short calls (send, pair phone, stop, logout),
  which no number of live sessions or abandoned pairings can starve.

On neonize's own library the calls also take turns at its maps of clients (go_maps.py):
a stand-in's library has no such maps.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from neonize._binder import gocode
from neonize.aioze.client import GoCode

from services.device.adapters.whatsmeow.go_maps import in_turn

SESSION_CALLS = frozenset({"Neonize"})  # block for as long as the session lives
CLIENT_ATTRIBUTE = "_NewAClient__client"  # where NewAClient keeps its async Go wrapper


class SessionsFullError(Exception):
    """Every session thread is taken."""


class NeonizeThreads:
    def __init__(self, max_sessions: int = 64, call_workers: int = 8) -> None:
        self.max_sessions = max_sessions
        self.sessions = ThreadPoolExecutor(max_sessions, thread_name_prefix="neonize-session")
        self.calls = ThreadPoolExecutor(call_workers, thread_name_prefix="neonize-call")
        self.live = 0

    def claim(self) -> Callable[[], None]:
        """A session slot, and the function that gives it back (once, however called)."""
        if self.live >= self.max_sessions:
            raise SessionsFullError(f"all {self.max_sessions} whatsmeow session threads are "
                                    "in use (SWITCHBOARD_WHATSMEOW_MAX_SESSIONS)")
        self.live += 1
        given_back = False

        def release() -> None:
            nonlocal given_back
            if not given_back:
                given_back = True
                self.live -= 1

        return release

    def bind(self, client: Any) -> None:
        """Route the client's Go calls to these executors instead of the default one."""
        current: Any = getattr(client, CLIENT_ATTRIBUTE, None)
        # neonize's own wrapper answers any attribute, so it is recognised by its class;
        # another (a stand-in's) names the synchronous library behind it
        if isinstance(current, GoCode):
            setattr(client, CLIENT_ATTRIBUTE, BoundGoCode(gocode, self, turns=True))
        else:
            setattr(client, CLIENT_ATTRIBUTE, BoundGoCode(current.library, self))

    def shutdown(self) -> None:
        for pool in (self.sessions, self.calls):
            pool.shutdown(wait=False, cancel_futures=True)


class BoundGoCode:
    """neonize's `GoCode` (each Go function as an awaitable), on our executors."""

    def __init__(self, library: Any, threads: NeonizeThreads, turns: bool = False) -> None:
        self.library = library
        self.threads = threads
        self.turns = turns  # taken at goneonize's maps (go_maps.py)
        self.kept: list[Any] = []  # what Go calls back while the client lives

    def __getattr__(self, name: str) -> Callable[..., asyncio.Future[Any]]:
        function = in_turn(self.library, name, self.kept) if self.turns \
            else getattr(self.library, name)
        pool = self.threads.sessions if name in SESSION_CALLS else self.threads.calls

        def call(*args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            return asyncio.get_running_loop().run_in_executor(
                pool, functools.partial(function, *args, **kwargs))

        return call
