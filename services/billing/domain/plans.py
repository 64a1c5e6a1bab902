"""Subscription plans (Instance API): type, period, monthly quota, auto-renew; and the
calendar arithmetic of terms and quota periods."""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from services.billing.domain.errors import InvalidBillingRequestError

TYPES = {1: "Basic", 2: "Standard", 3: "Premium", 4: "Enterprise"}
# Period code -> (word, months in a term).
PERIODS = {1: ("Monthly", 1), 2: ("Yearly", 12)}
MAX_MONTHLY_QUOTA = 1_000_000_000
MAX_AMOUNT = 1_000_000_000


@dataclass(frozen=True)
class Plan:
    subscription_type: int
    period: int
    monthly_quota: int
    auto_renew: bool

    @property
    def type_word(self) -> str:
        return TYPES.get(self.subscription_type, "")

    @property
    def period_word(self) -> str:
        return PERIODS.get(self.period, ("", 0))[0]

    @property
    def months(self) -> int:
        return PERIODS[self.period][1]


def checked_plan(subscription_type: int, period: int, monthly_quota: int,
                 auto_renew: bool) -> Plan:
    if subscription_type not in TYPES:
        raise InvalidBillingRequestError(
            "subscriptionType must be 1 (Basic), 2 (Standard), 3 (Premium) or 4 (Enterprise)",
            field="subscriptionType")
    if period not in PERIODS:
        raise InvalidBillingRequestError("period must be 1 (Monthly) or 2 (Yearly)",
                                         field="period")
    if not 0 <= monthly_quota <= MAX_MONTHLY_QUOTA:
        raise InvalidBillingRequestError(
            f"monthlyQuota must be a whole number from 0 to {MAX_MONTHLY_QUOTA}",
            field="monthlyQuota")
    return Plan(subscription_type, period, monthly_quota, auto_renew)


def amount_in_cents(amount: float) -> int:
    """The Instance API's amount (49.99) in cents (4999), rounded half up."""
    if not math.isfinite(amount) or not 0 <= amount <= MAX_AMOUNT:
        raise InvalidBillingRequestError(f"amount must be a number from 0 to {MAX_AMOUNT}",
                                         field="amount")
    cents = (Decimal(repr(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(cents)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later; the month's last day if it is shorter
    (31 January + 1 month = 28 or 29 February)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def term_end(start: datetime, plan: Plan) -> datetime:
    return add_months(start, plan.months)


def next_boundary(anchor: datetime, after: datetime, months: int = 1) -> datetime:
    """The first `anchor` + k·`months` (k >= 1) later than `after`. Every boundary is
    counted from the anchor, so a day lost to a short month is not lost for good (31
    January, 29 February, 31 March)."""
    elapsed = (after.year - anchor.year) * 12 + after.month - anchor.month
    k = max(1, elapsed // months - 1)
    while (end := add_months(anchor, k * months)) <= after:
        k += 1
    return end
