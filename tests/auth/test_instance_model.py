"""Unit tests of the instance aggregates, admin changes to users, and the directory view
folded from events: no I/O."""

from datetime import UTC, datetime

import pytest

from services.auth.adapters.secrets import Credentials
from services.auth.app.view import DirectoryView
from services.auth.domain import rules
from services.auth.domain.errors import InstanceNotFoundError, KeyTakenError, SelfLockoutError
from services.auth.domain.events import AdminGranted, AdminRevoked, UserDisabled, UserEnabled
from services.auth.domain.instances import Instance, InstanceNumbers, PublicKeyClaim
from services.auth.domain.model import Profile, User

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def made(owner=7, iid="abc123-def456", key="pk_1"):
    return Instance.create(iid, 1, owner, "Main", key, "hash1", NOW)


def test_an_instance_is_rebuilt_from_its_events():
    instance = made()
    instance.rotate_keys("pk_2", "hash2")
    rebuilt = Instance.rebuild("abc123-def456", instance.pending)
    assert (rebuilt.number, rebuilt.user_id, rebuilt.instance_name, rebuilt.public_key,
            rebuilt.secret_hash, rebuilt.created_at) == (1, 7, "Main", "pk_2", "hash2", NOW)
    rebuilt.delete()
    assert rebuilt.deleted


@pytest.mark.parametrize("user_id,as_admin,ok", [(7, False, True), (8, False, False),
                                                 (8, True, True)])
def test_only_the_owner_or_an_admin_reaches_an_instance(user_id, as_admin, ok):
    instance = made()
    if ok:
        instance.check_access(user_id, as_admin)
    else:
        with pytest.raises(InstanceNotFoundError):
            instance.check_access(user_id, as_admin)


def test_deleted_and_unknown_instances_are_not_found_even_for_admins():
    deleted = made()
    deleted.delete()
    for instance in (deleted, Instance("ffffff-ffffff")):
        with pytest.raises(InstanceNotFoundError):
            instance.check_access(7, True)


def test_a_public_key_is_claimed_once_and_numbers_count_up():
    claim = PublicKeyClaim("pk_1")
    claim.claim("pk_1", "abc123-def456")
    with pytest.raises(KeyTakenError):
        claim.claim("pk_1", "fff000-000fff")
    numbers = InstanceNumbers("numbers")
    assert [numbers.allocate(), numbers.allocate()] == [1, 2]


def test_admin_changes_record_only_what_changes_and_forbid_self_lockout():
    user = User.register(3, Profile.checked("carol"), "h", NOW)
    user.pending.clear()
    user.change_access(1, is_admin=True, disabled=True, reason="why")
    user.change_access(1, is_admin=True, disabled=True)
    user.change_access(1, is_admin=False, disabled=False)
    assert [type(e) for e in user.pending] == [AdminGranted, UserDisabled, AdminRevoked,
                                               UserEnabled]
    for change in ({"is_admin": False}, {"disabled": True}):
        with pytest.raises(SelfLockoutError):
            user.change_access(3, **change)
    user.change_access(3, is_admin=True, disabled=False)  # harmless to oneself


def test_view_follows_users_and_key_pairs():
    view = DirectoryView()
    user = User.register(7, Profile.checked("owner"), "h", NOW)
    instance = made()
    instance.rotate_keys("pk_2", "hash2")
    other = made(iid="000000-000001", key="pk_9")
    other.delete()
    user.disable("x")
    for event in [*user.pending, *instance.pending, *other.pending]:
        view.apply(event)
    assert view.by_key("pk_1") is None and view.by_key("pk_9") is None
    assert view.by_key("pk_2").secret_hash == "hash2"
    assert view.active_user(7) is None and view.user(7).disabled
    assert view.instances_page(7, 1, 10) == ([view.instances["abc123-def456"]], 1)
    assert view.instances_page(8, 1, 10) == ([], 0)


def test_generated_ids_and_pairs_have_their_documented_shapes():
    credentials = Credentials("pepper-for-unit-tests-0123456789abcdef")
    assert rules.is_instance_id(credentials.new_instance_id())
    pair = credentials.new_pair()
    assert pair.public_key.startswith("pk_") and pair.secret_key.startswith("sk_")
    assert credentials.matches(pair.secret_hash, pair.secret_key)
    assert not credentials.matches(pair.secret_hash, pair.secret_key + "x")
    other = Credentials("another-pepper-0123456789abcdef0123456")
    assert not other.matches(pair.secret_hash, pair.secret_key)
    assert pair.secret_key not in pair.secret_hash
