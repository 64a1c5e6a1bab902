"""One function per billing command; dependencies come in as parameters."""

from __future__ import annotations

from services.billing.app.accounts import Accounts
from services.billing.domain.commands import (
    CommitReservations,
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


async def grant_credits(cmd: GrantCredits, accounts: Accounts) -> Balance:
    def change(account: Account) -> Balance:
        account.ledger.grant(cmd.amount, cmd.reason, cmd.granted_by)
        return account.ledger.balance()

    return await accounts.change(checked_user_id(cmd.user_id), (), change)


async def grant_signup_credits(cmd: GrantSignupCredits, accounts: Accounts) -> Balance:
    def change(account: Account) -> Balance:
        account.ledger.grant_signup(cmd.amount)
        return account.ledger.balance()

    return await accounts.change(checked_user_id(cmd.user_id), (), change)


async def reserve_credits(cmd: ReserveCredits, accounts: Accounts) -> Reserved:
    ids = checked_message_ids(cmd.message_ids)
    return await accounts.change(checked_user_id(cmd.user_id), ids,
                                 lambda account: account.reserve(ids))


async def release_credits(cmd: ReleaseCredits, accounts: Accounts) -> Settled:
    ids = checked_message_ids(cmd.message_ids)
    return await accounts.change(checked_user_id(cmd.user_id), ids,
                                 lambda account: account.refund(ids, cmd.reason))


async def commit_reservations(cmd: CommitReservations, accounts: Accounts) -> Settled:
    return await accounts.change(cmd.user_id, cmd.message_ids,
                                 lambda account: account.commit(cmd.message_ids))


async def refund_reservations(cmd: RefundReservations, accounts: Accounts) -> Settled:
    return await accounts.change(cmd.user_id, cmd.message_ids,
                                 lambda account: account.refund(cmd.message_ids, cmd.reason,
                                                                spent_too=True))


async def get_balance(user_id: int, accounts: Accounts) -> Balance:
    return await accounts.balance(checked_user_id(user_id))
