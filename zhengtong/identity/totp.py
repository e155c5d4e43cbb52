"""Time-based one-time passwords (RFC 6238) for the staff second factor."""

from __future__ import annotations

import time

import pyotp
import segno

STEP_SECONDS = 30
# Accept the previous and next code too, for clocks a little out of step.
DRIFT_STEPS = 1
ISSUER = "Zhengtong"


def new_secret() -> str:
    return pyotp.random_base32()


def current_code(secret: str, at: float | None = None) -> str:
    return pyotp.TOTP(secret).at(int(at if at is not None else time.time()))


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step whose code equals `code`, within the allowed drift; None when none matches."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = int(at if at is not None else time.time())
    current = now // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if pyotp.utils.strings_equal(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG QR code, for authenticator apps to scan."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff")
