"""The billing service's settings: the kernel's, plus the free plan a new instance starts
on, how often ended quota periods are rolled over, the sign-up credits, and how long a
settlement gathers outcomes."""

from __future__ import annotations

from kernel.config import Settings


class BillingSettings(Settings):
    # The free plan: type 1-4 Basic..Enterprise, period 1 Monthly / 2 Yearly, messages a
    # month; subscriptions whose quota period ended are rolled over (or expired) this
    # often when nobody uses them.
    billing_free_plan_type: int = 1
    billing_free_plan_period: int = 1
    billing_free_plan_quota: int = 100
    billing_free_plan_auto_renew: bool = True
    billing_renewal_interval_seconds: float = 30.0
    signup_credits: int = 0  # granted to each new user
    # How long (s) a settlement batch's first outcome waits for more; failures are also
    # refunded at once by a durable of their own (services/billing/ports/events.py).
    billing_settlement_linger_seconds: float = 0.25
