"""Copies of every signed tree head kept outside the database, so a rewrite of the whole database is caught.

ZHENGTONG_AUDIT_WITNESS names a file (JSON lines, appended) or an http(s) URL (each head POSTed as JSON). An
operator points it at storage the database administrators cannot write: another host, a WORM volume.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import structlog
from django.conf import settings

from zhengtong.audit.models import TreeHead
from zhengtong.audit.tree import timestamp_milliseconds

log = structlog.get_logger("zhengtong.audit.witness")


def head_document(head: TreeHead) -> dict[str, Any]:
    return {
        "tree_size": head.tree_size,
        "root_hash": bytes(head.root_hash).hex(),
        "timestamp": timestamp_milliseconds(head.timestamp),
        "hash_algorithm": head.hash_algorithm,
        "signature_algorithm": head.signature_algorithm,
        "key_id": head.key_id,
        "signature": bytes(head.signature).hex(),
    }


def target() -> str:
    return str(settings.AUDIT_WITNESS)


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def export(head: TreeHead) -> bool:
    """Send one head to the witness. A failure is logged, not raised: sequencing goes on and the next head
    (which covers this one) is sent in its turn."""
    document = json.dumps(head_document(head), sort_keys=True)
    destination = target()
    try:
        if is_url(destination):
            request = urllib.request.Request(destination, document.encode(), method="POST",  # noqa: S310
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=3):  # noqa: S310 (operator-configured URL)
                pass
        else:
            path = Path(destination)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(document + "\n")
                handle.flush()
                os.fsync(handle.fileno())
    except (OSError, ValueError, http.client.HTTPException) as error:
        log.warning("witness export failed", witness=destination, tree_size=head.tree_size, error=str(error))
        return False
    return True
