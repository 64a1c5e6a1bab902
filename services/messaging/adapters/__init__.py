"""The messaging service's edges: event codec, history view, billing and device clients."""
