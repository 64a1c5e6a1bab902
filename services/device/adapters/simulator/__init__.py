"""The simulator transport, the default: WhatsApp's far side simulated in a SQLite file
(linked sessions, QR pairings, every recipient's inbox) so that tests and local runs
link, send and get receipts without a phone. It exports `SimulatorTransport` (the
transport, in `transport.py`) and, from `far_side.py`, `SimulatedWhatsApp` (the far side
replicas on one machine share) with the `Outage` kinds it can be put into."""

from services.device.adapters.simulator.far_side import Outage, SimulatedWhatsApp
from services.device.adapters.simulator.transport import SimulatorTransport

__all__ = ["Outage", "SimulatedWhatsApp", "SimulatorTransport"]
