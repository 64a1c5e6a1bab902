"""NATS users: one per service and one for the gateway, each allowed only its own work.

A service publishes its own events (`sb.<service>.>`) and manages its own stream; reads
(durable consumers, replays, live subscriptions) the streams it consumes; and uses its
own KV buckets. The gateway only uses its rate-limit bucket. Replies come to the user's
own inbox prefix, `_INBOX_<user>` (kernel/subjects.py), so no user sees another's replies.
`reader` is for outside systems: it may subscribe to the events (`sb.>`) and nothing else,
and publish nothing (docs/events.md).

`switchboard up` writes these users into the nats-server's authorization file with
passwords generated on first start and kept in `<var_dir>/secrets/nats-<user>` (0600);
the k8s manifests carry the same file, rendered with environment variable references
(`python -m launcher.natsauth > deploy/k8s/base/nats/auth.conf`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kernel.config import Settings
from kernel.keys import private_dir, secret_path, stored_secret
from kernel.subjects import inbox_prefix, stream_name, subject
from launcher.settings import StackSettings

GATEWAY = "gateway"
READER = "reader"
S = TypeVar("S", bound=Settings)


@dataclass(frozen=True)
class Grant:
    """What one user does on NATS: setting names of its KV buckets, the services whose
    event streams it reads (a consumer waits for a stream its owner has not created
    yet), and whether it owns (publishes) a stream of its own."""

    buckets: Sequence[str] = ()
    reads: Sequence[str] = ()
    owns_stream: bool = True
    # subjects it only listens to live (core subscriptions: no consumer, no publish)
    listens: Sequence[str] = ()
    replies: bool = True  # whether it needs an inbox (any request, JetStream's API)


GRANTS = {
    "auth": Grant(buckets=["login_throttle_bucket"]),
    "billing": Grant(reads=["auth", "billing", "device", "messaging"]),
    "messaging": Grant(reads=["messaging", "device"]),
    "device": Grant(buckets=["device_lease_bucket"], reads=["auth", "messaging"]),
    GATEWAY: Grant(buckets=["rate_limit_bucket"], owns_stream=False),
    # A consumer on a stream could also delete the services' durables: outside systems
    # get live subscriptions only.
    READER: Grant(owns_stream=False, listens=["sb.>"], replies=False),
}
USERS = tuple(GRANTS)


@dataclass(frozen=True)
class Permissions:
    publish: list[str]
    subscribe: list[str]


def _stream_reader(stream: str) -> list[str]:
    """Consumers of a stream: create (durable, ephemeral, filtered), info, list, fetch,
    delete; and acks."""
    api = "$JS.API.CONSUMER"
    return [f"$JS.API.STREAM.INFO.{stream}", f"{api}.*.{stream}", f"{api}.*.{stream}.>",
            f"{api}.DURABLE.CREATE.{stream}.>", f"{api}.MSG.NEXT.{stream}.>",
            f"$JS.ACK.{stream}.>"]


def _bucket_user(bucket: str) -> list[str]:
    stream = f"KV_{bucket}"
    return [f"$JS.API.STREAM.CREATE.{stream}", f"$JS.API.STREAM.MSG.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}", f"$JS.API.DIRECT.GET.{stream}.>",
            *_stream_reader(stream), f"$KV.{bucket}.>"]


SettingOf = Callable[[str], Any]  # a setting's name -> its value


def default_setting(name: str) -> Any:
    return StackSettings.model_fields[name].default


def configured(settings: StackSettings) -> SettingOf:
    return lambda name: getattr(settings, name)


def buckets_of(user: str, setting: SettingOf) -> list[str]:
    """The user's KV buckets. With user tokens open at the services' gRPC edge
    (`grpc_user_tokens`), the services count users' calls in the gateway's bucket too."""
    names = list(GRANTS[user].buckets)
    if GRANTS[user].owns_stream and setting("grpc_user_tokens"):
        names.append("rate_limit_bucket")
    return [str(setting(name)) for name in names]


def permissions(user: str, setting: SettingOf = default_setting) -> Permissions:
    grant = GRANTS[user]
    publish: list[str] = []
    if grant.owns_stream:
        own = stream_name(user)
        publish += [subject(user), f"$JS.API.STREAM.CREATE.{own}",
                    f"$JS.API.STREAM.UPDATE.{own}", *_stream_reader(own)]
    for service in grant.reads:
        publish += [p for p in _stream_reader(stream_name(service)) if p not in publish]
    for bucket in buckets_of(user, setting):
        publish += _bucket_user(bucket)
    inbox = [f"{inbox_prefix(user)}.>"] if grant.replies else []
    subscribe = [*inbox, *(subject(s) for s in grant.reads), *grant.listens]
    return Permissions(publish, subscribe)


def render(setting: SettingOf, password: Callable[[str], str]) -> str:
    """nats-server's authorization block; `password(user)` is a quoted string or a
    `$VARIABLE` the server reads from its environment."""
    users = []
    for user in USERS:
        allowed = permissions(user, setting)
        users.append("\n".join([
            f"    {{user: {json.dumps(user)}, password: {password(user)}, permissions: {{",
            f"      publish: {_publish(allowed.publish)}",
            f"      subscribe: {{allow: {_listing(allowed.subscribe)}}}}}}}",
        ]))
    return "authorization {\n  users = [\n" + ",\n".join(users) + "\n  ]\n}\n"


def _publish(subjects: list[str]) -> str:
    """An empty allow list would allow everything: a user that publishes nothing is
    denied every subject instead."""
    return f"{{allow: {_listing(subjects)}}}" if subjects else '{deny: [">"]}'


def _listing(subjects: list[str]) -> str:
    lines = "".join(f"        {json.dumps(s)}\n" for s in subjects)
    return f"[\n{lines}      ]"


def env_name(user: str) -> str:
    """The variable the k8s nats-server reads `user`'s password from."""
    return f"NATS_{user.upper()}_PASSWORD"


def stored_passwords(var_dir: Path) -> dict[str, str]:
    """Each user's password, generated on first start, kept 0600 under var_dir/secrets."""
    return {user: stored_secret(var_dir, f"nats-{user}")[0] for user in USERS}


def write_server_config(settings: StackSettings, var_dir: Path) -> Path:
    """The embedded nats-server's authorization file (0600, beside its store)."""
    passwords = stored_passwords(var_dir)
    path = private_dir(var_dir / "nats") / "auth.conf"
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(render(configured(settings),
                           lambda user: json.dumps(passwords[user])))
    return path


def credentials_env(user: str, var_dir: Path) -> dict[str, str]:
    """The settings a process of `user` connects with."""
    password = stored_passwords(var_dir)[user]
    return {"SWITCHBOARD_NATS_USER": user, "SWITCHBOARD_NATS_PASSWORD": password}


def as_user(user: str, settings: S) -> S:
    """`settings` with `user`'s NATS credentials kept by `switchboard up`, for a command
    run beside the stack (unless credentials are set, or there are none kept)."""
    kept = secret_path(settings.var_dir, f"nats-{user}")
    if settings.nats_user or "@" in settings.nats_url or not kept.exists():
        return settings
    return settings.model_copy(update={"nats_user": user,
                                       "nats_password": kept.read_text().strip()})


def k8s_config() -> str:
    header = ("# Generated by `python -m launcher.natsauth` from launcher/natsauth.py: edit "
              "there, not here.\n# Passwords come from the nats pods' environment "
              "(Secret switchboard-secrets).\n")
    return header + render(default_setting, lambda user: f"${env_name(user)}")


if __name__ == "__main__":
    sys.stdout.write(k8s_config())
