"""The messaging service: send (validate, charge, queue) and the history view.

`domain/` holds the rules, `app/` the handlers, `adapters/` the store, codec, view and
the gRPC clients of billing and device, `ports/` the gRPC API; `bootstrap.build` wires it.
"""
