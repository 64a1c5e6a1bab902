"""Turns at goneonize's maps of clients, so that no two Go calls touch them unsafely at once.

goneonize, neonize's Go library (0.5.2, built from commit 840dd69), keeps its clients in
three package-level maps without a lock: `clients` (device id → whatsmeow client),
`eventChannel` and `StopSignal`. Go aborts the whole process when two calls change one of
them at once (`fatal error: concurrent map writes`) or one looks in while another changes
it (`concurrent map read and map write`). Who touches them, read off the 0.5.2 library's
own line table and machine code (its source lines, main.go):

- `Neonize()`, a session's call, writes all three before it connects: `StopSignal[id]`
  (620), `eventChannel[id]` (632), `clients[id]` (660, after opening the session store);
  then it blocks for the session's life. Once its connection is up (or its QR channel
  closed) it looks `eventChannel[id]` and `clients[id]` up once more (`CallbackFunction`
  and `FetchMe`, 2573 and 2548).
- `Stop()` looks the client up (595), calls whatsmeow's Disconnect, then deletes it from
  all three (597, 601, 610); `StopAll()` ranges over `clients`, calling `Stop()` for each.
- every other function of a client (`SendMessage`, `Upload`, `DownloadAny`,
  `IsOnWhatsApp`, `PairPhone`, `GetMe`, `GetPNFromLID`, `Logout`, `Disconnect`, the
  contact and chat-setting stores, …) looks `clients[id]` up as it starts.
  whatsmeow's own goroutines touch none of them.

So a client's Go calls take turns (`TURNS`, one for the process, as the maps are): those
that only look the client up share a turn, for the whole call (they do so as they start,
and nothing tells when that is done); `Neonize()` and `Stop()` each wait for a turn alone,
and one that waits holds back new lookups, so that a steady flow of sends cannot starve it.

- `Stop()` waits in whatsmeow's Disconnect for as long as the client is still dialing
  (its connect holds the client's socket lock: up to the 10 s TLS handshake or the 30 s
  dial timeout). So a stop first calls `Disconnect()`, a lookup, then `Stop()`, whose
  own Disconnect has nothing left to wait for: its turn alone is short.
- `Neonize()` cannot keep its turn: it returns only when the session ends. It gives the
  turn back when the client's whatsmeow logger says `Dialing …` (whatsmeow's
  FrameSocket.Connect, which ConnectContext calls on this call's thread after line 660
  and before any network wait), or when the call returns, whichever is first. The logger
  is this call's own (built on the log callback passed to it), so the line is this
  client's. The call's log level is lowered to let debug lines through (neonize passes
  all of them by default) and the lines neonize did not ask for are dropped here. No
  other sign comes sooner: QR codes and events come only after the connection is up.

What the turns cost: a start or a stop waits for the calls in flight (a send waits for
WhatsApp's answer, a download for its file) and holds back new ones meanwhile; its turn
alone lasts the opening of the session store (milliseconds on SQLite, longer when a
PostgreSQL store is slow to answer) or the removal from the maps. Lookups never wait for
one another: sends of many devices go on at once.

Not in turn: the two lookups `Neonize()` makes once its connection is up, which nothing
announces to Python, and neonize's own direct `Stop()` calls (its finalizer, which the
session detaches; its connect task cancelled at interpreter exit). goneonize also merges
each `Neonize()` call's device properties into whatsmeow's global `store.DeviceProps`;
the turns keep those merges apart from one another.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from neonize._binder import func_callback_bytes2
from neonize.proto.Neonize_pb2 import LogEntry

LOG_LEVEL_ARG, LOG_CALLBACK_ARG = 5, 9  # Neonize()'s arguments, as neonize 0.5 passes them
LEVELS = {"": -1, "DEBUG": 0, "INFO": 1, "WARN": 2, "ERROR": 3}  # goneonize's levelToInt
DIALING = ("Client/Socket", "Dialing ")  # the logger and the line of FrameSocket.Connect


class MapTurns:
    """Any number of lookups at once, or one call alone; a call waiting to be alone goes
    before lookups that come after it."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._lookups = 0
        self._alone = False
        self._waiting = 0

    @contextmanager
    def lookup(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not (self._alone or self._waiting))
            self._lookups += 1
        try:
            yield
        finally:
            with self._changed:
                self._lookups -= 1
                self._changed.notify_all()

    def alone(self) -> Callable[[], None]:
        """Wait for a turn alone; returns the function that ends it (once, from any
        thread, however often called)."""
        with self._changed:
            self._waiting += 1
            self._changed.wait_for(lambda: not (self._alone or self._lookups))
            self._waiting -= 1
            self._alone = True
        ended = False

        def end() -> None:
            nonlocal ended
            with self._changed:
                if not ended:
                    ended = True
                    self._alone = False
                    self._changed.notify_all()

        return end


TURNS = MapTurns()


def in_turn(library: Any, name: str, kept: list[Any]) -> Callable[..., Any]:
    """The library's Go function `name`, called in its turn. `kept` holds what Go calls
    back for as long as the client lives."""
    if name == "Neonize":
        return functools.partial(_start, library, kept)
    if name == "Stop":
        return functools.partial(_stop, library)
    function = getattr(library, name)

    def looked_up(*args: Any) -> Any:
        with TURNS.lookup():
            return function(*args)

    return looked_up


def _start(library: Any, kept: list[Any], *args: Any) -> Any:
    end = TURNS.alone()
    try:
        return library.Neonize(*_until_dialing(args, end, kept))
    finally:
        end()


def _stop(library: Any, uuid: bytes) -> None:
    with TURNS.lookup():
        library.Disconnect(uuid)  # waits out a dial still going on, in a shared turn
    end = TURNS.alone()
    try:
        library.Stop(uuid)
    finally:
        end()


def _until_dialing(args: tuple[Any, ...], dialing: Callable[[], None],
                   kept: list[Any]) -> tuple[Any, ...]:
    """Neonize()'s arguments with a log callback of this call's own, which calls
    `dialing` at the client's first `Dialing` line and hands neonize the lines it asked
    for."""
    forward = args[LOG_CALLBACK_ARG]
    if not isinstance(forward, func_callback_bytes2):
        raise TypeError("Neonize() was not called as neonize 0.5 calls it: no log callback "
                        f"at argument {LOG_CALLBACK_ARG}")
    wanted = LEVELS.get(args[LOG_LEVEL_ARG].decode().upper(), 0)
    seen = False

    def log(binary: int, size: int) -> None:
        nonlocal seen
        if seen and wanted <= 0:
            forward(binary, size)
            return
        entry = LogEntry.FromString(ctypes.string_at(binary, size))
        if not seen and entry.Name == DIALING[0] and entry.Message.startswith(DIALING[1]):
            seen = True
            dialing()
        if LEVELS.get(entry.Level, 0) >= wanted:
            forward(binary, size)

    callback = func_callback_bytes2(log)
    kept.append(callback)
    changed = list(args)
    changed[LOG_LEVEL_ARG], changed[LOG_CALLBACK_ARG] = b"", callback
    return tuple(changed)
