"""Rights certificates: the canonical content of a registration, its signature by the platform key, and checks.

A certificate's payload is canonical JSON (keys sorted, no spaces, UTF-8) of {"certificate": {...},
"registration": {...}}: what was registered, as registered, plus the certificate's own version and issue time.
Disputes are not part of it, so raising or settling one never invalidates what was certified; changing what
is registered issues a new version and marks the previous one superseded.

Verification trusts only the platform's own keys, never the public key stored beside the certificate: the
signing key files on this machine, and keys recorded by the audit trail whose ids are anchored outside the
database (the key files or the audit witness; see trusted_public_key). Issuing records no key of its own: a
key is recorded, and reaches the witness, when the audit sequencer first signs a tree head with it — which it
does for the audit entry of the issuance itself. So after a key rotation a certificate stays verifiable as
long as its key signed a head the witness holds; a certificate signed by a key the platform no longer anchors
shows as untrusted, and an amendment signs the registration anew with the current key.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from zhengtong.audit.models import SigningKeyRecord
from zhengtong.audit.verify import anchored_key_ids
from zhengtong.catalog.models import RightKind, RightsCertificate, RightsRegistration
from zhengtong.core import crypto

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
    """(algorithm, raw public key) of a platform key with this id, or None when the platform does not trust it.

    The platform's key files are trusted as they are. A key recorded in the database (the audit trail's
    SigningKeyRecord) is trusted only when the id is that of the recorded public key and the id is anchored
    outside the database, the way the audit trail's own check anchors it (audit.verify.anchored_key_ids): a
    row that someone with write access to the database inserts is not enough."""
    for signer in crypto.platform_signers():
        if signer.key_id == key_id:
            return signer.algorithm, signer.public_key
    if key_id not in anchored_key_ids():
        return None
    for record in SigningKeyRecord.objects.filter(key_id=key_id):
        public_key = bytes(record.public_key)
        if (record.algorithm in crypto.SUITE_OF_ALGORITHM
                and crypto.key_id_for(record.algorithm, public_key) == key_id):
            return record.algorithm, public_key
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
    registered = stated.get("registration")
    matches = (header.get("version") == certificate.version and header.get("type") == CERTIFICATE_TYPE
               and isinstance(registered, dict) and registered.get("number") == certificate.registration.number)
    if matches and not superseded:
        registration = certificate.registration
        matches = (registration.version == certificate.version
                   and stated.get("registration") == certified_content(registration))
    if not matches:
        problems.append(_("The registration no longer says what this certificate states."))
    return Verification(certificate, signature_valid, key_trusted, matches, superseded, tuple(problems))
