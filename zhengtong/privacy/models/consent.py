"""Data agreements and consent, shaped after the GovStack Consent building block's data model.

A data agreement says which data (fields of one catalog resource), to whom (one consumer department), for what
purpose, on what lawful basis and for how long. It is versioned: every change of its terms raises its version,
and the consents given to older versions stop counting until the individual consents again. Every change of a
policy, an agreement or a consent writes a `Revision`, a serialized snapshot with its hash chained to the one
before: the immutable history the spec's audit endpoints serve.

An `Individual` is a citizen as the consent system knows them. `Consent` is the spec's ConsentRecord: one
individual's answer to one revision of an agreement. A given consent is mirrored into the exchange's
ConsentRecord, which is what the one door checks for grants resting on consent.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from zhengtong.catalog.models import Resource
from zhengtong.exchange.models import ConsentRecord
from zhengtong.identity.models import Citizen, Department

__all__ = ["Consent", "ConsentState", "DataAgreement", "Individual", "LawfulBasis", "Policy", "Revision",
           "Signature", "SignatureState"]


def new_id() -> str:
    return str(uuid.uuid4())


class Policy(models.Model):
    """The policy that governs data agreements of an organisation: where data is kept and for how long."""

    public_id = models.CharField(max_length=36, unique=True, default=new_id, editable=False)
    name = models.CharField(_("name"), max_length=200)
    version = models.PositiveIntegerField(_("version"), default=1)
    url = models.URLField(_("address of this version"), max_length=500)
    jurisdiction = models.CharField(_("jurisdiction"), max_length=200, blank=True)
    industry_sector = models.CharField(_("sector"), max_length=200, blank=True)
    data_retention_days = models.PositiveIntegerField(_("data retention (days)"), null=True, blank=True)
    geographic_restriction = models.CharField(_("geographic restriction"), max_length=200, blank=True)
    storage_location = models.CharField(_("storage location"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("data policy")
        verbose_name_plural = _("data policies")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class LawfulBasis(models.TextChoices):
    """The spec's lawful bases. Only agreements on consent are consented to; the others inform."""

    CONSENT = "consent", _("consent of the data subject")
    LEGAL_OBLIGATION = "legal_obligation", _("legal obligation")
    CONTRACT = "contract", _("contract with the data subject")
    VITAL_INTEREST = "vital_interest", _("vital interest")
    PUBLIC_TASK = "public_task", _("public task")
    LEGITIMATE_INTEREST = "legitimate_interest", _("legitimate interest")


class DataAgreement(models.Model):
    """What a consumer department may do with which fields of a resource, for what purpose and how long.

    At most one live (not deleted) agreement exists per resource and consumer, because the door matches consent
    by resource and consumer: a change of terms is a new version of that agreement, not a second agreement.
    """

    public_id = models.CharField(max_length=36, unique=True, default=new_id, editable=False)
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="data_agreements",
                                 verbose_name=_("data resource"))
    consumer = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="data_agreements",
                                 verbose_name=_("consumer department"))
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="data_agreements", verbose_name=_("policy"))
    purpose = models.CharField(_("purpose"), max_length=200)
    purpose_description = models.TextField(_("what the data is used for"), blank=True)
    lawful_basis = models.CharField(_("lawful basis"), max_length=24, choices=LawfulBasis.choices,
                                    default=LawfulBasis.CONSENT)
    data_elements = models.JSONField(_("data elements"), default=list,
                                     help_text=_("The fields of the resource the consumer receives."))
    consent_days = models.PositiveIntegerField(_("consent valid for (days)"), null=True, blank=True,
                                               help_text=_("Empty: until withdrawn."))
    retention_days = models.PositiveIntegerField(_("data kept for (days)"), null=True, blank=True)
    dpia = models.TextField(_("data protection impact assessment"), blank=True)
    data_use = models.CharField(_("data use"), max_length=32, blank=True)
    forgettable = models.BooleanField(_("forgettable"), default=False,
                                      help_text=_("A withdrawn consent to it may be deleted."))
    active = models.BooleanField(_("open to consent"), default=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(_("withdrawn from use at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("data agreement")
        verbose_name_plural = _("data agreements")
        ordering = ["consumer__code", "purpose", "pk"]

    def __str__(self) -> str:
        return f"{self.purpose} v{self.version}"

    @property
    def is_live(self) -> bool:
        return self.deleted_at is None


class Individual(models.Model):
    """A citizen as the consent system knows them: by the keyed hash of their resident ID, and the citizen."""

    public_id = models.CharField(max_length=36, unique=True, default=new_id, editable=False)
    citizen = models.OneToOneField(Citizen, on_delete=models.PROTECT, related_name="consent_individual")
    subject_hash = models.CharField(max_length=64, unique=True)
    identity_provider_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("individual")
        verbose_name_plural = _("individuals")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.public_id


class Revision(models.Model):
    """One serialized state of a policy, an agreement or a consent. Never changed once written, except that
    it learns its successor; its hash chains to its predecessor's."""

    public_id = models.CharField(max_length=36, unique=True, default=new_id, editable=False)
    schema_name = models.CharField(max_length=32)  # "Policy", "DataAgreement" or "ConsentRecord"
    object_id = models.CharField(max_length=36)
    serialized_snapshot = models.TextField()
    serialized_hash = models.CharField(max_length=64)
    hash_algorithm = models.CharField(max_length=8)
    timestamp = models.DateTimeField()
    authorized_by_individual = models.ForeignKey(Individual, on_delete=models.PROTECT, null=True, blank=True,
                                                 related_name="+")
    authorized_by_other = models.CharField(max_length=200, blank=True)
    successor = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="predecessor")
    predecessor_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("revision")
        verbose_name_plural = _("revisions")
        ordering = ["timestamp", "pk"]
        indexes = [models.Index(fields=["schema_name", "object_id"])]

    def __str__(self) -> str:
        return f"{self.schema_name} {self.object_id} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class SignatureState(models.TextChoices):
    """The spec's unsigned / signed, and "unverified": signed only by a signature the platform could not check
    (a method it does not know, or no public key given), which it keeps but never counts as signed."""

    UNSIGNED = "unsigned", _("unsigned")
    SIGNED = "signed", _("signed")
    UNVERIFIED = "unverified", _("signed, signature not verified")


class Consent(models.Model):
    """An individual's answer to one revision of a data agreement: opted in, or declined / withdrawn (the
    spec's ConsentRecord, unique per revision and individual). Consenting again to the same revision turns the
    same record back on; consenting to a newer version makes a new record."""

    public_id = models.CharField(max_length=36, unique=True, default=new_id, editable=False)
    individual = models.ForeignKey(Individual, on_delete=models.PROTECT, related_name="consents")
    agreement = models.ForeignKey(DataAgreement, on_delete=models.PROTECT, related_name="consents")
    agreement_revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="+")
    agreement_version = models.PositiveIntegerField()
    opt_in = models.BooleanField(default=True)
    state = models.CharField(max_length=16, choices=SignatureState.choices, default=SignatureState.UNSIGNED)
    given_at = models.DateTimeField(_("given at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    exchange_record = models.OneToOneField(ConsentRecord, on_delete=models.PROTECT, null=True, blank=True,
                                           related_name="agreement_consent",
                                           help_text="The exchange's record the door checks, while opted in.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["agreement_revision", "individual"],
                                               name="privacy_consent_one_per_revision")]

    def __str__(self) -> str:
        return self.public_id


class Signature(models.Model):
    """A signature over a revision of a consent (or, for a consent signed before it existed, of the agreement
    consented to): by the individual's own key in another system, verified when the method is one the
    platform knows and the public key is given, or by the platform's signing key as witness."""

    public_id = models.CharField(max_length=36, unique=True, default=new_id, editable=False)
    consent = models.ForeignKey(Consent, on_delete=models.CASCADE, related_name="signatures")
    payload = models.TextField()
    signature = models.TextField(blank=True)
    verification_method = models.CharField(max_length=100)
    verification_payload = models.TextField()
    verification_payload_hash = models.CharField(max_length=64)
    verification_artifact = models.TextField(blank=True)
    verification_signed_by = models.CharField(max_length=200)
    verification_signed_as = models.CharField(max_length=16, default="individual")
    verification_jws_header = models.TextField(blank=True)
    timestamp = models.DateTimeField()
    object_type = models.CharField(max_length=16, default="revision")
    object_reference = models.CharField(max_length=36)
    verified = models.BooleanField(_("verified"), default=False,
                                   help_text=_("The platform checked it against the signed payload."))

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")
        ordering = ["timestamp", "pk"]

    def __str__(self) -> str:
        return self.public_id


class ConsentState(models.TextChoices):
    """Where a citizen stands with one agreement, as pages and the API show it."""

    GIVEN = "given", _("consent given")
    WITHDRAWN = "withdrawn", _("consent withdrawn")
    NEEDS_RENEWAL = "needs_renewal", _("the agreement changed: consent again to keep it")
    EXPIRED = "expired", _("consent expired")
    NEVER_ASKED = "never_asked", _("not yet answered")
    ENDED = "ended", _("the agreement is no longer in use")
