"""Linking a device by a pairing code instead of a QR: the owner asks for a code for
the phone's number, and the phone of that number types it (WhatsApp's "Link with phone
number instead"). The transport vouches for the link it reports (`Linked` with no QR
reference); nothing is recorded until then, so the device stays as it was."""

from __future__ import annotations

from services.device.app.devices import DeviceDeps, asking_far_side, get_device
from services.device.app.transport import Pairing, digits
from services.device.domain.commands import GetDevice, RequestPairingCode, SimulatePairingCode
from services.device.domain.errors import InvalidPhoneNumberError, SimulatorOnlyError
from services.device.domain.model import Device

CODE_LENGTH = 8  # WhatsApp's: two groups of four, shown as ABCD-EFGH


def phone_digits(raw: str) -> str:
    """A phone number in international format as its digits (7 to 15, E.164)."""
    found = digits(raw)
    if not 7 <= len(found) <= 15 or any(c.isalpha() for c in raw):
        raise InvalidPhoneNumberError(f"Invalid phone number: {raw[:40]} (international "
                                      "format, country code first, 7 to 15 digits)")
    return found


async def request_pairing_code(cmd: RequestPairingCode, deps: DeviceDeps) -> Pairing:
    """The device's code for the phone (8 characters, without WhatsApp's dash)."""
    phone = phone_digits(cmd.phone_number)
    device = await get_device(GetDevice(cmd.device_id), deps)
    device.check_can_issue_qr()
    pairing = await asking_far_side(
        deps, cmd.device_id, lambda d: deps.transport.request_pairing_code(d, phone))
    return Pairing(pairing.pairing_ref.replace("-", "").upper(), pairing.expires_at)


async def simulate_pairing_code(cmd: SimulatePairingCode, deps: DeviceDeps) -> Device:
    if deps.simulator is None:
        raise SimulatorOnlyError("this device service does not run the simulator")
    phone = phone_digits(cmd.phone_number)
    device_id = await deps.simulator.enter_pairing_code(cmd.code, phone)
    return await get_device(GetDevice(device_id), deps)
