"""Unary and server-streaming calls to a gRPC server of the same process, without HTTP/2.

In the embedded all-in-one process (the gateway and the four services in one process) a
call from one part to another does not go through gRPC's HTTP/2: a channel whose
address is a server of this process (kernel/rpc.py `AmendingChannel`) hands the call to
that server's own handler, behind the same edge (the interceptor's trace, guard, error
statuses and metrics), with the request and the reply serialized and parsed as on the
wire (and refused over gRPC's receive limit), and the handler run in a task of its own
as gRPC runs it. A refusal comes back as the same `AioRpcError`, status details and all.
An in-process gRPC round trip cost about 475 µs of CPU (a trivial unary call on this
machine); this costs a small fraction of it (docs/performance.md, "Seventh wave").
A server-streaming call (the gateway's WatchMessages) is read as grpc.aio's call is: its
edge admits it by the call's metadata, each reply waits for the reader as flow control
makes it wait, and cancelling the call or its deadline cancels the handler. Over gRPC
inside one process the status stream's replies fell up to a second behind a busy loop
(docs/performance.md, "Eleventh wave"). Client-streaming
calls, calls to a server elsewhere and calls to a stopped server go over gRPC; the
server still listens for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from functools import partial
from typing import Any

import grpc

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # gRPC's default limit on a message received
LOCAL_PEER = "ipv4:127.0.0.1:0"  # what a handler sees as the peer of an in-process call
_LOCAL: dict[str, _LocalServer] = {}  # address a client names -> server of this process


class Recording:
    """Passed to the registrars in place of the server: records the method handlers they
    add, and adds them to the server."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self.server = server
        self.methods: dict[str, grpc.RpcMethodHandler] = {}

    def add_registered_method_handlers(self, service: str,
                                       handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.server.add_registered_method_handlers(service, handlers)
        self.methods.update({f"/{service}/{name}": h for name, h in handlers.items()})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)


class _Details(grpc.HandlerCallDetails):
    def __init__(self, method: str, metadata: Sequence[tuple[str, str]] = ()) -> None:
        self.method = method
        self.invocation_metadata = tuple(metadata)


class _LocalServer:
    """A server's unary handlers, behind its edge, for calls from this process."""

    def __init__(self, server: grpc.aio.Server, methods: dict[str, grpc.RpcMethodHandler],
                 edge: grpc.aio.ServerInterceptor) -> None:
        self.server = server
        self.methods = methods
        self.edge = edge
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    async def handler(self, method: str) -> grpc.RpcMethodHandler | None:
        """The method's handler as the server runs it (through its edge); None when it is
        not a unary method of this server."""
        found = self.handlers.get(method)
        if found is None:
            plain = self.methods.get(method)
            if plain is None or plain.unary_unary is None:
                return None
            found = self.handlers[method] = await self.through_edge(plain, _Details(method))
        return found

    def streams(self, method: str) -> grpc.RpcMethodHandler | None:
        """The method's own handler if it is a server-streaming method of this server."""
        plain = self.methods.get(method)
        return plain if plain is not None and plain.unary_stream is not None else None

    async def through_edge(self, plain: grpc.RpcMethodHandler,
                           details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        """`plain` as the server runs it for a call of `details`: behind its edge (which
        admits a stream by its call's metadata, when the call starts)."""
        async def continuation(_details: grpc.HandlerCallDetails) -> Any:
            return plain

        handler: grpc.RpcMethodHandler = await self.edge.intercept_service(continuation,
                                                                           details)
        return handler


def serve_locally(server: grpc.aio.Server, methods: dict[str, grpc.RpcMethodHandler],
                  edge: grpc.aio.ServerInterceptor, bind: str, port: int) -> None:
    """Calls from this process to the server's address go to `methods` behind `edge`
    directly, until it stops: from then on they go over gRPC (and find it gone, as a
    caller elsewhere)."""
    local = _LocalServer(server, methods, edge)
    host = bind.rsplit(":", 1)[0]
    hosts = {host, "127.0.0.1", "localhost"} if host in ("0.0.0.0", "[::]", "") else {host}
    for each in hosts:
        _LOCAL[f"{each}:{port}"] = local
    stop = server.stop

    async def stop_serving(grace: float | None) -> None:
        forget_local(server)
        await stop(grace)

    server.stop = stop_serving  # type: ignore[method-assign]


def forget_local(server: grpc.aio.Server) -> None:
    """Calls from this process to the server go over gRPC from now on."""
    for address in [a for a, local in _LOCAL.items() if local.server is server]:
        del _LOCAL[address]


class _LocalContext:
    """What a handler uses of its call's context, for a call from this process."""

    def __init__(self, metadata: Sequence[tuple[str, str]]) -> None:
        self.metadata = tuple(metadata)
        self.status: grpc.StatusCode | None = None
        self.details = ""
        self.trailing: tuple[tuple[str, str | bytes], ...] = ()
        self.sent_initial = asyncio.Event()

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    def peer(self) -> str:
        return LOCAL_PEER

    def code(self) -> grpc.StatusCode | None:
        return self.status

    async def send_initial_metadata(self, _metadata: Sequence[tuple[str, str]]) -> None:
        self.sent_initial.set()

    async def abort(self, code: grpc.StatusCode, details: str = "",
                    trailing_metadata: Sequence[tuple[str, str | bytes]] = ()) -> None:
        self.status, self.details = code, details
        self.trailing = tuple(trailing_metadata)
        raise grpc.aio.AbortError()

    async def abort_with_status(self, status: grpc.Status) -> None:
        await self.abort(status.code, status.details, status.trailing_metadata)

    def error(self) -> grpc.aio.AioRpcError:
        return _refused(self.status or grpc.StatusCode.UNKNOWN, self.details, self.trailing)


async def _call_locally(handler: grpc.RpcMethodHandler, request: Any,
                        serialize: Callable[[Any], bytes] | None,
                        parse: Callable[[bytes], Any] | None, deadline: float | None,
                        metadata: Sequence[tuple[str, str]]) -> Any:
    """A unary call as the server would run it: the request as it would arrive, the
    handler in a task of its own (its context its own, as on a server; cancelled with
    the caller, or after `deadline` seconds), and the reply as the client would read it."""
    if serialize is not None and handler.request_deserializer is not None:
        request = handler.request_deserializer(_within_limit(serialize(request)))
    ctx = _LocalContext(metadata)
    running = asyncio.ensure_future(handler.unary_unary(request, ctx))
    try:
        reply = await (running if deadline is None else asyncio.wait_for(running, deadline))
    except grpc.aio.AbortError:
        raise ctx.error() from None
    except TimeoutError:
        raise _refused(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
    except Exception as exc:
        raise _refused(grpc.StatusCode.UNKNOWN, f"Unexpected {type(exc)}: {exc}") from None
    if parse is not None and handler.response_serializer is not None:
        reply = parse(_within_limit(handler.response_serializer(reply)))
    return reply


def _within_limit(message: bytes) -> bytes:
    """A message over gRPC's default receive limit is refused as gRPC refuses it."""
    if len(message) > MAX_MESSAGE_BYTES:
        raise _refused(grpc.StatusCode.RESOURCE_EXHAUSTED, f"Received message larger than "
                       f"max ({len(message)} vs. {MAX_MESSAGE_BYTES})")
    return message


def _refused(code: grpc.StatusCode, details: str,
             trailing: Sequence[tuple[str, str | bytes]] = ()) -> grpc.aio.AioRpcError:
    """The error a gRPC client raises for a call that ended with `code`."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing),
                                details=details)


class LocalFirst:
    """A unary multicallable: to the server of this process at the channel's address if
    there is one, else over gRPC."""

    def __init__(self, address: str, method: str, remote: Any,
                 serialize: Callable[[Any], bytes] | None,
                 parse: Callable[[bytes], Any] | None) -> None:
        self.address, self.method, self.remote = address, method, remote
        self.serialize, self.parse = serialize, parse

    def __call__(self, request: Any, *, timeout: float | None = None,
                 metadata: Sequence[tuple[str, str]] = (), **options: Any) -> Any:
        local = _LOCAL.get(self.address)
        if local is None:
            return self.remote(request, timeout=timeout, metadata=metadata, **options)
        return self._local(local, request, timeout, metadata, options)

    async def _local(self, local: _LocalServer, request: Any, deadline: float | None,
                     metadata: Sequence[tuple[str, str]], options: dict[str, Any]) -> Any:
        handler = await local.handler(self.method)
        if handler is None:
            return await self.remote(request, timeout=deadline, metadata=metadata, **options)
        return await _call_locally(handler, request, self.serialize, self.parse, deadline,
                                   metadata)


class _LocalStream:
    """A server-streaming call to a server of this process, read as a grpc.aio
    UnaryStreamCall is (iterated, `read`, `initial_metadata`, `code`, `cancel`). The
    server's edge admits it by its metadata and its handler runs in a task of its own, as
    on a server; the request and each reply are serialized and parsed as on the wire. The
    handler waits while a reply is unread, as gRPC's flow control makes a server wait for
    a slow reader. Cancelling the call cancels the handler; a deadline cuts it off with
    DEADLINE_EXCEEDED."""

    _END = object()

    def __init__(self, local: _LocalServer, plain: grpc.RpcMethodHandler, method: str,
                 request: Any, serialize: Callable[[Any], bytes] | None,
                 parse: Callable[[bytes], Any] | None, deadline: float | None,
                 metadata: Sequence[tuple[str, str]]) -> None:
        self._ctx = _LocalContext(metadata)
        self._replies: asyncio.Queue[Any] = asyncio.Queue(1)
        self._outcome: grpc.aio.AioRpcError | None = None
        self._expired = self._cancelled = False
        self._pump = asyncio.ensure_future(
            self._run(partial(local.through_edge, plain, _Details(method, metadata)),
                      request, serialize, parse))
        self._pump.add_done_callback(self._ended)
        self._timer = (None if deadline is None else
                       asyncio.get_running_loop().call_later(deadline, self._expire))

    async def _run(self, admit: Callable[[], Awaitable[grpc.RpcMethodHandler]],
                   request: Any, serialize: Callable[[Any], bytes] | None,
                   parse: Callable[[bytes], Any] | None) -> None:
        try:
            handler = await admit()
            if serialize is not None and handler.request_deserializer is not None:
                request = handler.request_deserializer(_within_limit(serialize(request)))
            async with aclosing(handler.unary_stream(request, self._ctx)) as replies:
                async for reply in replies:
                    if parse is not None and handler.response_serializer is not None:
                        reply = parse(_within_limit(handler.response_serializer(reply)))
                    await self._replies.put(reply)
        except grpc.aio.AbortError:
            self._outcome = self._ctx.error()
        except grpc.aio.AioRpcError as refused:  # a message over gRPC's limit
            self._outcome = refused
        except Exception as exc:
            self._outcome = _refused(grpc.StatusCode.UNKNOWN,
                                     f"Unexpected {type(exc)}: {exc}")

    def _ended(self, pump: asyncio.Future[None]) -> None:
        """However the handler's task ended (cancelled before it ran, too)."""
        if self._timer is not None:
            self._timer.cancel()
        if pump.cancelled():
            self._outcome = (_refused(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
                             if self._expired else
                             _refused(grpc.StatusCode.CANCELLED, "Locally cancelled"))
        self._ctx.sent_initial.set()  # a call that ended sent none: it has none
        if self._replies.empty():  # wakes a reader waiting; a full queue wakes none
            self._replies.put_nowait(self._END)

    def _expire(self) -> None:
        self._expired = True
        self._pump.cancel()

    async def read(self) -> Any:
        """The next reply; grpc.aio.EOF after the last; the call's error if it failed;
        CancelledError once it was cancelled here, as grpc.aio raises."""
        while not (self._pump.done() and self._replies.empty()):
            reply = await self._replies.get()
            if reply is not self._END:
                return reply
        if self._cancelled:
            raise asyncio.CancelledError()
        if self._outcome is not None:
            raise self._outcome
        return grpc.aio.EOF

    async def __aiter__(self) -> AsyncIterator[Any]:
        while (reply := await self.read()) is not grpc.aio.EOF:
            yield reply

    async def initial_metadata(self) -> grpc.aio.Metadata:
        await self._ctx.sent_initial.wait()
        return grpc.aio.Metadata()

    async def trailing_metadata(self) -> grpc.aio.Metadata:
        await asyncio.wait({self._pump})
        return grpc.aio.Metadata(*self._ctx.trailing)

    async def code(self) -> grpc.StatusCode:
        await asyncio.wait({self._pump})
        return grpc.StatusCode.OK if self._outcome is None else self._outcome.code()

    async def details(self) -> str:
        await asyncio.wait({self._pump})
        return "" if self._outcome is None else (self._outcome.details() or "")

    def done(self) -> bool:
        return self._pump.done()

    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> bool:
        if self._pump.done():
            return False
        self._cancelled = True
        self._pump.cancel()
        return True


class LocalFirstStream(LocalFirst):
    """A server-streaming multicallable: to the server of this process at the channel's
    address if there is one (`_LocalStream`), else over gRPC."""

    def __call__(self, request: Any, *, timeout: float | None = None,
                 metadata: Sequence[tuple[str, str]] = (), **options: Any) -> Any:
        local = _LOCAL.get(self.address)
        plain = None if local is None else local.streams(self.method)
        if local is None or plain is None:
            return self.remote(request, timeout=timeout, metadata=metadata, **options)
        return _LocalStream(local, plain, self.method, request, self.serialize, self.parse,
                            timeout, metadata)
