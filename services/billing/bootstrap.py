"""The billing service's one composition root, used by __main__ and by the tests.

`clock` (kernel/clock.py's `Clock`: a callable returning an aware UTC datetime) is
billing's only source of time for subscriptions: tests pass their own to move it.
Accounts and quota accounts are changed in groups (kernel/groupchange.py) over the
kernel's repositories of ledgers and subscriptions.
"""

from __future__ import annotations

from kernel.clock import Clock, utcnow
from kernel.groupchange import GroupChange
from kernel.host import Infra, Parts
from kernel.subscriptions import EventSubscription
from services.billing.adapters.codec import billing_codec
from services.billing.adapters.index_rebuild import ensure_indexes
from services.billing.adapters.quota_projection import QuotaProjection
from services.billing.adapters.quota_view import UsageReader, view_metadata
from services.billing.adapters.units import AccountStore, BillingStore, QuotaStore
from services.billing.app.accounts import Accounts
from services.billing.app.dependencies import BillingDeps
from services.billing.app.renewals import roll_over_due
from services.billing.app.subscriptions import Subscriptions
from services.billing.domain.commands import RollOverDue
from services.billing.domain.errors import LedgerBusyError
from services.billing.domain.model import Ledger
from services.billing.domain.plans import Plan, checked_plan
from services.billing.domain.subscription import Subscription
from services.billing.ports import events, instances, workers
from services.billing.ports.access import ACCESS
from services.billing.ports.grpc import SERVICE_NAME, BillingServicer
from services.billing.settings import BillingSettings

CACHE_SIZE = 50_000


def free_plan(settings: BillingSettings) -> Plan:
    return checked_plan(settings.billing_free_plan_type, settings.billing_free_plan_period,
                        settings.billing_free_plan_quota, settings.billing_free_plan_auto_renew)


async def build(infra: Infra[BillingSettings], clock: Clock = utcnow) -> Parts:
    codec = billing_codec()
    await ensure_indexes(infra.engine, codec)
    base = BillingStore(infra.store, codec)
    ledgers = base.repository(Ledger, CACHE_SIZE)
    subs = base.repository(Subscription, CACHE_SIZE)
    quota = GroupChange(QuotaStore(base, subs, free_plan(infra.settings)), LedgerBusyError)
    deps = BillingDeps(
        accounts=Accounts(GroupChange(AccountStore(base, ledgers), LedgerBusyError), ledgers),
        subscriptions=Subscriptions(quota, subs, clock), usage=UsageReader(infra.engine),
        index=base)
    return Parts(registrars=[BillingServicer(deps).register_on], service_names=[SERVICE_NAME],
                 access=ACCESS, tables=[view_metadata],
                 subscriptions=_event_subscriptions(infra, deps, base),
                 workers=[workers.periodic(lambda: roll_over_due(RollOverDue(), deps),
                                           infra.settings.billing_renewal_interval_seconds)])


def _event_subscriptions(infra: Infra[BillingSettings], deps: BillingDeps,
                         base: BillingStore) -> list[EventSubscription]:
    """Device outcomes settle reservations; auth's instances start and end quota plans
    and its new users get the sign-up credits (when any are configured); the quota view
    follows billing's and messaging's events."""
    linger = infra.settings.billing_settlement_linger_seconds
    subs = [*events.settlement(deps, linger), instances.instances(deps)]
    if infra.settings.signup_credits > 0:
        subs.append(events.signup(deps, infra.settings.signup_credits))
    return [*subs, *QuotaProjection().subscriptions(infra.engine, base.lock)]
