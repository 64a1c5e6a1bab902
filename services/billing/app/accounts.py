"""Users' credit accounts: changes are written in groups (kernel/groupchange.py);
balances are read from the ledger alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from kernel.groupchange import GroupChange
from services.billing.domain.model import Account, Balance, Ledger

R = TypeVar("R")


class Ledgers(Protocol):
    async def get(self, aggregate_id: str) -> Ledger: ...


class Accounts:
    def __init__(self, changes: GroupChange[int, Account], ledgers: Ledgers) -> None:
        self._changes = changes
        self._ledgers = ledgers

    async def balance(self, user_id: int) -> Balance:
        return (await self._ledgers.get(str(user_id))).balance()

    async def change(self, user_id: int, message_ids: Sequence[str],
                     change: Callable[[Account], R]) -> R:
        return await self._changes.change(user_id, message_ids, change)
