"""Unit tests of plans, subscriptions and quota accounts: no I/O, time passed in."""

from datetime import UTC, datetime, timedelta

import pytest

from services.billing.domain.errors import (
    InvalidBillingRequestError,
    MessageIdTakenError,
    QuotaExceededError,
    ReservationClosedError,
    SubscriptionEndedError,
)
from services.billing.domain.holds import QUOTA, Hold, Holds, period_key
from services.billing.domain.plans import (
    Plan,
    add_months,
    amount_in_cents,
    checked_plan,
    next_boundary,
)
from services.billing.domain.quota import QuotaAccount, checked_instance_id
from services.billing.domain.subscription import (
    ACTIVE,
    CANCELLED,
    EXPIRED,
    Subscription,
    due_change,
    state_of,
)
from services.billing.domain.subscription_events import (
    QuotaPeriodStarted,
    RenewalPaid,
    SubscriptionAutoRenewed,
    SubscriptionExpired,
    SubscriptionRenewed,
    SubscriptionStarted,
)

JAN = datetime(2024, 1, 1, tzinfo=UTC)
FREE = Plan(1, 1, 3, True)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def quota(plan: Plan = FREE, now: datetime = JAN) -> QuotaAccount:
    account = QuotaAccount(Subscription("inst-1"), plan)
    account.ready(now, user_id=7)
    return account


def kinds(subscription: Subscription) -> list[str]:
    return [type(e).__name__ for e in subscription.pending]


@pytest.mark.parametrize(("start", "months", "end"), [
    (at(2024, 1, 1), 1, at(2024, 2, 1)), (at(2024, 1, 31), 1, at(2024, 2, 29)),
    (at(2023, 1, 31), 1, at(2023, 2, 28)), (at(2024, 11, 15), 2, at(2025, 1, 15)),
    (at(2024, 2, 29), 12, at(2025, 2, 28)),
])
def test_add_months_keeps_the_day_or_takes_the_months_last(start, months, end):
    assert add_months(start, months) == end


@pytest.mark.parametrize(("after", "months", "end"), [
    (at(2024, 1, 31), 1, at(2024, 2, 29)), (at(2024, 2, 29), 1, at(2024, 3, 31)),
    (at(2024, 3, 30), 1, at(2024, 3, 31)), (at(2030, 6, 1), 1, at(2030, 6, 30)),
    (at(2024, 1, 31), 12, at(2025, 1, 31)), (at(2027, 2, 1), 12, at(2028, 1, 31)),
])
def test_boundaries_are_counted_from_the_anchor(after, months, end):
    assert next_boundary(at(2024, 1, 31), after, months) == end


def test_monthly_terms_keep_their_day_across_auto_renewals():
    account = quota(now=at(2024, 1, 31))
    ends = []
    for day in (at(2024, 2, 29), at(2024, 3, 31), at(2024, 4, 30)):
        ends.append(account.status(day).end_date)
    assert ends == [at(2024, 3, 31), at(2024, 4, 30), at(2024, 5, 31)]
    rebuilt = Subscription.rebuild("inst-1", account.subscription.pending)
    assert rebuilt.anchor == at(2024, 1, 31)


@pytest.mark.parametrize(("args", "field"), [
    ((0, 1, 10, True), "subscriptionType"), ((5, 1, 10, True), "subscriptionType"),
    ((1, 0, 10, True), "period"), ((1, 3, 10, True), "period"),
    ((1, 1, -1, True), "monthlyQuota"), ((1, 1, 10**9 + 1, True), "monthlyQuota"),
])
def test_bad_plans_are_refused_naming_the_field(args, field):
    with pytest.raises(InvalidBillingRequestError) as caught:
        checked_plan(*args)
    assert caught.value.details == {"field": field}


@pytest.mark.parametrize(("amount", "cents"), [(49.99, 4999), (0, 0), (0.005, 1), (10, 1000)])
def test_amounts_are_kept_in_cents(amount, cents):
    assert amount_in_cents(amount) == cents


@pytest.mark.parametrize("amount", [-0.01, float("nan"), float("inf"), 1e10])
def test_bad_amounts_are_refused(amount):
    with pytest.raises(InvalidBillingRequestError):
        amount_in_cents(amount)


@pytest.mark.parametrize("instance_id", ["", "  ", "x" * 129])
def test_bad_instance_ids_are_refused(instance_id):
    with pytest.raises(InvalidBillingRequestError):
        checked_instance_id(instance_id)


def test_a_new_instance_starts_the_free_plan_once():
    account = quota(now=at(2024, 1, 1, 9, 30, 15, 999))
    account.ready(at(2024, 1, 2), user_id=8)
    sub = account.subscription
    assert kinds(sub) == ["SubscriptionStarted"]
    assert (sub.user_id, sub.plan, sub.status, sub.used) == (7, FREE, ACTIVE, 0)
    assert (sub.start_date, sub.end_date) == (at(2024, 1, 1, 9, 30, 15), at(2024, 2, 1, 9, 30, 15))
    assert (sub.period_start, sub.period_end) == (sub.start_date, sub.end_date)


def test_reserving_counts_each_new_id_once_and_refuses_past_the_quota():
    account = quota()
    first = account.reserve(["a", "b"], JAN)
    again = account.reserve(["b", "a", "c"], JAN)
    assert (first.reserved, first.used, first.remaining) == (2, 2, 1)
    assert (again.reserved, again.already_reserved, again.used) == (1, 2, 3)
    assert not again.has_quota_available and again.usage_percentage == 100.0
    with pytest.raises(QuotaExceededError) as caught:
        account.reserve(["d"], JAN)
    assert caught.value.code == "QUOTA_EXCEEDED"
    assert str(caught.value) == "Monthly message quota exceeded. Required: 1, Remaining: 0"
    assert account.reserve(["c"], JAN).reserved == 0  # a retry still succeeds


def test_a_bulk_reserve_past_the_quota_reserves_nothing():
    account = quota(Plan(1, 1, 2, True))
    before = len(account.subscription.pending)
    with pytest.raises(QuotaExceededError) as caught:
        account.reserve(["a", "b", "c"], JAN)
    assert caught.value.details == {"required": "3", "remaining": "2", "monthly_quota": "2"}
    assert len(account.subscription.pending) == before and account.holds.get("a") is None


def test_usage_percentage_has_one_decimal():
    account = quota(Plan(3, 1, 1000, True))
    account.reserve([f"m{i}" for i in range(245)], JAN)
    state = account.status(JAN)
    assert (state.usage_percentage, state.remaining) == (24.5, 755)
    assert quota(Plan(1, 1, 0, True)).status(JAN).usage_percentage == 0.0


def test_monthly_period_with_auto_renew_renews_itself_with_quota_reset():
    account = quota()
    account.reserve(["a", "b"], JAN)
    state = account.status(at(2024, 3, 5))
    assert kinds(account.subscription)[-2:] == ["SubscriptionAutoRenewed"] * 2
    assert (state.start_date, state.end_date) == (at(2024, 3, 1), at(2024, 4, 1))
    assert (state.used, state.is_active, state.is_expired) == (0, True, False)
    renewed = account.subscription.pending[-1]
    assert isinstance(renewed, SubscriptionAutoRenewed)
    assert renewed.previous_period_start == at(2024, 2, 1)


def test_monthly_period_without_auto_renew_expires_and_refuses_sends():
    account = quota(Plan(2, 1, 10, False))
    account.reserve(["a"], JAN)
    assert account.status(at(2024, 1, 31, 23, 59, 59)).is_active
    state = account.status(at(2024, 2, 1))
    assert (state.status, state.is_active, state.is_expired, state.used) == (EXPIRED, False,
                                                                             True, 1)
    assert not state.has_quota_available
    assert account.subscription.pending[-1] == SubscriptionExpired("inst-1", 7, JAN, at(2024, 2, 1))
    with pytest.raises(QuotaExceededError) as caught:
        account.reserve(["b"], at(2024, 2, 2))
    assert "expired" in str(caught.value)
    assert account.reserve(["a"], at(2024, 2, 2)).reserved == 0  # a retry of an old id
    account.status(at(2025, 1, 1))
    assert kinds(account.subscription).count("SubscriptionExpired") == 1


def test_a_yearly_term_resets_the_quota_every_month():
    account = quota(Plan(4, 2, 5, False), at(2024, 1, 31))
    account.reserve(["a", "b"], at(2024, 1, 31))
    state = account.status(at(2024, 3, 1))
    assert (state.start_date, state.end_date) == (at(2024, 1, 31), at(2025, 1, 31))
    assert (state.period_start, state.period_end) == (at(2024, 2, 29), at(2024, 3, 31))
    assert state.used == 0 and kinds(account.subscription)[-2:] == ["QuotaReserved",
                                                                   "QuotaPeriodStarted"]
    assert account.status(at(2025, 1, 31)).status == EXPIRED


def test_renewal_starts_a_new_term_with_the_new_plan_and_records_the_payment():
    account = quota(Plan(1, 1, 2, False))
    account.reserve(["a", "b"], JAN)
    account.status(at(2024, 2, 10))  # expired
    state = account.renew(Plan(3, 2, 1000, True), 4999, at(2024, 2, 10, 8))
    renewed, paid = account.subscription.pending[-2:]
    assert isinstance(renewed, SubscriptionRenewed) and renewed.previous_period_start is None
    assert paid == RenewalPaid("inst-1", 7, 4999, 3, 2, at(2024, 2, 10, 8))
    assert (state.plan.type_word, state.plan.period_word, state.used) == ("Premium", "Yearly", 0)
    assert (state.start_date, state.end_date) == (at(2024, 2, 10, 8), at(2025, 2, 10, 8))
    assert (state.period_end, state.is_active) == (at(2024, 3, 10, 8), True)


def test_renewing_an_active_subscription_closes_its_period_early():
    account = quota()
    account.renew(Plan(2, 1, 50, True), 0, at(2024, 1, 15))
    renewed = account.subscription.pending[-2]
    assert renewed.previous_period_start == JAN


def test_failed_messages_give_their_quota_back_only_in_their_own_period():
    account = quota(Plan(1, 1, 5, True))
    account.reserve(["old", "keep"], JAN)
    account.reserve(["now1", "now2"], at(2024, 2, 2))
    assert account.subscription.used == 2
    state = account.refund(["old", "now1", "now1", "unknown"], "failed", at(2024, 2, 3))
    assert state.used == 1
    assert account.holds.get("old").state == account.holds.get("now1").state == "refunded"
    with pytest.raises(ReservationClosedError):
        account.reserve(["now1"], at(2024, 2, 3))
    assert account.commit(["now2", "now1"], at(2024, 2, 3)).used == 1
    assert account.refund(["now2"], "late failure", at(2024, 2, 3)).used == 1


def test_an_id_held_by_another_instance_is_refused():
    account = quota()
    account.holds = Holds(QUOTA, {"m": Hold("subscription-other", "open", 0)})
    with pytest.raises(MessageIdTakenError):
        account.reserve(["m"], JAN)


def test_holds_remember_the_period_they_count_against():
    account = quota()
    account.reserve(["a"], JAN)
    assert account.holds.get("a") == Hold("subscription-inst-1", "open", period_key(JAN))


def test_cancelled_subscriptions_refuse_sends_and_renewals():
    account = quota()
    account.cancel("instance deleted", at(2024, 1, 5))
    assert account.subscription.status == CANCELLED
    assert due_change(account.subscription.pending[-1]) == ("inst-1", None)
    with pytest.raises(QuotaExceededError):
        account.reserve(["a"], at(2024, 1, 6))
    with pytest.raises(SubscriptionEndedError):
        account.renew(FREE, 0, at(2024, 1, 6))
    account.cancel("again", at(2024, 1, 7))
    assert kinds(account.subscription).count("SubscriptionCancelled") == 1


def test_cancelling_an_unknown_subscription_records_nothing():
    account = QuotaAccount(Subscription("never"), FREE)
    account.cancel("instance deleted", JAN)
    assert account.changed() == []


def test_events_replay_to_the_same_subscription():
    account = quota(Plan(2, 2, 10, True))
    account.reserve(["a", "b", "c"], JAN)
    account.refund(["a"], "failed", JAN)
    account.status(at(2024, 4, 2))
    account.renew(Plan(1, 1, 4, False), 100, at(2024, 4, 3))
    account.reserve(["d"], at(2024, 4, 3))
    rebuilt = Subscription.rebuild("inst-1", account.subscription.pending)
    assert state_of(rebuilt) == state_of(account.subscription)
    assert rebuilt.due_at == at(2024, 5, 3)


def test_due_changes_follow_the_quota_period():
    started = SubscriptionStarted("i", 1, 1, 1, 5, True, JAN, at(2024, 2, 1), JAN, at(2024, 2, 1))
    period = QuotaPeriodStarted("i", 1, 1, 2, 5, True, JAN, at(2025, 1, 1), at(2024, 2, 1),
                                at(2024, 3, 1))
    assert due_change(started) == ("i", at(2024, 2, 1))
    assert due_change(period) == ("i", at(2024, 3, 1))
    assert due_change(RenewalPaid("i", 1, 0, 1, 1, JAN)) is None


def test_catch_up_is_bounded():
    account = quota()
    account.status(JAN + timedelta(days=365 * 200))
    assert len(account.subscription.pending) == 1 + 1200


def test_a_sent_message_failed_later_gives_its_quota_back_once():
    account = quota(Plan(1, 1, 5, True))
    account.reserve(["a", "b"], JAN)
    account.commit(["a"], JAN)
    assert account.refund(["a"], "released", JAN).used == 2  # a release keeps what was sent
    assert account.refund(["a"], "undeliverable", JAN, spent_too=True).used == 1
    assert account.refund(["a"], "again", JAN, spent_too=True).used == 1
    assert account.holds.get("a").state == "refunded"
