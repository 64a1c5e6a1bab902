"""Every router of the gateway, listed in one place (gateway/app.py includes each).

- `messaging_api/`: the Messaging API (seed 002, `/api`, JWT);
- `instance_api/`: the Instance API (seed 000, `/api/v1/whatsapp`, key pair);
- beside them, what both share: health, the simulator's phone side, Meta's Cloud API
  webhook, the rate limiter's lifespan (`limits`) and the operator console's page
  (gateway/console/). /metrics is added by
  gateway/app.py only when it is served on the public port (`metrics`).

`ROUTERS` is the order the OpenAPI document lists them in. Requests try them in
`ROUTING_ORDER`, the two send routers first: FastAPI matches a request against each route
of each router in turn, and the Instance API's send was behind some sixty routes (116 µs
of the gateway's CPU per send, `python -m bench.gateway_asgi`). Which route answers a
request does not depend on the order, since no two routers answer the same method and
path (tests/gateway/test_routing_order.py).
"""

from __future__ import annotations

from gateway import console
from gateway.routes import asyncapi, cloud_webhook, health, limits, simulator
from gateway.routes.instance_api import contacts as instance_contacts
from gateway.routes.instance_api import incoming, instance, quota, send
from gateway.routes.instance_api import media as instance_media
from gateway.routes.messaging_api import (
    admin,
    auth,
    contacts,
    history,
    inbox,
    instance_control,
    instance_view,
    instances,
    media,
    messages,
    stream,
    templates,
    users,
    webhooks,
)

MESSAGING_API = (auth.router, users.router, messages.router, media.router, history.router,
                 stream.router, templates.router, instances.router, instance_control.router,
                 instance_view.router, webhooks.router, admin.router, contacts.router)
INSTANCE_API = (instance.router, quota.router, send.router, instance_media.router,
                instance_contacts.router)
SHARED = (health.router, limits.router, simulator.router, cloud_webhook.router, asyncapi.router,
          console.router)
INBOUND = (inbox.router, incoming.router)  # received messages, in both APIs
ROUTERS = MESSAGING_API + INSTANCE_API + INBOUND + SHARED
HOT = (messages.router, send.router)  # single sends, and bulk, of both APIs
ROUTING_ORDER = HOT + tuple(router for router in ROUTERS if router not in HOT)
