"""Uploading processes (BPMN) and decision tables (DMN): each upload of a key is its next version, so an
application keeps running on the version it started with. Uploading the same file again changes nothing."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.utils import timezone

from zhengtong.audit import actions as audit
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.services.models import DecisionDefinition, ProcessDefinition
from zhengtong.services.workflow import engine

PERMISSION = "services.define_serviceitem"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _uploader(actor: Any) -> str:
    if actor is None:
        return ""
    return getattr(actor, "display_name", "") or actor.get_username()


def upload_process(actor: Any, *, bpmn_xml: str, name: str = "") -> ProcessDefinition:
    """Validate a BPMN file (engine.parse_process) and store it as the next version of its process id."""
    require_permission(actor, PERMISSION)
    parsed = engine.parse_process(bpmn_xml)
    digest = _digest(bpmn_xml)
    with transaction.atomic():
        latest = ProcessDefinition.objects.select_for_update().filter(key=parsed.key).order_by("-version").first()
        if latest is not None and latest.digest == digest:
            return latest
        definition = ProcessDefinition.objects.create(
            key=parsed.key, version=(latest.version + 1) if latest else 1, name=(name or parsed.name)[:200],
            bpmn_xml=bpmn_xml, digest=digest, uploaded_at=timezone.now(), uploaded_by_name=_uploader(actor))
        audit.record("services.process.uploaded", actor_of(actor), object_type="process",
                     object_id=definition.pk, detail={"key": definition.key, "version": definition.version,
                                                      "digest": digest})
    return definition


def upload_decision(actor: Any, *, dmn_xml: str, name: str = "") -> DecisionDefinition:
    """Validate a DMN file (engine.parse_decision) and store it as the next version of its decision id."""
    require_permission(actor, PERMISSION)
    parsed = engine.parse_decision(dmn_xml)
    digest = _digest(dmn_xml)
    with transaction.atomic():
        latest = DecisionDefinition.objects.select_for_update().filter(key=parsed.key).order_by("-version").first()
        if latest is not None and latest.digest == digest:
            return latest
        definition = DecisionDefinition.objects.create(
            key=parsed.key, version=(latest.version + 1) if latest else 1, name=(name or parsed.name)[:200],
            dmn_xml=dmn_xml, digest=digest, uploaded_at=timezone.now(), uploaded_by_name=_uploader(actor))
        audit.record("services.decision.uploaded", actor_of(actor), object_type="decision",
                     object_id=definition.pk, detail={"key": definition.key, "version": definition.version,
                                                      "digest": digest})
    return definition
