"""The billing service's one composition root, used by __main__ and by the tests."""

from __future__ import annotations

from kernel.aggregate import Repository
from kernel.host import Infra, Parts
from services.billing.adapters.codec import billing_codec
from services.billing.adapters.reservations import ReservationReader
from services.billing.app.accounts import Accounts
from services.billing.domain.model import Ledger
from services.billing.ports import events
from services.billing.ports.grpc import SERVICE_NAME, BillingServicer

LEDGER_CACHE_SIZE = 50_000


async def build(infra: Infra) -> Parts:
    codec = billing_codec()
    reservations = ReservationReader(infra.store, codec)
    ledgers = Repository(infra.store, codec, Ledger, cache_size=LEDGER_CACHE_SIZE)
    accounts = Accounts(ledgers, reservations)
    js = infra.js
    workers = [events.worker(js, events.settlement_consumer(js, accounts, reservations))]
    if infra.settings.signup_credits > 0:
        signup = events.signup_consumer(js, accounts, infra.settings.signup_credits)
        workers.append(events.worker(js, signup))
    servicer = BillingServicer(accounts)
    return Parts(registrars=[servicer.register_on], service_names=[SERVICE_NAME],
                 workers=workers)
