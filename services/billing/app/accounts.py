"""Users' credit accounts: changes go through the group writer; balances are read from
the ledger alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from services.billing.app.writer import GroupWriter
from services.billing.domain.model import Account, Balance, Ledger

R = TypeVar("R")


class Ledgers(Protocol):
    async def get(self, aggregate_id: str) -> Ledger: ...


class Accounts:
    def __init__(self, writer: GroupWriter[int, Account], ledgers: Ledgers) -> None:
        self._writer = writer
        self._ledgers = ledgers

    async def balance(self, user_id: int) -> Balance:
        return (await self._ledgers.get(str(user_id))).balance()

    async def change(self, user_id: int, message_ids: Sequence[str],
                     change: Callable[[Account], R]) -> R:
        return await self._writer.change(user_id, message_ids, change)
