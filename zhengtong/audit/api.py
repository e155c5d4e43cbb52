"""The audit trail's proofs for anyone who holds a signed tree head (RFC 9162 style), and its leaves for auditors.

Public, no login: the latest and any signed tree head, inclusion proofs (by entry or by leaf), consistency proofs
between two signed sizes, and the public keys that signed heads. Hashes, signatures and keys travel as
lowercase hex; timestamps as milliseconds since the epoch (what the signature covers).

Leaves with their entries' canonical form need a session with the permission audit.view_auditentry; each such
read is itself recorded. With the canonical form an outside party recomputes a leaf hash as
h(0x00 || data) and checks it with the inclusion proof against a signed root.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja.security import django_auth

from zhengtong.audit import canonical, proofs
from zhengtong.audit.actions import actor_of_user, record_alone
from zhengtong.audit.models import ArchiveBatch, AuditEntry, AuditLeaf, SigningKeyRecord, TreeHead
from zhengtong.audit.tree import timestamp_milliseconds
from zhengtong.audit.views import VIEW_ENTRIES
from zhengtong.core import crypto
from zhengtong.core.errors import InvalidInput

router = Router(tags=["audit"])

MAX_ENTRIES = 1000


class TreeHeadOut(Schema):
    tree_size: int
    root_hash: str
    timestamp: int
    hash_algorithm: str
    signature_algorithm: str
    key_id: str
    signature: str
    public_key: str | None
    sequencer_running: bool


class InclusionOut(Schema):
    entry_id: int | None
    leaf_index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]
    root_hash: str
    hash_algorithm: str


class ConsistencyOut(Schema):
    first: int
    second: int
    consistency_path: list[str]
    first_root_hash: str
    second_root_hash: str
    hash_algorithm: str


class LeafOut(Schema):
    leaf_index: int
    entry_id: int
    leaf_hash: str
    data: str | None = Field(description="the entry's canonical form (UTF-8 JSON); the leaf hash is "
                                          "h(0x00 || data). Null when the entry is archived or missing.")
    archived: bool


class LeavesOut(Schema):
    tree_size: int
    start: int
    end: int
    hash_algorithm: str
    entries: list[LeafOut]


class KeyOut(Schema):
    key_id: str
    algorithm: str
    public_key: str
    public_key_pem: str | None
    first_used_at: str
    signed_latest_head: bool


def _head_out(head: TreeHead) -> TreeHeadOut:
    key = SigningKeyRecord.objects.filter(key_id=head.key_id).values_list("public_key", flat=True).first()
    return TreeHeadOut(
        tree_size=head.tree_size, root_hash=bytes(head.root_hash).hex(),
        timestamp=timestamp_milliseconds(head.timestamp), hash_algorithm=head.hash_algorithm,
        signature_algorithm=head.signature_algorithm, key_id=head.key_id, signature=bytes(head.signature).hex(),
        public_key=bytes(key).hex() if key is not None else None, sequencer_running=proofs.sequencer_running(),
    )


def _latest() -> TreeHead:
    head = proofs.latest_tree_head()
    if head is None:
        raise Http404(_("No tree head has been signed yet."))
    return head


def _head_of_size(size: int, name: str) -> TreeHead:
    if size < 1:
        raise InvalidInput.for_field(name, _("must be 1 or more"))
    head = TreeHead.objects.filter(tree_size=size).first()
    if head is None:
        raise Http404(_("No signed tree head has size %(size)d.") % {"size": size})
    return head


@router.get("/audit/tree-heads/latest", response=TreeHeadOut, auth=None,
            summary="The latest signed tree head of the audit trail")
def latest_tree_head(request: HttpRequest) -> TreeHeadOut:
    return _head_out(_latest())


@router.get("/audit/tree-heads/{size}", response=TreeHeadOut, auth=None,
            summary="The signed tree head of a given size")
def tree_head(request: HttpRequest, size: int) -> TreeHeadOut:
    return _head_out(_head_of_size(size, "size"))


@router.get("/audit/proofs/inclusion", response=InclusionOut, auth=None,
            summary="Inclusion proof of an entry (entry_id) or a leaf (leaf_index) in a signed tree head")
def inclusion_proof(request: HttpRequest, entry_id: int | None = None, leaf_index: int | None = None,
                    tree_size: int | None = None) -> InclusionOut:
    if entry_id is not None and leaf_index is not None:
        raise InvalidInput.for_field("entry_id", _("give either entry_id or leaf_index, not both"))
    if entry_id is None and leaf_index is None:
        raise InvalidInput.for_field("entry_id", _("give entry_id, or leaf_index (and tree_size)"))
    head = _head_of_size(tree_size, "tree_size") if tree_size is not None else _latest()
    if entry_id is not None:
        leaf = AuditLeaf.objects.filter(entry_id=entry_id).first()
        if leaf is None:
            if AuditEntry.objects.filter(pk=entry_id).exists():
                raise Http404(_("Entry %(id)d is not yet in the tree; try again in a moment.") % {"id": entry_id})
            raise Http404(_("There is no entry %(id)d.") % {"id": entry_id})
        if leaf.index >= head.tree_size:
            if tree_size is not None:
                raise InvalidInput.for_field("tree_size", _("entry %(id)d is at leaf %(index)d, outside a tree of "
                                                            "%(size)d leaves") % {"id": entry_id, "index": leaf.index,
                                                                                  "size": head.tree_size})
            raise Http404(_("Entry %(id)d is not yet in a signed tree head; try again in a moment.")
                          % {"id": entry_id})
    else:
        assert leaf_index is not None
        if leaf_index < 0:
            raise InvalidInput.for_field("leaf_index", _("must be 0 or more"))
        if leaf_index >= head.tree_size:
            raise InvalidInput.for_field("leaf_index", _("must be less than the tree size %(size)d")
                                         % {"size": head.tree_size})
        leaf = AuditLeaf.objects.filter(index=leaf_index).first()
        if leaf is None:
            raise Http404(_("There is no leaf %(index)d.") % {"index": leaf_index})
    path = proofs.inclusion_proof(leaf.index, head.tree_size, head.hash_algorithm)
    return InclusionOut(entry_id=leaf.entry_id, leaf_index=leaf.index, tree_size=head.tree_size,
                        leaf_hash=bytes(leaf.leaf_hash).hex(), audit_path=[p.hex() for p in path],
                        root_hash=bytes(head.root_hash).hex(), hash_algorithm=head.hash_algorithm)


@router.get("/audit/proofs/consistency", response=ConsistencyOut, auth=None,
            summary="Consistency proof between two signed tree heads")
def consistency_proof(request: HttpRequest, first: int, second: int) -> ConsistencyOut:
    if first < 1:
        raise InvalidInput.for_field("first", _("must be 1 or more"))
    if first > second:
        raise InvalidInput.for_field("first", _("must not be greater than second"))
    old = _head_of_size(first, "first")
    new = _head_of_size(second, "second")
    path = proofs.consistency_proof(first, second, new.hash_algorithm)
    return ConsistencyOut(first=first, second=second, consistency_path=[p.hex() for p in path],
                          first_root_hash=bytes(old.root_hash).hex(), second_root_hash=bytes(new.root_hash).hex(),
                          hash_algorithm=new.hash_algorithm)


@router.get("/audit/entries", response=LeavesOut, auth=django_auth,
            summary="Leaves start ≤ i < end (at most 1000) with each entry's canonical form, for auditors")
def leaves(request: HttpRequest, start: int, end: int) -> LeavesOut:
    if not request.user.has_perm(VIEW_ENTRIES):
        raise PermissionDenied(_("Reading the audit trail needs the auditor's permission."))
    if start < 0:
        raise InvalidInput.for_field("start", _("must be 0 or more"))
    if end <= start:
        raise InvalidInput.for_field("end", _("must be greater than start"))
    if end - start > MAX_ENTRIES:
        raise InvalidInput.for_field("end", _("at most %(limit)d leaves at a time") % {"limit": MAX_ENTRIES})
    head = _latest()
    if start >= head.tree_size:
        raise Http404(_("The signed tree has %(size)d leaves; there is no leaf %(index)d yet.")
                      % {"size": head.tree_size, "index": start})
    end = min(end, head.tree_size)
    rows = list(AuditLeaf.objects.filter(index__gte=start, index__lt=end).order_by("index")
                .values_list("index", "entry_id", "leaf_hash"))
    entries = {values["id"]: values for values in AuditEntry.objects.filter(
        id__in=[entry_id for _, entry_id, _ in rows]).order_by().values(*canonical.LEAF_FIELDS)}
    archived_up_to = ArchiveBatch.objects.aggregate(last=Max("last_leaf_index"))["last"]
    out = []
    for index, entry_id, digest in rows:
        values = entries.get(entry_id)
        data = canonical.leaf_data_from_values(values).decode() if values is not None else None
        archived = values is None and archived_up_to is not None and index <= archived_up_to
        out.append(LeafOut(leaf_index=index, entry_id=entry_id, leaf_hash=bytes(digest).hex(), data=data,
                           archived=archived))
    record_alone("audit.read_leaves", actor_of_user(request.user), object_type="audit_leaves",
                 object_id=f"{start}-{end}", detail={"start": start, "end": end, "tree_size": head.tree_size})
    return LeavesOut(tree_size=head.tree_size, start=start, end=end, hash_algorithm=head.hash_algorithm,
                     entries=out)


@router.get("/audit/keys", response=list[KeyOut], auth=None, summary="Public keys that have signed tree heads")
def keys(request: HttpRequest) -> list[KeyOut]:
    latest = proofs.latest_tree_head()
    out = []
    for record in SigningKeyRecord.objects.order_by("first_used_at"):
        public_key = bytes(record.public_key)
        try:
            pem: str | None = crypto.public_key_pem(record.algorithm, public_key)
        except ValueError:
            pem = None
        out.append(KeyOut(key_id=record.key_id, algorithm=record.algorithm, public_key=public_key.hex(),
                          public_key_pem=pem, first_used_at=record.first_used_at.isoformat(),
                          signed_latest_head=latest is not None and latest.key_id == record.key_id))
    return out
