"""Which of billing's RPCs a *user* token may call (when SWITCHBOARD_GRPC_USER_TOKENS
lets user tokens in; service tokens call everything): a user reads their own balance; an
admin grants credits. Reservations, quota and renewals are the services' own."""

from kernel.tokens import ADMIN, USER, access_table
from switchboard.billing.v1 import billing_pb2

ACCESS = access_table(
    billing_pb2.DESCRIPTOR.services_by_name["BillingService"],
    GetBalance=USER, GrantCredits=ADMIN,
)
