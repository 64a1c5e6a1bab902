"""One function per instance command or query (create, read, delete, rotate keys,
authenticate), each `handle(cmd, deps)`."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.changes import retrying
from kernel.clock import utcnow
from services.auth.adapters.instances import InstanceStore
from services.auth.app.admin import page_bounds
from services.auth.app.dependencies import AuthDeps
from services.auth.app.view import InstanceEntry
from services.auth.domain import rules
from services.auth.domain.commands import (
    AuthenticateInstance,
    CreateInstance,
    InstanceRef,
    ListInstances,
)
from services.auth.domain.errors import (
    DirectoryBusyError,
    InstanceNotFoundError,
    InvalidInstanceCredentialsError,
    KeyTakenError,
    UserNotFoundError,
)
from services.auth.domain.instances import Instance


@dataclass(frozen=True)
class Issued:
    """An instance and the secret of its new key pair: shown once, never stored."""

    instance: Instance
    secret_key: str


async def create_instance(cmd: CreateInstance, deps: AuthDeps) -> Issued:
    name = rules.valid_instance_name(cmd.instance_name)
    if (await deps.feed.fresh()).active_user(cmd.user_id) is None:
        raise UserNotFoundError()
    store, credentials = deps.instances, deps.credentials

    async def create() -> Issued:
        pair = credentials.new_pair()
        numbers = await store.numbers()
        claim = await store.key_claim(pair.public_key)
        instance = Instance.create(credentials.new_instance_id(), numbers.allocate(),
                                   cmd.user_id, name, pair.public_key, pair.secret_hash,
                                   utcnow())
        claim.claim(pair.public_key, instance.id)
        await store.save(numbers, claim, instance)
        return Issued(instance, pair.secret_key)

    async with store.creating:
        return await retrying(create, also=(KeyTakenError,), busy=DirectoryBusyError)


async def get_instance(ref: InstanceRef, deps: AuthDeps) -> InstanceEntry:
    entry = (await deps.feed.fresh()).instances.get(ref.instance_id)
    if entry is None or (entry.user_id != ref.user_id and not ref.as_admin):
        raise InstanceNotFoundError()
    return entry


async def list_instances(query: ListInstances,
                         deps: AuthDeps) -> tuple[list[InstanceEntry], int]:
    """One user's instances, or (user_id None) everyone's, in creation order."""
    bounds = page_bounds(query.page, query.per_page)
    return (await deps.feed.fresh()).instances_page(query.user_id, *bounds)


async def delete_instance(ref: InstanceRef, deps: AuthDeps) -> Instance:
    async def delete() -> Instance:
        instance = await _owned(ref, deps.instances)
        instance.delete()
        await deps.instances.save(instance)
        return instance

    return await retrying(delete, busy=DirectoryBusyError)


async def rotate_keys(ref: InstanceRef, deps: AuthDeps) -> Issued:
    """A new pair; the old one stops working at once (its public key is never reused)."""
    store, credentials = deps.instances, deps.credentials

    async def rotate() -> Issued:
        instance = await _owned(ref, store)
        pair = credentials.new_pair()
        claim = await store.key_claim(pair.public_key)
        claim.claim(pair.public_key, instance.id)
        instance.rotate_keys(pair.public_key, pair.secret_hash)
        await store.save(claim, instance)
        return Issued(instance, pair.secret_key)

    return await retrying(rotate, also=(KeyTakenError,), busy=DirectoryBusyError)


async def authenticate_instance(cmd: AuthenticateInstance, deps: AuthDeps) -> InstanceEntry:
    """The live instance of a current key pair whose owner may sign in; the same work and
    the same answer for every kind of failure."""
    view = await deps.feed.fresh()
    entry = view.by_key(cmd.public_key)
    usable = entry is not None and view.active_user(entry.user_id) is not None
    expected = entry.secret_hash if entry is not None and usable else ""
    if not deps.credentials.matches(expected, cmd.secret_key) or entry is None:
        raise InvalidInstanceCredentialsError()
    return entry


async def _owned(ref: InstanceRef, store: InstanceStore) -> Instance:
    if not rules.is_instance_id(ref.instance_id):
        raise InstanceNotFoundError()
    instance = await store.instance(ref.instance_id)
    instance.check_access(ref.user_id, ref.as_admin)
    return instance
