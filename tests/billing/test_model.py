"""Unit tests of the ledger, holds and account rules: no I/O."""

import pytest

from services.billing.domain.errors import (
    InsufficientCreditsError,
    InvalidBillingRequestError,
    MessageIdTakenError,
    ReservationClosedError,
)
from services.billing.domain.events import (
    CreditsReleased,
    CreditsReserved,
    CreditsSpent,
)
from services.billing.domain.holds import (
    COMMITTED,
    CREDIT,
    OPEN,
    REFUNDED,
    Hold,
    HoldChange,
    Holds,
    hold_changes,
)
from services.billing.domain.model import (
    Account,
    Balance,
    Ledger,
    checked_message_ids,
    checked_user_id,
)


def account(user_id=7, credits=0) -> Account:
    ledger = Ledger(str(user_id))
    if credits:
        ledger.grant(credits, "test", 0)
    return Account(ledger)


def test_grant_adds_credits_and_refuses_non_positive_amounts():
    ledger = Ledger("1")
    ledger.grant(5, "top-up", 99)
    assert ledger.balance().available == 5
    for amount in (0, -3, 10**9 + 1):
        with pytest.raises(InvalidBillingRequestError):
            ledger.grant(amount, "nope", 99)
    assert len(ledger.pending) == 1


def test_signup_credits_are_granted_once():
    ledger = Ledger("1")
    ledger.grant_signup(0)
    assert not ledger.pending and not ledger.signup_granted
    ledger.grant_signup(10)
    ledger.grant_signup(10)
    assert ledger.available == 10 and len(ledger.pending) == 1
    assert Ledger.rebuild("1", ledger.pending).signup_granted


def test_reserve_moves_credits_from_available_to_reserved():
    acc = account(credits=3)
    done = acc.reserve(["m1", "m2"])
    assert (done.reserved, done.already_reserved, done.remaining) == (2, 0, 1)
    assert acc.ledger.balance().reserved == 2
    assert all(acc.holds.get(m) == Hold("ledger-7", OPEN) for m in ("m1", "m2"))
    assert acc.ledger.pending[-1] == CreditsReserved(7, ("m1", "m2"), 2)


def test_insufficient_credits_reserves_nothing_and_says_how_many():
    acc = account(credits=1)
    acc.ledger.pending.clear()
    with pytest.raises(InsufficientCreditsError) as caught:
        acc.reserve(["a", "b", "c"])
    assert str(caught.value) == "Not enough credits to send message. Required: 3, Available: 1"
    assert caught.value.details == {"required": "3", "available": "1"}
    assert caught.value.code == "INSUFFICIENT_CREDITS"
    assert acc.changed() == [] and acc.ledger.available == 1


def test_reserving_the_same_ids_again_charges_only_the_new_ones():
    acc = account(credits=5)
    acc.reserve(["a", "b"])
    again = acc.reserve(["b", "a", "c", "c"])
    assert (again.reserved, again.already_reserved, again.remaining) == (1, 2, 2)


def test_an_id_reserved_by_another_user_is_refused():
    acc = account(user_id=7, credits=5)
    acc.holds = Holds(CREDIT, {"m1": Hold("ledger-8", OPEN)})
    acc.ledger.pending.clear()
    with pytest.raises(MessageIdTakenError):
        acc.reserve(["m2", "m1"])
    assert acc.ledger.available == 5 and acc.changed() == [] and acc.holds.get("m2") is None


def test_commit_spends_once_and_refund_after_commit_changes_nothing():
    acc = account(credits=2)
    acc.reserve(["a"])
    assert acc.commit(["a", "a"]).count == 1
    assert acc.commit(["a"]).count == 0
    assert acc.refund(["a"], "failed").count == 0
    assert acc.holds.get("a").state == COMMITTED
    assert acc.ledger.balance() == Balance(7, 1, 0)


def test_refund_gives_credits_back_once_and_commit_after_refund_changes_nothing():
    acc = account(credits=2)
    acc.reserve(["a", "b"])
    settled = acc.refund(["a", "a", "unknown"], "failed")
    assert (settled.count, settled.remaining) == (1, 1)
    assert acc.refund(["a"], "failed").count == 0
    assert acc.commit(["a"]).count == 0
    assert acc.holds.get("a").state == REFUNDED
    assert (acc.ledger.available, acc.ledger.reserved) == (1, 1)


def test_settling_another_users_reservation_changes_nothing():
    acc = account(user_id=7, credits=1)
    acc.holds = Holds(CREDIT, {"x": Hold("ledger-8", OPEN)})
    acc.ledger.pending.clear()
    assert acc.refund(["x"], "failed").count == 0 and acc.commit(["x"]).count == 0
    assert acc.holds.get("x") == Hold("ledger-8", OPEN) and acc.changed() == []


def test_ledger_events_replay_to_the_same_numbers():
    acc = account(credits=10)
    acc.reserve(["a", "b", "c", "d"])
    acc.commit(["a", "b"])
    acc.refund(["c"], "failed")
    kinds = {type(e) for e in acc.ledger.pending}
    assert {CreditsSpent, CreditsReleased} <= kinds
    rebuilt = Ledger.rebuild("7", acc.ledger.pending)
    assert rebuilt.balance() == acc.ledger.balance()
    assert (rebuilt.available, rebuilt.reserved) == (7, 1)


def test_ledger_events_name_the_holds_they_change():
    acc = account(credits=10)
    acc.reserve(["a", "b", "c"])
    acc.commit(["a"])
    acc.refund(["b"], "failed")
    changes = [c for e in acc.ledger.pending for c in hold_changes("ledger-7", e)]
    assert changes == [
        HoldChange(CREDIT, "a", "ledger-7", OPEN, 0), HoldChange(CREDIT, "b", "ledger-7", OPEN, 0),
        HoldChange(CREDIT, "c", "ledger-7", OPEN, 0),
        HoldChange(CREDIT, "a", "ledger-7", COMMITTED, None),
        HoldChange(CREDIT, "b", "ledger-7", REFUNDED, None)]
    replayed = Holds(CREDIT)
    replayed.absorb("ledger-7", acc.ledger.pending)
    assert all(replayed.get(m) == acc.holds.get(m) for m in "abc")


@pytest.mark.parametrize("ids", [(), ("",), ("  ",), ("x" * 129,), tuple(map(str, range(1001)))])
def test_bad_message_ids_are_refused(ids):
    with pytest.raises(InvalidBillingRequestError):
        checked_message_ids(ids)


@pytest.mark.parametrize("user_id", [0, -1])
def test_bad_user_ids_are_refused(user_id):
    with pytest.raises(InvalidBillingRequestError):
        checked_user_id(user_id)


def test_a_refunded_id_cannot_be_reserved_again():
    acc = account(credits=2)
    acc.reserve(["gone"])
    acc.refund(["gone"], "failed")
    acc.ledger.pending.clear()
    with pytest.raises(ReservationClosedError):
        acc.reserve(["new", "gone"])
    assert acc.ledger.balance() == Balance(7, 2, 0) and not acc.ledger.pending


def test_a_spent_message_failed_later_is_refunded_once():
    acc = account(credits=3)
    acc.reserve(["a", "b"])
    acc.commit(["a"])
    assert acc.refund(["a"], "failed").count == 0  # a release keeps what was spent
    settled = acc.refund(["a", "b"], "undeliverable", spent_too=True)
    assert (settled.count, acc.ledger.available, acc.ledger.reserved) == (2, 3, 0)
    assert acc.refund(["a", "b"], "again", spent_too=True).count == 0
    rebuilt = Ledger.rebuild("7", acc.ledger.pending)
    assert (rebuilt.available, rebuilt.reserved) == (3, 0)
