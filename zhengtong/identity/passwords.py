"""The password policy 等保 level 3 expects: at least 8 characters, 3 character classes, not the user name."""

import string
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MIN_LENGTH = 8
MIN_CLASSES = 3


def character_classes(password: str) -> int:
    classes = [
        any(c in string.ascii_lowercase for c in password),
        any(c in string.ascii_uppercase for c in password),
        any(c in string.digits for c in password),
        any(not c.isalnum() for c in password),
    ]
    return sum(classes)


class PasswordPolicyValidator:
    def validate(self, password: str, user: Any = None) -> None:
        problems = []
        if len(password) < MIN_LENGTH:
            problems.append(
                ValidationError(_("Use at least %(min)d characters.") % {"min": MIN_LENGTH}, code="too_short")
            )
        if character_classes(password) < MIN_CLASSES:
            problems.append(
                ValidationError(
                    _("Use at least three of: lower-case letters, upper-case letters, digits, symbols."),
                    code="too_simple",
                )
            )
        username = getattr(user, "username", "") or ""
        if username and username.lower() in password.lower():
            problems.append(ValidationError(_("The password must not contain the user name."), code="username"))
        if problems:
            raise ValidationError(problems)

    def get_help_text(self) -> str:
        return _(
            "At least %(min)d characters, with three of: lower-case letters, upper-case letters, digits, symbols; "
            "not containing the user name."
        ) % {"min": MIN_LENGTH}
