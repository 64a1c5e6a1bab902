"""The bare-framework baseline: one JSON POST endpoint on Starlette, served by uvicorn.

Run as `python -m bench.baseline_app PORT`."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def echo(request: Request) -> JSONResponse:
    body = await request.json()
    count = len(body.get("numbers", [])) or 1
    return JSONResponse({"message": "Message queued successfully", "queue_id": "msg_bench",
                         "messages_created": count})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/api/messages/send-message", echo, methods=["POST"]),
                        Route("/api/messages/send-bulk-message", echo, methods=["POST"]),
                        Route("/api/v1/whatsapp/send", echo, methods=["POST"]),
                        Route("/health", health)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
