"""One function per credit command or query, each `handle(cmd, deps)` (app/dependencies.py)."""

from __future__ import annotations

from services.billing.app.dependencies import BillingDeps
from services.billing.domain.commands import (
    CommitReservations,
    GetBalance,
    GrantCredits,
    GrantSignupCredits,
    RefundReservations,
    ReleaseCredits,
    ReserveCredits,
)
from services.billing.domain.model import (
    Account,
    Balance,
    Reserved,
    Settled,
    checked_message_ids,
    checked_user_id,
)


async def grant_credits(cmd: GrantCredits, deps: BillingDeps) -> Balance:
    def change(account: Account) -> Balance:
        account.ledger.grant(cmd.amount, cmd.reason, cmd.granted_by)
        return account.ledger.balance()

    return await deps.accounts.change(checked_user_id(cmd.user_id), (), change)


async def grant_signup_credits(cmd: GrantSignupCredits, deps: BillingDeps) -> Balance:
    def change(account: Account) -> Balance:
        account.ledger.grant_signup(cmd.amount)
        return account.ledger.balance()

    return await deps.accounts.change(checked_user_id(cmd.user_id), (), change)


async def reserve_credits(cmd: ReserveCredits, deps: BillingDeps) -> Reserved:
    ids = checked_message_ids(cmd.message_ids)
    return await deps.accounts.change(checked_user_id(cmd.user_id), ids,
                                 lambda account: account.reserve(ids))


async def release_credits(cmd: ReleaseCredits, deps: BillingDeps) -> Settled:
    ids = checked_message_ids(cmd.message_ids)
    return await deps.accounts.change(checked_user_id(cmd.user_id), ids,
                                 lambda account: account.refund(ids, cmd.reason))


async def commit_reservations(cmd: CommitReservations, deps: BillingDeps) -> Settled:
    return await deps.accounts.change(cmd.user_id, cmd.message_ids,
                                 lambda account: account.commit(cmd.message_ids))


async def refund_reservations(cmd: RefundReservations, deps: BillingDeps) -> Settled:
    return await deps.accounts.change(cmd.user_id, cmd.message_ids,
                                 lambda account: account.refund(cmd.message_ids, cmd.reason,
                                                                spent_too=True))


async def get_balance(query: GetBalance, deps: BillingDeps) -> Balance:
    return await deps.accounts.balance(checked_user_id(query.user_id))
