"""What text the two APIs take: whole Unicode characters, and no NUL.

JSON can carry text that no part of Switchboard can keep: half of a UTF-16 surrogate pair
(`"\\ud800"`, which is no character at all; protobuf cannot encode it, and I-JSON, RFC
7493, forbids it) and U+0000 (PostgreSQL text cannot hold it). Neither means anything in
a phone number, a message, a URL or a name, so both are refused at the edge with 400
INVALID_REQUEST: in request bodies (`RequestBody`, the base of every body model) and in
path and query parameters (`plain_parameters`, a dependency of every route).
"""

from __future__ import annotations

import re

from fastapi import Request
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from gateway.errors import ApiError

UNFIT = re.compile("[\\x00\\ud800-\\udfff]")
REFUSAL = "text must be valid Unicode without NUL (no U+0000, no lone \\uD800-\\uDFFF escape)"


def unfit(value: object) -> bool:
    """Whether `value`, or any text inside it, holds a NUL or a lone surrogate (walked
    without recursion, however deep the value nests)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if UNFIT.search(item) is not None:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class RequestBody(BaseModel):
    """A JSON request body whose text is all whole characters and has no NUL, and which
    holds only the fields its route documents: an unknown one (a `media_url` the route
    would drop) is 400 INVALID_REQUEST naming it, before anything is sent or charged."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, data: object) -> object:
        if unfit(data):
            raise PydanticCustomError("plain_text", REFUSAL)
        return data


async def plain_parameters(request: Request) -> None:
    if unfit(list(request.path_params.values())) or unfit(
            list(request.query_params.values())):
        raise ApiError("INVALID_REQUEST", REFUSAL)
