"""Which protobuf message carries which domain event of the device service."""

from __future__ import annotations

from kernel.codec import EventCodec
from services.device.domain import events as ev
from switchboard.device.v1 import events_pb2 as pb


def device_codec() -> EventCodec:
    return EventCodec({
        ev.DeviceRegistered: pb.DeviceRegistered,
        ev.QrIssued: pb.QrIssued,
        ev.DeviceConnected: pb.DeviceConnected,
        ev.DeviceDisconnected: pb.DeviceDisconnected,
        ev.DeviceReconnected: pb.DeviceReconnected,
        ev.DeviceRetired: pb.DeviceRetired,
        ev.DeviceBanned: pb.DeviceBanned,
        ev.DeviceFailed: pb.DeviceFailed,
        ev.DeviceErrorRecorded: pb.DeviceErrorRecorded,
        ev.MessageDispatched: pb.MessageDispatched,
        ev.MessageSent: pb.MessageSent,
        ev.MessageDelivered: pb.MessageDelivered,
        ev.MessageRead: pb.MessageRead,
        ev.MessageFailed: pb.MessageFailed,
        ev.SendAttemptFailed: pb.SendAttemptFailed,
        ev.MessageReceived: pb.MessageReceived,
    })
