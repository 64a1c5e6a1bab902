"""The billing service's one composition root, used by __main__ and by the tests.

`clock` (a callable returning an aware UTC datetime) is billing's only source of time
for subscriptions: tests pass their own to move it.
"""

from __future__ import annotations

from kernel.config import Settings
from kernel.host import Infra, Parts
from services.billing.adapters.codec import billing_codec
from services.billing.adapters.index_rebuild import ensure_indexes
from services.billing.adapters.quota_projection import QuotaProjection
from services.billing.adapters.quota_view import UsageReader, view_metadata
from services.billing.adapters.units import AccountStore, BillingStore, QuotaStore
from services.billing.app.accounts import Accounts
from services.billing.app.renewals import roll_over_due
from services.billing.app.subscriptions import Clock, Subscriptions, utc_now
from services.billing.app.writer import GroupWriter
from services.billing.domain.model import Ledger
from services.billing.domain.plans import Plan, checked_plan
from services.billing.domain.subscription import Subscription
from services.billing.ports import events, instances, workers
from services.billing.ports.access import ACCESS
from services.billing.ports.grpc import SERVICE_NAME, BillingServicer

CACHE_SIZE = 50_000


def free_plan(settings: Settings) -> Plan:
    return checked_plan(settings.billing_free_plan_type, settings.billing_free_plan_period,
                        settings.billing_free_plan_quota, settings.billing_free_plan_auto_renew)


async def build(infra: Infra, clock: Clock = utc_now) -> Parts:
    codec = billing_codec()
    await ensure_indexes(infra.engine, codec)
    base = BillingStore(infra.store, codec)
    ledgers = base.cache(Ledger, CACHE_SIZE)
    accounts = Accounts(GroupWriter(AccountStore(base, ledgers)), ledgers)
    subs = base.cache(Subscription, CACHE_SIZE)
    plan = free_plan(infra.settings)
    subscriptions = Subscriptions(GroupWriter(QuotaStore(base, subs, plan)), subs, clock)
    servicer = BillingServicer(accounts, subscriptions, UsageReader(infra.engine))
    return Parts(registrars=[servicer.register_on], service_names=[SERVICE_NAME],
                 access=ACCESS, tables=[view_metadata],
                 workers=_workers(infra, accounts, subscriptions, base))


def _workers(infra: Infra, accounts: Accounts, subscriptions: Subscriptions,
             base: BillingStore) -> list[workers.Worker]:
    js, settings = infra.js, infra.settings
    consumers = [events.settlement_consumer(js, accounts, subscriptions, base),
                 instances.instances_consumer(js, subscriptions)]
    if settings.signup_credits > 0:
        consumers.append(events.signup_consumer(js, accounts, settings.signup_credits))
    consumers += QuotaProjection().consumers(js, infra.engine, base.lock)
    return [*(workers.worker(js, c) for c in consumers),
            workers.periodic(lambda: roll_over_due(subscriptions, base),
                             settings.billing_renewal_interval_seconds)]
