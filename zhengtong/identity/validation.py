"""Checks of identity numbers and contact details, each returning the normalised value or a field error."""

from __future__ import annotations

import datetime
import re

from django.utils.translation import gettext as _
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc

from zhengtong.core.errors import FieldProblem

MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")


def _reason(error: stdnum_errors.ValidationError) -> str:
    if isinstance(error, stdnum_errors.InvalidLength):
        return _("has the wrong length")
    if isinstance(error, stdnum_errors.InvalidChecksum):
        return _("has a wrong check digit")
    if isinstance(error, stdnum_errors.InvalidComponent):
        return _("has an impossible birth date or birth place")
    return _("has an invalid format")


def check_resident_id(value: str, field: str = "resident_id") -> tuple[str, FieldProblem | None]:
    try:
        return ric.validate(value), None
    except stdnum_errors.ValidationError as error:
        return value, FieldProblem(field, _("The resident ID number %(reason)s.") % {"reason": _reason(error)})
    except KeyError:
        # stdnum's place table has codes without a county (a whole prefecture, say); it fails to look them up.
        return value, FieldProblem(field, _("The resident ID number %(reason)s.")
                                   % {"reason": _("has an impossible birth date or birth place")})


def check_credit_code(value: str, field: str = "credit_code") -> tuple[str, FieldProblem | None]:
    try:
        return uscc.validate(value), None
    except stdnum_errors.ValidationError as error:
        return value, FieldProblem(
            field, _("The unified social credit code %(reason)s.") % {"reason": _reason(error)}
        )


def check_mobile(value: str, field: str = "phone") -> tuple[str, FieldProblem | None]:
    compact = value.replace(" ", "").replace("-", "")
    if compact and not MOBILE_PATTERN.match(compact):
        return value, FieldProblem(field, _("A mobile number has 11 digits and starts with 13 to 19."))
    return compact, None


def check_required(value: str, field: str) -> tuple[str, FieldProblem | None]:
    stripped = value.strip()
    return stripped, None if stripped else FieldProblem(field, _("This field is required."))


def birth_date_and_gender(resident_id: str) -> tuple[datetime.date, str]:
    """Birth date and gender ("M"/"F") from a valid resident ID: the 17th digit is odd for men."""
    return ric.get_birth_date(resident_id), "M" if int(resident_id[16]) % 2 else "F"
