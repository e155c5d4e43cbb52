"""Data rights registration (权属登记): numbered registrations, certificates signed with the platform key that
verify — and stop verifying when anything they state is altered — new versions on amendment, disputes that
leave the certificate standing, and lineage in both directions."""

import json
import re

import pytest
from django.utils import timezone

from zhengtong.audit.models import AuditEntry, SigningKeyRecord
from zhengtong.catalog import actions, certificates, queries
from zhengtong.catalog.models import RightHolder, RightsCertificate, RightsDispute, RightsRegistration
from zhengtong.catalog.tests.conftest import metadata, rights
from zhengtong.conftest import credit_code
from zhengtong.core import crypto
from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted


@pytest.fixture
def registration(published, officer):
    return actions.register_rights(officer, published, rights())


def test_registering_numbers_the_registration_and_signs_a_certificate(registration, published):
    year = timezone.localdate().year
    assert re.fullmatch(rf"QSDJ-{year}-\d{{6}}", registration.number) and registration.number.endswith("000001")
    assert (registration.holder_name, registration.resource_code) == ("市民政局", published.code)
    holders = [(h.right, h.name) for h in registration.right_holders.all()]
    assert holders == [("processing", "东湖区民政局"), ("operation", "云溪数据运营有限公司")]
    certificate = registration.certificates.get()
    signer = crypto.load_signer()
    assert (certificate.version, certificate.algorithm, certificate.key_id) == (1, "ed25519", signer.key_id)
    stated = json.loads(certificate.payload)
    assert stated["registration"]["number"] == registration.number
    assert stated["registration"]["holder"]["credit_code"] == registration.holder_credit_code
    assert crypto.verify_signature("ed25519", signer.public_key, certificate.payload.encode(),
                                   bytes(certificate.signature))
    result = certificates.verify(certificate)
    assert result.valid and result.problems == ()
    assert AuditEntry.objects.filter(action="catalog.register_rights", object_id=registration.number).exists()


def test_numbers_follow_each_other(make_resource, officer, registration):
    other = make_resource(officer, name="第二个接口", publish=True)
    second = actions.register_rights(officer, other, rights(holders=[]))
    assert second.number.endswith("000002")
    assert RightsRegistration.objects.count() == 2


def test_a_resource_is_registered_once(published, officer, registration):
    """A second registration would be a second, conflicting certificate: the registration is amended instead,
    and the page no longer offers to register."""
    assert not queries.may_register_rights(officer, published)
    with pytest.raises(Conflict, match="already registered; amend the registration instead"):
        actions.register_rights(officer, published, rights(holders=[]))
    assert RightsRegistration.objects.get() == registration


def test_text_that_cannot_be_signed_or_stored_is_a_field_error(published, officer):
    holder = actions.HolderInput(right="operation", name="某\x00公司", credit_code=credit_code(77, prefix="91"))
    bad = rights(source_system="系统\ud800", provenance_note="窗口\x00采集", holders=[holder])
    with pytest.raises(InvalidInput) as refused:
        actions.register_rights(officer, published, bad)
    assert {p.field for p in refused.value.details} >= {"source_system", "provenance_note", "holders[0].name"}
    assert not RightsRegistration.objects.exists()


def test_a_tampered_payload_fails_verification(registration):
    certificate = registration.certificates.get()
    document = json.loads(certificate.payload)
    document["registration"]["holder"]["name"] = "别的单位"
    RightsCertificate.objects.filter(pk=certificate.pk).update(payload=certificates.canonical(document).decode())
    certificate.refresh_from_db()
    result = certificates.verify(certificate)
    assert not result.valid and not result.signature_valid and result.key_trusted
    assert "signature does not match" in " ".join(result.problems)


def test_a_registration_altered_behind_the_actions_back_no_longer_matches(registration):
    RightHolder.objects.filter(registration=registration, right="operation").update(name="冒名公司")
    result = certificates.verify(registration.certificates.get())
    assert result.signature_valid and not result.matches_registration and not result.valid


def test_a_certificate_signed_with_another_key_is_not_trusted(registration):
    certificate = registration.certificates.get()
    stranger = crypto.signer_from_pem("ed25519", crypto.generate_private_key_pem("ed25519"))
    RightsCertificate.objects.filter(pk=certificate.pk).update(
        key_id=stranger.key_id, public_key=stranger.public_key,
        signature=stranger.sign(certificate.payload.encode()))
    certificate.refresh_from_db()
    result = certificates.verify(certificate)
    assert not result.key_trusted and not result.valid


def _forge(certificate, signer, **changes):
    RightsCertificate.objects.filter(pk=certificate.pk).update(**{
        "key_id": signer.key_id, "public_key": signer.public_key, "algorithm": signer.algorithm,
        "signature": signer.sign(certificate.payload.encode()), **changes})
    certificate.refresh_from_db()


def test_a_key_recorded_only_in_the_database_is_not_trusted(registration):
    """Whoever can write to the database can record a key of their own; that does not make it the platform's."""
    certificate = registration.certificates.get()
    forger = crypto.signer_from_pem("ed25519", crypto.generate_private_key_pem("ed25519"))
    SigningKeyRecord.objects.create(key_id=forger.key_id, algorithm=forger.algorithm, public_key=forger.public_key)
    _forge(certificate, forger)
    result = certificates.verify(certificate)
    assert not result.key_trusted and not result.valid
    assert certificates.trusted_public_key(forger.key_id) is None


def witness_of(settings, tmp_path, *key_ids):
    path = tmp_path / "witness.jsonl"
    path.write_text("".join(json.dumps({"tree_size": n + 1, "key_id": k}) + "\n" for n, k in enumerate(key_ids)))
    settings.AUDIT_WITNESS = str(path)


def test_a_witnessed_key_id_is_trusted_only_with_its_own_public_key(registration, settings, tmp_path):
    """The witness anchors an id; the recorded public key must be the one with that id."""
    certificate = registration.certificates.get()
    forger = crypto.signer_from_pem("ed25519", crypto.generate_private_key_pem("ed25519"))
    anchored = "ab" * 16
    witness_of(settings, tmp_path, anchored)
    SigningKeyRecord.objects.create(key_id=anchored, algorithm=forger.algorithm, public_key=forger.public_key)
    _forge(certificate, forger, key_id=anchored)
    assert certificates.trusted_public_key(anchored) is None
    assert not certificates.verify(certificate).valid


def test_after_a_key_rotation_a_certificate_verifies_while_the_witness_holds_its_key(registration, settings,
                                                                                      tmp_path):
    certificate = registration.certificates.get()
    old = crypto.load_signer()
    # What the sequencer does when the old key signs a tree head: record the key, send the head to the witness.
    SigningKeyRecord.objects.create(key_id=old.key_id, algorithm=old.algorithm, public_key=old.public_key)
    crypto.key_path(old.algorithm).unlink()  # rotated: the platform signs with a new key from now on
    crypto.clear_signer_cache()
    assert crypto.load_signer().key_id != old.key_id
    settings.AUDIT_WITNESS = str(tmp_path / "no-witness.jsonl")
    assert not certificates.verify(certificate).key_trusted  # recorded in the database only: not anchored
    witness_of(settings, tmp_path, old.key_id)
    assert certificates.verify(certificate).valid


def test_a_superseded_certificate_must_state_its_own_registration(make_resource, officer, governance,
                                                                  registration):
    """A genuine certificate of another registration, copied over a superseded one, does not certify this one."""
    other = actions.register_rights(officer, make_resource(officer, name="第二个接口", publish=True), rights())
    actions.amend_rights(governance, registration, rights(holders=[]), reason="经营权终止")
    superseded = registration.certificates.get(version=1)
    assert certificates.verify(superseded).valid
    genuine = other.certificates.get(version=1)
    RightsCertificate.objects.filter(pk=superseded.pk).update(payload=genuine.payload, signature=genuine.signature)
    superseded.refresh_from_db()
    result = certificates.verify(superseded)
    assert result.signature_valid and result.superseded
    assert not result.matches_registration and not result.valid


def test_certificates_verify_under_the_gm_suite_too(published, officer, settings):
    settings.CRYPTO_SUITE = "gm"
    registration = actions.register_rights(officer, published, rights())
    certificate = registration.certificates.get()
    assert certificate.algorithm == "sm2"
    assert certificates.verify(certificate).valid


def test_rights_input_problems_name_their_fields(published, officer):
    bad = rights(holder_code="NOPE", source_system=" ", holders=[
        actions.HolderInput(right="ownership", department_code="EAST-CA"),
        actions.HolderInput(right="operation", name="某公司", credit_code="123"),
        actions.HolderInput(right="processing", department_code="EAST-CA", name="也写了名字"),
    ])
    with pytest.raises(InvalidInput) as refused:
        actions.register_rights(officer, published, bad)
    assert {p.field for p in refused.value.details} == {
        "holder_code", "source_system", "holders[0].right", "holders[1].credit_code", "holders[2].department_code"}
    assert not RightsRegistration.objects.exists()


def test_drafts_cannot_be_registered(make_resource, officer):
    with pytest.raises(Conflict):
        actions.register_rights(officer, make_resource(), rights())


def test_an_amendment_signs_a_new_version_and_keeps_the_old_one_verifiable(registration, governance):
    new_operator = credit_code(78, prefix="91")
    actions.amend_rights(governance, registration, rights(holders=[
        actions.HolderInput(right="operation", name="云溪大数据集团", credit_code=new_operator)]),
        reason="争议调解结果：经营权转让。")
    registration.refresh_from_db()
    assert registration.version == 2
    old, new = registration.certificates.order_by("version")
    assert old.superseded_at is not None and new.superseded_at is None
    old_check, new_check = certificates.verify(old), certificates.verify(new)
    assert old_check.valid and old_check.superseded
    assert new_check.valid and not new_check.superseded
    assert json.loads(new.payload)["registration"]["operation_rights"] == [
        {"name": "云溪大数据集团", "credit_code": new_operator}]
    assert json.loads(old.payload)["registration"]["operation_rights"][0]["name"] == "云溪数据运营有限公司"


def test_only_the_governance_office_amends(registration, officer):
    with pytest.raises(NotPermitted):
        actions.amend_rights(officer, registration, rights(), reason="想改")


def test_dispute_flow_leaves_the_certificate_valid(registration, other_officer, governance):
    certificate = registration.certificates.get()
    dispute = actions.raise_dispute(other_officer, registration, reason="该数据由我局采集，持有权有误。")
    assert dispute.is_open and registration.open_dispute == dispute
    assert certificates.verify(certificate).valid  # a dispute is recorded beside the certificate
    with pytest.raises(Conflict):
        actions.raise_dispute(governance, registration, reason="再次提出")
    with pytest.raises(NotPermitted):
        actions.settle_dispute(other_officer, dispute, settlement="我说了算")
    settled = actions.settle_dispute(governance, dispute, settlement="经核查，登记无误。")
    assert not settled.is_open and settled.settled_by_name == governance.display_name
    with pytest.raises(Conflict):
        actions.settle_dispute(governance, dispute, settlement="again")
    assert certificates.verify(certificate).valid
    # Once settled, a new dispute may be raised.
    actions.raise_dispute(governance, registration, reason="新的争议")
    assert RightsDispute.objects.filter(registration=registration, settled_at__isnull=True).count() == 1
    actions_logged = set(AuditEntry.objects.filter(object_id=registration.number).values_list("action", flat=True))
    assert {"catalog.raise_dispute", "catalog.settle_dispute"} <= actions_logged


def test_a_dispute_needs_a_reason(registration, officer):
    with pytest.raises(InvalidInput) as refused:
        actions.raise_dispute(officer, registration, reason="  ")
    assert refused.value.details[0].field == "reason"


def test_lineage_is_recorded_and_cycles_are_refused(make_resource, published):
    derived = make_resource(name="婚姻状况统计", sources=[published.pk], related=[published.pk])
    assert list(derived.sources.all()) == [published]
    assert list(published.derived.all()) == [derived]
    assert list(published.related.all()) == [derived]  # related is mutual
    with pytest.raises(InvalidInput) as refused:
        actions.update_resource(None, published, metadata(sources=[derived.pk]))
    assert [p.field for p in refused.value.details] == ["sources"]
    with pytest.raises(InvalidInput) as refused:
        actions.update_resource(None, published, metadata(sources=[published.pk, 99999]))
    assert {p.field for p in refused.value.details} == {"sources"}
