"""Rights certificates: the canonical content of a registration, its signature by the platform key, and checks.

A certificate's payload is canonical JSON (keys sorted, no spaces, UTF-8) of {"certificate": {...},
"registration": {...}}: what was registered, as registered, plus the certificate's own version and issue time.
Disputes are not part of it, so raising or settling one never invalidates what was certified; changing what
is registered issues a new version and marks the previous one superseded.

Verification trusts only the platform's own keys (the signing key files, and the keys the audit trail has
published), never the public key stored beside the certificate.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import structlog
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from zhengtong.audit.models import SigningKeyRecord
from zhengtong.catalog.models import RightKind, RightsCertificate, RightsRegistration
from zhengtong.core import crypto

log = structlog.get_logger("zhengtong.catalog")

CERTIFICATE_TYPE = "zhengtong.catalog.rights-certificate"


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def certified_content(registration: RightsRegistration) -> dict[str, Any]:
    """What a certificate of this registration states, from the registration as it is stored now."""
    holders = list(registration.right_holders.all())

    def parties(right: str) -> list[dict[str, str]]:
        return [{"name": h.name, "credit_code": h.credit_code} for h in holders if h.right == right]

    return {
        "number": registration.number,
        "registered_at": _utc(registration.registered_at),
        "resource": {"code": registration.resource_code, "name": registration.resource_name},
        "holder": {"name": registration.holder_name, "credit_code": registration.holder_credit_code},
        "processing_rights": parties(RightKind.PROCESSING),
        "operation_rights": parties(RightKind.OPERATION),
        "provenance": {"system": registration.source_system, "legal_basis": registration.collection_legal_basis,
                       "note": registration.provenance_note},
    }


def issue(registration: RightsRegistration, issued_at: dt.datetime) -> RightsCertificate:
    """Sign the registration's current content as certificate version `registration.version`. Runs inside the
    caller's transaction."""
    signer = crypto.load_signer()
    payload = canonical({
        "certificate": {"type": CERTIFICATE_TYPE, "version": registration.version, "issued_at": _utc(issued_at)},
        "registration": certified_content(registration),
    })
    return RightsCertificate.objects.create(
        registration=registration, version=registration.version, payload=payload.decode(),
        algorithm=signer.algorithm, key_id=signer.key_id, public_key=signer.public_key,
        signature=signer.sign(payload), issued_at=issued_at,
    )


def trusted_public_key(key_id: str) -> tuple[str, bytes] | None:
    """(algorithm, raw public key) of a platform key with this id, or None when the platform does not know it."""
    for suite_name, algorithm in crypto.SIGNATURE_ALGORITHMS.items():
        if not crypto.key_path(algorithm).is_file():
            continue  # looking must never create a key
        try:
            signer = crypto.load_signer(suite_name)
        except (ImproperlyConfigured, ValueError, OSError) as error:
            log.warning("signing key unreadable", algorithm=algorithm, error=str(error))
            continue
        if signer.key_id == key_id:
            return signer.algorithm, signer.public_key
    record = SigningKeyRecord.objects.filter(key_id=key_id).first()
    if record is not None:
        return record.algorithm, bytes(record.public_key)
    return None


@dataclass(frozen=True)
class Verification:
    """The outcome of checking one certificate; `problems` says in words what failed."""

    certificate: RightsCertificate
    signature_valid: bool
    key_trusted: bool
    matches_registration: bool
    superseded: bool
    problems: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return self.signature_valid and self.key_trusted and self.matches_registration


def verify(certificate: RightsCertificate) -> Verification:
    """Check the signature under the platform's key and, for the current version, that the registration
    still says what was certified (a change made behind the actions' back shows up here)."""
    problems: list[str] = []
    payload = certificate.payload.encode()
    trusted = trusted_public_key(certificate.key_id)
    key_trusted = trusted is not None and trusted[0] == certificate.algorithm
    signature_valid = False
    if not key_trusted:
        problems.append(_("The certificate was not signed with a key of this platform."))
    else:
        assert trusted is not None
        signature_valid = crypto.verify_signature(certificate.algorithm, trusted[1], payload,
                                                  bytes(certificate.signature))
        if not signature_valid:
            problems.append(_("The signature does not match the certified content."))
    superseded = certificate.superseded_at is not None
    try:
        document = json.loads(payload)
    except ValueError:
        document = None
    stated: dict[str, Any] = document if isinstance(document, dict) else {}
    header = stated.get("certificate")
    if not isinstance(header, dict):
        header = {}
    matches = header.get("version") == certificate.version and header.get("type") == CERTIFICATE_TYPE
    if matches and not superseded:
        registration = certificate.registration
        matches = (registration.version == certificate.version
                   and stated.get("registration") == certified_content(registration))
    if not matches:
        problems.append(_("The registration no longer says what this certificate states."))
    return Verification(certificate, signature_valid, key_trusted, matches, superseded, tuple(problems))
