"""DeviceService over gRPC: translates requests into handler calls and results back.

Domain errors are turned into statuses by the kernel's edge interceptor (one table).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import grpc

from kernel.clock import to_timestamp
from services.device.app import contacts, devices, linking, owner, queries, simulation
from services.device.app.devices import DeviceDeps, wired
from services.device.app.views import DeviceView
from services.device.domain.commands import (
    CheckNumbers,
    GetDevice,
    GetPoolStatus,
    GetSimulatorInbox,
    ListDevices,
    LogoutDevice,
    RegisterDevice,
    RequestPairingCode,
    RequestQr,
    RestartDevice,
    SimulateInbound,
    SimulatePairingCode,
    SimulatePhoneEvent,
    SimulateScan,
)
from services.device.domain.errors import InvalidDeviceIdError
from services.device.domain.model import Device
from switchboard.device.v1 import device_pb2, device_pb2_grpc

SERVICE_NAME = device_pb2.DESCRIPTOR.services_by_name["DeviceService"].full_name
ON_WHATSAPP = {True: device_pb2.ON_WHATSAPP_YES, False: device_pb2.ON_WHATSAPP_NO,
               None: device_pb2.ON_WHATSAPP_UNKNOWN}


def device_message(view: DeviceView, now: datetime) -> device_pb2.Device:
    """The device as callers see it: an AwaitingScan whose QR expired is Disconnected."""
    shown = view.status_at(now)
    status = device_pb2.DeviceStatus.Value(f"DEVICE_STATUS_{shown.name}") \
        if shown.name not in ("NEW", "RETIRED") else device_pb2.DEVICE_STATUS_UNSPECIFIED
    return device_pb2.Device(
        device_id=view.device_id, name=view.name, owner_user_id=view.owner_user_id,
        pooled=view.pooled, transport=view.transport, status=status,
        phone_number=view.phone_number, status_reason=view.reason,
        qr_expires_at=to_timestamp(view.qr_expires_at), updated_at=to_timestamp(view.updated_at),
        session_linked=view.session_linked, connected_at=to_timestamp(view.connected_at),
        created_at=to_timestamp(view.created_at), instance_number=view.instance_number,
        last_error=view.last_error, last_error_at=to_timestamp(view.last_error_at))


class DeviceServicer(device_pb2_grpc.DeviceServiceServicer):
    def __init__(self, deps: DeviceDeps) -> None:
        self.deps = deps

    def register(self, server: grpc.aio.Server) -> None:
        device_pb2_grpc.add_DeviceServiceServicer_to_server(self, server)

    def _message(self, device: Device) -> device_pb2.Device:
        return device_message(DeviceView.of(device), self.deps.clock())

    async def GetPoolStatus(self, request: Any, context: Any) -> device_pb2.PoolStatus:
        view = await queries.get_pool_status(GetPoolStatus(), self.deps)
        return device_pb2.PoolStatus(available_devices=view.available_devices,
                                     total_devices=view.total_devices,
                                     queue_depth=view.queue_depth, queue_type=view.queue_type,
                                     linked_devices=view.linked_devices,
                                     transport=view.transport)

    async def RegisterDevice(self, request: Any, context: Any) -> device_pb2.Device:
        cmd = RegisterDevice(request.device_id or uuid.uuid4().hex, request.name,
                             request.owner_user_id)
        return self._message(await devices.register_device(cmd, self.deps))

    async def GetDevice(self, request: Any, context: Any) -> device_pb2.Device:
        query = GetDevice(_device_id(request))
        return self._message(await devices.get_device(query, self.deps))

    async def ListDevices(self, request: Any, context: Any) -> device_pb2.ListDevicesResponse:
        owner = request.owner_user_id if request.HasField("owner_user_id") else None
        views = await queries.list_devices(ListDevices(owner, request.pooled_only), self.deps)
        now = self.deps.clock()
        return device_pb2.ListDevicesResponse(devices=[device_message(v, now) for v in views])

    async def RequestQrCode(self, request: Any, context: Any) -> device_pb2.QrCode:
        pairing = await devices.request_qr(RequestQr(_device_id(request)), self.deps)
        left = (pairing.expires_at - self.deps.clock()).total_seconds()
        render = wired(self.deps.render_qr, "render_qr")
        return device_pb2.QrCode(
            device_id=request.device_id, pairing_ref=pairing.pairing_ref,
            qr_png_data_url=render(pairing.pairing_ref),
            expires_at=to_timestamp(pairing.expires_at), expires_in_seconds=max(0, int(left)))

    async def RequestPairingCode(self, request: Any, context: Any) -> device_pb2.PairingCode:
        cmd = RequestPairingCode(_device_id(request), request.phone_number)
        pairing = await linking.request_pairing_code(cmd, self.deps)
        left = (pairing.expires_at - self.deps.clock()).total_seconds()
        return device_pb2.PairingCode(
            device_id=request.device_id, code=pairing.pairing_ref,
            expires_at=to_timestamp(pairing.expires_at), expires_in_seconds=max(0, int(left)))

    async def SimulatePairingCode(self, request: Any, context: Any) -> device_pb2.Device:
        cmd = SimulatePairingCode(request.code, request.phone_number)
        return self._message(await linking.simulate_pairing_code(cmd, self.deps))

    async def CheckNumbers(self, request: Any,
                           context: Any) -> device_pb2.CheckNumbersResponse:
        cmd = CheckNumbers(tuple(request.numbers), request.device_id)
        answers = await contacts.check_numbers(cmd, self.deps)
        return device_pb2.CheckNumbersResponse(numbers=[
            device_pb2.NumberCheck(number=n, on_whatsapp=ON_WHATSAPP[on])
            for n, on in answers])

    async def LogoutDevice(self, request: Any, context: Any) -> device_pb2.Device:
        cmd = LogoutDevice(_device_id(request))
        return self._message(await owner.logout_device(cmd, self.deps))

    async def RestartDevice(self, request: Any, context: Any) -> device_pb2.Device:
        cmd = RestartDevice(_device_id(request))
        return self._message(await owner.restart_device(cmd, self.deps))

    async def SimulateScan(self, request: Any, context: Any) -> device_pb2.Device:
        cmd = SimulateScan(request.pairing_ref, request.phone_number)
        return self._message(await simulation.simulate_scan(cmd, self.deps))

    async def SimulatePhoneEvent(self, request: Any, context: Any) -> device_pb2.Device:
        cmd = SimulatePhoneEvent(_device_id(request), request.kind, request.reason,
                                 request.outage_seconds)
        return self._message(await simulation.simulate_phone_event(cmd, self.deps))

    async def SimulateInbound(self, request: Any, context: Any) -> device_pb2.SimulatedInbound:
        cmd = SimulateInbound(
            request.from_number, request.to_number, request.text,
            request.media if request.media else None, request.mime_type, request.filename,
            request.quoted_message_id, request.group_id, request.message_id)
        device_id, tmid = await simulation.simulate_inbound(cmd, self.deps)
        return device_pb2.SimulatedInbound(device_id=device_id, transport_message_id=tmid)

    async def GetSimulatorInbox(self, request: Any, context: Any) -> device_pb2.SimulatorInbox:
        query = GetSimulatorInbox(request.phone_number)
        messages = await simulation.get_simulator_inbox(query, self.deps)
        return device_pb2.SimulatorInbox(messages=[
            device_pb2.InboxMessage(transport_message_id=m.transport_message_id,
                                    from_number=m.from_number, body=m.body,
                                    device_id=m.device_id, received_at=to_timestamp(m.received_at),
                                    **inbox_media(m.media))
            for m in messages])


def inbox_media(media: Any) -> dict[str, Any]:
    """A simulated phone's received file, as InboxMessage's fields (none for a text)."""
    if media is None:
        return {}
    return {"media_sha256": media.sha256, "media_type": media.kind,
            "mime_type": media.mime_type, "media_size": media.size,
            "filename": media.filename}


def _device_id(request: Any) -> str:
    if not request.device_id:
        raise InvalidDeviceIdError("device_id is required")
    return str(request.device_id)
