"""The billing service: credit ledgers (Messaging API), instance subscriptions with a
monthly quota (Instance API), reservations against both, and the quota view.
See services/billing/README.md."""
