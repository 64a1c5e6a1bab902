"""The words both APIs show for the state of an instance's device (seed 000):
"Connected", "Disconnected" (never linked, logged out, a network loss being reconnected,
or a QR that expired unscanned), "AwaitingScan" (a QR is out and fresh), "Banned",
"Failed" (a reconnect gave up or the session broke: restart or re-link).
"""

from __future__ import annotations

from switchboard.device.v1 import device_pb2

STATUS_WORDS = {
    device_pb2.DEVICE_STATUS_CONNECTED: "Connected",
    device_pb2.DEVICE_STATUS_DISCONNECTED: "Disconnected",
    device_pb2.DEVICE_STATUS_AWAITING_SCAN: "AwaitingScan",
    device_pb2.DEVICE_STATUS_BANNED: "Banned",
    device_pb2.DEVICE_STATUS_FAILED: "Failed",
}


def status_word(device: device_pb2.Device) -> str:
    return STATUS_WORDS.get(device.status, "Disconnected")
