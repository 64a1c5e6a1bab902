"""Instances and their key pairs over real gRPC, on SQLite and PostgreSQL, with a real NATS:
one pair per instance, the secret shown once and stored only as a keyed hash, rotation and
deletion effective at once on every replica, foreign instances invisible."""

import asyncio
import re

import grpc
import pytest
from nats.aio.client import Client as NATS

from switchboard.auth.v1 import auth_pb2, events_pb2
from tests.auth.support import authenticate, create, failure, new_user, ref

INSTANCE_ID = re.compile(r"[0-9a-f]{6}-[0-9a-f]{6}")


async def test_create_returns_a_pair_whose_secret_is_only_stored_hashed(start_auth):
    running = await start_auth()
    stub, store = running.stub, running.host.infra.store
    owner = await new_user(stub, "owner")
    made = await create(stub, owner, "  Main WhatsApp ")
    instance = made.instance
    assert INSTANCE_ID.fullmatch(instance.instance_id)
    assert (instance.user_id, instance.instance_name, instance.id) == (owner, "Main WhatsApp", 1)
    assert instance.public_key.startswith("pk_") and made.secret_key.startswith("sk_")
    assert len(made.secret_key) >= 40 and instance.HasField("created_at")
    stored = await store.read_all(0, limit=10_000)
    assert all(made.secret_key.encode() not in e.payload for e in stored)
    created = [events_pb2.InstanceCreated.FromString(e.payload) for e in stored
               if e.event_type == "InstanceCreated"]
    assert len(created) == 1 and len(created[0].secret_hash) == 64
    assert created[0].public_key == instance.public_key
    found = await authenticate(stub, instance.public_key, made.secret_key)
    assert (found.instance_id, found.user_id, found.id) == (instance.instance_id, owner, 1)


async def test_numbers_count_up_and_public_keys_differ(auth):
    owner = await new_user(auth, "many")
    made = [await create(auth, owner, f"n{i}") for i in range(4)]
    assert [m.instance.id for m in made] == [1, 2, 3, 4]
    assert len({m.instance.public_key for m in made}) == 4
    assert len({m.instance.instance_id for m in made}) == 4
    listed = await auth.ListInstances(auth_pb2.ListInstancesRequest(user_id=owner))
    assert [i.instance_name for i in listed.instances] == ["n0", "n1", "n2", "n3"]
    assert listed.total == 4 and all(not hasattr(i, "secret_key") for i in listed.instances)


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\tname"])
async def test_bad_instance_names_are_invalid_request(auth, name):
    owner = await new_user(auth, "namer")
    error = await failure(create(auth, owner, name))
    assert (error.status, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST")


async def test_an_unknown_user_cannot_create_instances(auth):
    error = await failure(create(auth, 987654))
    assert error.reason == "NOT_FOUND"


@pytest.mark.parametrize("case", ["empty secret", "wrong secret", "unknown public key"])
async def test_wrong_or_unknown_pairs_are_invalid_credentials(auth, case):
    owner = await new_user(auth, "keys")
    made = await create(auth, owner)
    public, secret = {"empty secret": (made.instance.public_key, ""),
                      "wrong secret": (made.instance.public_key, made.secret_key + "x"),
                      "unknown public key": ("pk_" + "0" * 32, made.secret_key)}[case]
    error = await failure(authenticate(auth, public, secret))
    assert (error.status, error.reason) == (grpc.StatusCode.UNAUTHENTICATED,
                                            "INVALID_CREDENTIALS")
    assert error.message == "Invalid or revoked API credentials"


async def test_foreign_instances_are_not_found_unless_admin(auth):
    alice, bob = await new_user(auth, "alice"), await new_user(auth, "bob")
    made = await create(auth, alice)
    iid = made.instance.instance_id
    for call in (auth.GetInstance(ref(bob, iid)), auth.DeleteInstance(ref(bob, iid)),
                 auth.RotateInstanceKeys(ref(bob, iid)),
                 auth.GetInstance(ref(alice, "ffffff-ffffff")),
                 auth.GetInstance(ref(alice, "not-an-id"))):
        error = await failure(call)
        assert (error.status, error.reason, error.message) == \
            (grpc.StatusCode.NOT_FOUND, "NOT_FOUND", "Instance not found")
    assert (await auth.ListInstances(auth_pb2.ListInstancesRequest(user_id=bob))).total == 0
    assert (await auth.GetInstance(ref(bob, iid, as_admin=True))).user_id == alice
    everyone = await auth.ListInstances(auth_pb2.ListInstancesRequest(all_users=True))
    assert iid in [i.instance_id for i in everyone.instances]
    assert (await authenticate(auth, made.instance.public_key, made.secret_key)).user_id == alice


async def test_rotation_and_deletion_take_effect_at_once_on_another_replica(start_auth):
    first, second = (await start_auth()).stub, (await start_auth()).stub
    owner = await new_user(first, "rotor")
    made = await create(first, owner)
    iid = made.instance.instance_id
    assert (await authenticate(second, made.instance.public_key, made.secret_key)).id == 1
    rotated = await first.RotateInstanceKeys(ref(owner, iid))
    assert rotated.instance.public_key != made.instance.public_key
    assert rotated.secret_key != made.secret_key and rotated.instance.instance_id == iid
    error = await failure(authenticate(second, made.instance.public_key, made.secret_key))
    assert error.reason == "INVALID_CREDENTIALS"
    mixed = await failure(authenticate(second, rotated.instance.public_key, made.secret_key))
    assert mixed.reason == "INVALID_CREDENTIALS"
    assert (await authenticate(second, rotated.instance.public_key,
                               rotated.secret_key)).instance_id == iid
    deleted = await second.DeleteInstance(ref(owner, iid))
    assert deleted.instance_id == iid
    gone = await failure(authenticate(first, rotated.instance.public_key, rotated.secret_key))
    assert gone.reason == "INVALID_CREDENTIALS"
    assert (await failure(first.GetInstance(ref(owner, iid)))).reason == "NOT_FOUND"
    assert (await failure(first.DeleteInstance(ref(owner, iid)))).reason == "NOT_FOUND"


async def test_a_disabled_owner_s_pairs_stop_working_until_re_enabled(start_auth):
    first, second = (await start_auth()).stub, (await start_auth()).stub
    owner = await new_user(first, "pausable")
    made = await create(first, owner)
    pair = (made.instance.public_key, made.secret_key)
    await first.UpdateUser(auth_pb2.UpdateUserRequest(user_id=owner, disabled=True))
    assert (await failure(authenticate(second, *pair))).reason == "INVALID_CREDENTIALS"
    await second.UpdateUser(auth_pb2.UpdateUserRequest(user_id=owner, disabled=False))
    assert (await authenticate(first, *pair)).user_id == owner


async def test_concurrent_creations_on_two_replicas_get_distinct_numbers(start_auth):
    first, second = (await start_auth()).stub, (await start_auth()).stub
    owner = await new_user(first, "racer")
    made = await asyncio.gather(*(create(first if i % 2 else second, owner, f"i{i}")
                                  for i in range(10)))
    assert sorted(m.instance.id for m in made) == list(range(1, 11))


async def test_instances_survive_a_restart(start_auth):
    running = await start_auth()
    owner = await new_user(running.stub, "durable")
    made = await create(running.stub, owner)
    await running.host.stop()
    restarted = (await start_auth()).stub
    found = await authenticate(restarted, made.instance.public_key, made.secret_key)
    assert found.instance_id == made.instance.instance_id


async def test_instance_events_reach_nats_for_other_services(start_auth, nats_url):
    running = await start_auth()
    owner = await new_user(running.stub, "published")
    made = await create(running.stub, owner, "Published")
    iid = made.instance.instance_id
    await running.stub.RotateInstanceKeys(ref(owner, iid))
    await running.stub.DeleteInstance(ref(owner, iid))
    nc = NATS()
    await nc.connect(nats_url)
    seen: dict[str, bytes] = {}  # this instance's events (the stream is shared by tests)
    try:
        sub = await nc.jetstream().subscribe("sb.auth.*", ordered_consumer=True)
        kinds = {f"sb.auth.{k}": k for k in ("InstanceCreated", "InstanceKeysRotated",
                                             "InstanceDeleted")}
        async with asyncio.timeout(10):
            while len(seen) < 3:
                msg = await sub.next_msg(timeout=10)
                if msg.subject in kinds and iid.encode() in msg.data:
                    seen[kinds[msg.subject]] = msg.data
    finally:
        await nc.close()
    created = events_pb2.InstanceCreated.FromString(seen["InstanceCreated"])
    deleted = events_pb2.InstanceDeleted.FromString(seen["InstanceDeleted"])
    rotated = events_pb2.InstanceKeysRotated.FromString(seen["InstanceKeysRotated"])
    assert (created.instance_id, created.user_id, created.instance_name) == \
        (iid, owner, "Published")
    assert created.public_key == made.instance.public_key
    # the key's hash stays in auth's store: the bus carries the event without it
    assert not created.secret_hash and made.secret_key not in str(created)
    assert (rotated.instance_id, rotated.user_id, rotated.secret_hash) == (iid, owner, "")
    assert (deleted.instance_id, deleted.user_id) == (iid, owner)
