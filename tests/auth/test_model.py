"""Unit tests of the auth aggregates and rules: no I/O."""

from datetime import UTC, datetime

import pytest

from services.auth.domain import rules
from services.auth.domain.errors import InvalidRegistrationError, UsernameTakenError
from services.auth.domain.events import AdminGranted, UserDisabled
from services.auth.domain.model import Profile, User, UserIds, UsernameClaim

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_id_counter_hands_out_its_next_version():
    ids = UserIds("ids")
    assert [ids.allocate(), ids.allocate(), ids.allocate()] == [1, 2, 3]
    rebuilt = UserIds.rebuild("ids", ids.pending)
    assert rebuilt.allocate() == 4


def test_a_username_can_be_claimed_once():
    claim = UsernameClaim("alice")
    claim.claim("Alice", 7)
    assert claim.taken and claim.user_id == 7
    with pytest.raises(UsernameTakenError, match="Username already exists"):
        claim.claim("ALICE", 8)
    assert len(claim.pending) == 1


def test_registered_user_is_rebuilt_from_its_events():
    user = User.register(5, Profile.checked("bob", "bob@example.com", "+27821234567"),
                         "$argon2id$hash", NOW)
    user.grant_admin()
    rebuilt = User.rebuild("5", user.pending)
    assert (rebuilt.user_id, rebuilt.username, rebuilt.email, rebuilt.notification_number) == \
        (5, "bob", "bob@example.com", "+27821234567")
    assert rebuilt.password_hash == "$argon2id$hash"
    assert rebuilt.is_admin and rebuilt.can_sign_in and rebuilt.created_at == NOW


def test_granting_admin_or_disabling_twice_records_once():
    user = User.register(1, Profile.checked("carol"), "h", NOW)
    user.grant_admin()
    user.grant_admin()
    user.disable("abuse")
    user.disable("again")
    kinds = [type(e) for e in user.pending]
    assert kinds.count(AdminGranted) == 1 and kinds.count(UserDisabled) == 1
    assert not user.can_sign_in


def test_an_unknown_user_cannot_sign_in():
    assert not User("9").can_sign_in


@pytest.mark.parametrize("username", ["ab", "x" * 51, "has space", "semi;colon", "ünïcode",
                                      ""])
def test_bad_usernames_are_refused(username):
    with pytest.raises(InvalidRegistrationError):
        Profile.checked(username)


@pytest.mark.parametrize("username", ["abc", "x" * 50, "first.last", "a_b-c", "User123"])
def test_good_usernames_pass(username):
    assert Profile.checked(username).username == username


@pytest.mark.parametrize("password,ok", [
    ("tall-lad9", False), ("tall-ladd9", True), ("tall-ladder-" + "x9" * 58, True),
    ("tall-ladder-" + "x9" * 58 + "!", False), (" " * 8, False), (" " * 12, False),
    ("\t\n" * 6, False), ("password", False), ("password123", False), ("Password2024!", False),
    ("P@ssw0rd!!", False), ("qwertyuiop", False), ("1234567890", False),
    ("iloveyou123", False), ("aaaaaaaaaaaa", False), ("abcabcabcabc", False),
    ("correct horse battery", True)])
def test_password_length_and_commonness(password, ok):
    if ok:
        assert rules.valid_password(password) == password
    else:
        with pytest.raises(InvalidRegistrationError):
            rules.valid_password(password)


@pytest.mark.parametrize("email,ok", [("", True), ("a@b.co", True), ("a@b", False),
                                      ("no-at.example.com", False), ("a b@c.de", False)])
def test_email_validation(email, ok):
    if ok:
        assert Profile.checked("dave", email=email).email == email
    else:
        with pytest.raises(InvalidRegistrationError, match="email"):
            Profile.checked("dave", email=email)


@pytest.mark.parametrize("number,ok", [("", True), ("27821234567", True), ("+27821234567", True),
                                       ("27-82", False), ("++2782123456", False),
                                       ("0821234567x", False)])
def test_notification_number_validation(number, ok):
    if ok:
        assert Profile.checked("erin", notification_number=number).notification_number == number
    else:
        with pytest.raises(InvalidRegistrationError, match="notification number"):
            Profile.checked("erin", notification_number=number)


def test_username_identity_ignores_case():
    assert rules.name_key("MiXeD.Case") == rules.name_key("mixed.case")
