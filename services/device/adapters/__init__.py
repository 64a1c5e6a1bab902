"""The device service's adapters: the event codec, the device directory, session leases in
NATS KV, QR images, the auth look-up, and the three transports, one package each
(`simulator/`, `whatsmeow/`, `cloud/`), beside what they share: `transports.py` picks one
from the settings, `tasks.py` keeps their background tasks, `send_ledger.py` keeps the
real transports' sends at most once."""
