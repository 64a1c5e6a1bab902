"""Switchboard's services: auth, billing, messaging, device. Each owns its event store."""
