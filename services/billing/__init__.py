"""The billing service: credit ledgers and per-message reservations (Messaging API)."""
