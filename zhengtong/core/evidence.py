"""Evidence people upload with a case (a data objection, a correction request): a scan or photo of a document.

Files are recognised by their first bytes, never by their name, and kept under VAR_DIR by their SHA-256, where the
web server never serves them: pages hand a file out only after their own permission check.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from zhengtong.core.errors import FieldProblem

MAX_BYTES = 10 * 1024 * 1024
TYPES = {b"%PDF-": "application/pdf", b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


@dataclass(frozen=True)
class Evidence:
    """An uploaded file, as the page or API received it."""

    name: str
    content: bytes


def too_large_message() -> str:
    return _("The file may be at most %(mb)d MB.") % {"mb": MAX_BYTES >> 20}


def content_type(evidence: Evidence, problems: list[FieldProblem], field: str = "evidence") -> str:
    """The file's media type, or "" with a problem added when it is too large or not a PDF, PNG or JPEG."""
    if len(evidence.content) > MAX_BYTES:
        problems.append(FieldProblem(field, too_large_message()))
        return ""
    kind = next((kind for magic, kind in TYPES.items() if evidence.content.startswith(magic)), "")
    if not kind:
        problems.append(FieldProblem(field, _("Attach a PDF, PNG or JPEG file.")))
    return kind


def path_of(directory: str, digest: str) -> Path:
    return Path(settings.VAR_DIR) / directory / digest


def keep(directory: str, content: bytes) -> str:
    """Store the file (once, whoever sends it again) and return its digest."""
    digest = hashlib.sha256(content).hexdigest()
    path = path_of(directory, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(content)
        os.replace(partial, path)
    return digest
