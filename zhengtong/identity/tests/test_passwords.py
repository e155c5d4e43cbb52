"""The password policy: at least 8 characters, three character classes, not the user name."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from zhengtong.identity.models import User
from zhengtong.identity.passwords import character_classes


@pytest.mark.parametrize("password", ["Yunxi#2026", "abc12345!", "ABCdef123", "长城Ab1!长城"])
def test_good_passwords_pass(password):
    validate_password(password, User(username="wang"))


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Ab1!xyz", "too_short"),
        ("abcdefgh1", "too_simple"),
        ("ABCDEFGH", "too_simple"),
        ("Wang#2026x", "username"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, code):
    with pytest.raises(ValidationError) as refused:
        validate_password(password, User(username="wang"))
    assert code in {error.code for error in refused.value.error_list}


@given(st.text(min_size=8, max_size=30))
def test_the_rule_matches_its_definition(password):
    user = User(username="zz-nobody-zz")
    acceptable = character_classes(password) >= 3 and "zz-nobody-zz" not in password.lower()
    try:
        validate_password(password, user)
        assert acceptable
    except ValidationError:
        assert not acceptable
