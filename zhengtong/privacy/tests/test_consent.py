"""Data agreements and consent: the governance office publishes and revises agreements, citizens give and
withdraw consent, a revision asks again, and the one door follows every answer at the very next gateway call."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.test import Client
from django.utils import timezone

from zhengtong.audit.models import AuditEntry, Result
from zhengtong.audit.subjects import subject_hash
from zhengtong.catalog import demo as catalog_demo
from zhengtong.catalog.models import Resource
from zhengtong.core import crypto
from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted
from zhengtong.exchange import actions as exchange_actions
from zhengtong.exchange import door
from zhengtong.exchange.models import ConsentRecord, Grant
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity import actions as identity
from zhengtong.identity import demo as identity_demo
from zhengtong.identity import roles
from zhengtong.identity.models import ApiClient, Citizen, Department, User
from zhengtong.privacy import demo
from zhengtong.privacy.actions import consent as actions
from zhengtong.privacy.models import Consent, ConsentState, DataAgreement, Revision, SignatureState
from zhengtong.privacy.queries import consent as queries
from zhengtong.registries import base
from zhengtong.registries import demo as registries_demo
from zhengtong.registries.models import Registry

GATEWAY = "/api/v1/gateway/registries/persons/records"
PURPOSE = "办理居住证"


def terms(resource: Resource, consumer: Any, **changes: Any) -> actions.AgreementInput:
    values: dict[str, Any] = {"resource": resource, "consumer": consumer, "purpose": PURPOSE,
                              "data_elements": ["resident_id", "name"],
                              "purpose_description": "核验申请人身份，办理居住证。"}
    values.update(changes)
    return actions.AgreementInput(**values)


@pytest.fixture
def agreement(governance: User, persons_resource: Resource, city: dict[str, Any]) -> DataAgreement:
    return actions.publish_agreement(governance, terms(persons_resource, city["other"]))[0]


@pytest.fixture
def citizen(citizen_user: User) -> Citizen:
    assert citizen_user.citizen.resident_id == person(1)
    return citizen_user.citizen


@pytest.fixture
def consent_grant(make_grant: Callable[..., Grant]) -> Grant:
    """A grant on consent reading what the agreement covers (a consent covers its agreement's fields only)."""
    return make_grant(basis="consent", fields=("resident_id", "name"), purpose=PURPOSE)


def gateway_call(client: Client, credential: str, key: str = person(1)) -> tuple[int, str]:
    response = client.get(f"{GATEWAY}/{key}", {"purpose": PURPOSE}, HTTP_AUTHORIZATION=f"Bearer {credential}")
    return response.status_code, response.json().get("code", "")


# --- agreements ----------------------------------------------------------------------------------------------


def test_publishing_an_agreement_writes_its_first_revision_and_audit_entry(agreement: DataAgreement) -> None:
    assert (agreement.version, agreement.active) == (1, True)
    revision = actions.latest_revision("DataAgreement", agreement.public_id)
    assert revision is not None and revision.predecessor_hash == ""
    data = json.loads(revision.serialized_snapshot)["objectData"]
    assert [a["name"] for a in data["dataAttributes"]] == ["resident_id", "name"]
    assert data["controller"]["id"] == "WEST-PSB"
    assert revision.serialized_hash == crypto.digest(revision.serialized_snapshot.encode()).hex()
    entry = AuditEntry.objects.get(action="privacy.publish_agreement")
    assert entry.object_id == agreement.public_id and entry.actor_name


def test_only_the_governance_office_publishes(consumer_officer: User, persons_resource: Resource,
                                              city: dict[str, Any], consumer_client: tuple[ApiClient, str]) -> None:
    for actor in (consumer_officer, consumer_client[0]):
        with pytest.raises(NotPermitted):
            actions.publish_agreement(actor, terms(persons_resource, city["other"]))
    assert not DataAgreement.objects.exists()
    assert AuditEntry.objects.filter(action="identity.permission_denied", result=Result.DENIED).count() == 2


def test_bad_terms_are_refused_by_field_and_nothing_is_written(governance: User, persons_resource: Resource,
                                                              city: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as refused:
        actions.publish_agreement(governance, terms(persons_resource, city["other"], purpose=" ",
                                                    data_elements=["name", "salary"], consent_days=0,
                                                    lawful_basis="whim"))
    assert {d.field for d in refused.value.details} == {"purpose", "dataAttributes", "consentPeriodDays",
                                                        "lawfulBasis"}
    assert "salary" in str(refused.value)
    assert not DataAgreement.objects.exists() and not Revision.objects.exists()


def test_one_live_agreement_per_resource_and_consumer(governance: User, agreement: DataAgreement,
                                                      persons_resource: Resource, city: dict[str, Any]) -> None:
    with pytest.raises(Conflict):
        actions.publish_agreement(governance, terms(persons_resource, city["other"], purpose="另一个目的"))
    actions.retire_agreement(governance, agreement, reason="业务调整")
    again, _ = actions.publish_agreement(governance, terms(persons_resource, city["other"], purpose="另一个目的"))
    assert again.version == 1


def test_a_revision_of_terms_raises_the_version_and_chains_the_history(governance: User,
                                                                       agreement: DataAgreement) -> None:
    first = actions.latest_revision("DataAgreement", agreement.public_id)
    revised, revision = actions.revise_agreement(governance, agreement, terms(
        agreement.resource, agreement.consumer, data_elements=["resident_id", "name", "phone"]))
    assert revised.version == 2
    assert first is not None
    first.refresh_from_db()
    assert first.successor == revision and revision.predecessor_hash == first.serialized_hash
    closed, _ = actions.revise_agreement(governance, revised, terms(
        agreement.resource, agreement.consumer, data_elements=["resident_id", "name", "phone"], active=False))
    assert (closed.version, closed.active) == (2, False)  # closing to new consent is no change of terms
    assert [r.pk for r in queries.agreement_revisions(agreement)][-1] == actions.latest_revision(
        "DataAgreement", agreement.public_id).pk  # type: ignore[union-attr]


# --- consent and the door --------------------------------------------------------------------------------------


def test_consent_given_withdrawn_and_given_again_is_followed_by_the_next_gateway_call(
        client: Client, persons: Registry, agreement: DataAgreement, consent_grant: Grant, citizen: Citizen,
        citizen_user: User, consumer_client: tuple[ApiClient, str]) -> None:
    credential = consumer_client[1]
    assert gateway_call(client, credential) == (403, "consent_missing")
    individual = actions.individual_for(citizen)
    consent = actions.give_consent(citizen_user, agreement, individual)
    assert gateway_call(client, credential)[0] == 200
    assert gateway_call(client, credential, person(2)) == (403, "consent_missing")  # only who consented
    record = consent.exchange_record
    assert record is not None and record.subject_hash == subject_hash(person(1))
    assert (record.agreement_ref, record.agreement_version) == (agreement.public_id, 1)

    actions.withdraw_consent(citizen_user, agreement, individual)
    assert gateway_call(client, credential) == (403, "consent_withdrawn")
    assert queries.citizen_agreement(citizen, agreement.public_id).state == ConsentState.WITHDRAWN  # type: ignore[union-attr]

    again = actions.give_consent(citizen_user, agreement, individual)
    assert again.pk == consent.pk  # one record per revision and individual, turned back on
    assert gateway_call(client, credential)[0] == 200
    actions_logged = list(AuditEntry.objects.filter(object_id=consent.public_id).values_list("action", flat=True))
    assert actions_logged == ["privacy.give_consent", "privacy.withdraw_consent", "privacy.give_consent"]
    assert len(queries.consent_history(citizen, agreement)) == 3


def test_a_consent_covers_only_the_fields_of_its_agreement(
        client: Client, persons: Registry, governance: User, persons_resource: Resource, city: dict[str, Any],
        make_grant: Callable[..., Grant], citizen: Citizen, citizen_user: User,
        consumer_client: tuple[ApiClient, str]) -> None:
    narrow, _ = actions.publish_agreement(governance, terms(persons_resource, city["other"],
                                                            data_elements=["name", "phone"]))
    grant = make_grant(basis="consent", fields=("name", "phone", "birth_date"), purpose=PURPOSE)
    consent = actions.give_consent(citizen_user, narrow, actions.individual_for(citizen))
    assert consent.exchange_record is not None and consent.exchange_record.fields == ["name", "phone"]
    response = client.get(f"{GATEWAY}/{person(1)}", {"purpose": PURPOSE},
                          HTTP_AUTHORIZATION=f"Bearer {consumer_client[1]}")
    assert (response.status_code, response.json()["code"]) == (403, "consent_missing")
    assert "birth_date" in response.json()["message"] and "phone" not in response.json()["message"]
    refused = AuditEntry.objects.filter(result=Result.DENIED, object_id="persons").latest("pk")
    assert refused.detail["fields"] == ["birth_date"]

    Grant.objects.filter(pk=grant.pk).update(fields=["name"])  # the consumer reads less: the consent covers it
    assert gateway_call(client, consumer_client[1])[0] == 200


def test_a_consent_covers_only_the_purpose_of_its_agreement(
        client: Client, persons: Registry, agreement: DataAgreement, citizen: Citizen, citizen_user: User,
        make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str]) -> None:
    """The same consumer, resource and fields, but a grant for another purpose than the one consented to."""
    grant = make_grant(basis="consent", fields=("resident_id", "name"), purpose="上门走访核查")
    actions.give_consent(citizen_user, agreement, actions.individual_for(citizen))
    assert gateway_call(client, consumer_client[1]) == (403, "consent_missing")
    Grant.objects.filter(pk=grant.pk).update(purpose=f" {PURPOSE} ")  # the agreement's purpose: covered
    assert gateway_call(client, consumer_client[1])[0] == 200


def test_a_consent_recorded_without_an_agreement_still_covers_every_field(
        client: Client, persons: Registry, make_grant: Callable[..., Grant], citizen_user: User,
        persons_resource: Resource, city: dict[str, Any], consumer_client: tuple[ApiClient, str]) -> None:
    make_grant(basis="consent", purpose=PURPOSE)  # all five fields
    legacy = exchange_actions.give_consent(citizen_user, subject=person(1), resource=persons_resource,
                                           consumer=city["other"], purpose=PURPOSE)
    assert legacy.fields == []
    assert gateway_call(client, consumer_client[1])[0] == 200


def test_withdrawing_in_the_privacy_centre_withdraws_an_earlier_consent_without_agreement(
        client: Client, persons: Registry, agreement: DataAgreement, consent_grant: Grant, citizen: Citizen,
        citizen_user: User, persons_resource: Resource, city: dict[str, Any],
        consumer_client: tuple[ApiClient, str]) -> None:
    legacy = exchange_actions.give_consent(citizen_user, subject=person(1), resource=persons_resource,
                                           consumer=city["other"], purpose=PURPOSE)
    other_use = exchange_actions.give_consent(citizen_user, subject=person(1), resource=persons_resource,
                                              consumer=city["bureau"], purpose=PURPOSE)
    individual = actions.individual_for(citizen)
    actions.give_consent(citizen_user, agreement, individual)
    actions.withdraw_consent(citizen_user, agreement, individual)
    assert gateway_call(client, consumer_client[1]) == (403, "consent_withdrawn")
    legacy.refresh_from_db()
    other_use.refresh_from_db()
    assert legacy.withdrawn_at is not None and other_use.withdrawn_at is None  # another consumer's stays
    entry = AuditEntry.objects.filter(action="privacy.withdraw_consent").get()
    assert entry.detail["unagreed_consents_withdrawn"] == 1


def test_a_revised_agreement_asks_again_and_the_door_stops_counting_the_old_consent(
        client: Client, persons: Registry, agreement: DataAgreement, consent_grant: Grant, citizen: Citizen,
        citizen_user: User, governance: User, consumer_client: tuple[ApiClient, str]) -> None:
    individual = actions.individual_for(citizen)
    actions.give_consent(citizen_user, agreement, individual)
    assert gateway_call(client, consumer_client[1])[0] == 200

    revised, _ = actions.revise_agreement(governance, agreement, terms(
        agreement.resource, agreement.consumer, data_elements=["resident_id", "name", "phone"]))
    assert gateway_call(client, consumer_client[1]) == (403, "consent_missing")
    seen = queries.citizen_agreement(citizen, agreement.public_id)
    assert seen is not None
    assert (seen.state, seen.added, seen.removed, seen.may_give) == (ConsentState.NEEDS_RENEWAL, ["phone"], [], True)
    assert queries.consent_counts(revised)["needs_renewal"] == 1

    renewed = actions.give_consent(citizen_user, revised, individual)
    assert renewed.agreement_version == 2
    assert gateway_call(client, consumer_client[1])[0] == 200
    assert queries.citizen_agreement(citizen, agreement.public_id).state == ConsentState.GIVEN  # type: ignore[union-attr]
    assert queries.consenting_count(revised) == 1


def test_a_retired_agreement_stops_counting_and_takes_no_new_consent(
        client: Client, persons: Registry, agreement: DataAgreement, consent_grant: Grant, citizen: Citizen,
        citizen_user: User, governance: User, consumer_client: tuple[ApiClient, str]) -> None:
    individual = actions.individual_for(citizen)
    actions.give_consent(citizen_user, agreement, individual)
    actions.retire_agreement(governance, agreement, reason="项目结束")
    assert gateway_call(client, consumer_client[1]) == (403, "consent_missing")
    with pytest.raises(Conflict):
        actions.give_consent(citizen_user, agreement, individual)
    assert queries.citizen_agreement(citizen, agreement.public_id).state == ConsentState.ENDED  # type: ignore[union-attr]


def test_consent_lasts_the_agreements_period(governance: User, persons_resource: Resource, city: dict[str, Any],
                                             persons: Registry, consent_grant: Grant, citizen: Citizen,
                                             citizen_user: User, consumer_client: tuple[ApiClient, str],
                                             client: Client) -> None:
    agreement, _ = actions.publish_agreement(governance, terms(persons_resource, city["other"], consent_days=30))
    consent = actions.give_consent(citizen_user, agreement, actions.individual_for(citizen))
    assert consent.expires_at is not None
    assert consent.expires_at - consent.given_at == dt.timedelta(days=30)  # type: ignore[operator]
    with time_machine.travel(timezone.now() + dt.timedelta(days=31)):
        assert gateway_call(client, consumer_client[1]) == (403, "consent_missing")
        assert queries.citizen_agreement(citizen, agreement.public_id).state == ConsentState.EXPIRED  # type: ignore[union-attr]


def test_a_citizen_answers_only_for_themselves(agreement: DataAgreement, citizen_user: User, city: dict[str, Any],
                                               consumer_officer: User) -> None:
    other = identity.register_citizen(None, identity.CitizenInput(name="李四", resident_id=person(2),
                                                                  phone="13800138002", division_code="330106"))
    someone_else = actions.individual_for(other)
    for actor in (citizen_user, consumer_officer):
        with pytest.raises(NotPermitted):
            actions.give_consent(actor, agreement, someone_else)
    assert not Consent.objects.exists() and not ConsentRecord.objects.exists()


def test_the_governance_office_records_a_consent_given_on_paper(
        agreement: DataAgreement, governance: User, citizen: Citizen) -> None:
    consent = actions.give_consent(governance, agreement, actions.individual_for(citizen))
    signature = consent.signatures.get()
    assert signature.verification_signed_as == "delegate"
    revision = Revision.objects.get(public_id=signature.object_reference)  # the consent's own revision
    assert signature.verification_payload_hash == revision.serialized_hash
    assert (revision.schema_name, revision.object_id) == ("ConsentRecord", consent.public_id)
    assert revision.authorized_by_other == "user:governance"
    entry = AuditEntry.objects.get(action="privacy.give_consent")
    assert entry.subjects == [subject_hash(person(1))]


def test_a_consent_given_in_the_citizens_session_is_signed_by_the_platform(agreement: DataAgreement,
                                                                           citizen_user: User,
                                                                           citizen: Citizen) -> None:
    consent = actions.give_consent(citizen_user, agreement, actions.individual_for(citizen))
    signature = consent.signatures.get()
    signer = crypto.load_signer()
    assert signature.verification_signed_by == signer.key_id
    assert crypto.verify_signature(signer.algorithm, signer.public_key, signature.payload.encode(),
                                   base64.b64decode(signature.signature))
    revision = Revision.objects.get(public_id=signature.object_reference)
    assert revision.authorized_by_individual == consent.individual


def app_signature(payload: str, key: Ed25519PrivateKey | None = None, **changes: str) -> actions.SignatureInput:
    """A signature made in the citizen's app by their own ed25519 key, with the public key as the artifact."""
    key = key or Ed25519PrivateKey.generate()
    values = {"signature": base64.b64encode(key.sign(payload.encode())).decode(), "verification_method": "ed25519",
              "verification_signed_by": "citizen-app-key", "verification_artifact": base64.b64encode(
                  key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode(),
              "verification_signed_as": "delegate"}
    values.update(changes)
    return actions.SignatureInput(**values)


def test_a_signature_from_elsewhere_is_verified_or_marked_unverified_never_signed_unchecked(
        agreement: DataAgreement, governance: User, citizen: Citizen) -> None:
    individual = actions.individual_for(citizen)
    signed_revision = actions.latest_revision("DataAgreement", agreement.public_id)
    assert signed_revision is not None
    with pytest.raises(InvalidInput) as forged:  # signed over something else
        actions.give_consent(governance, agreement, individual, signature=app_signature("another text"))
    assert [p.field for p in forged.value.details] == ["signature.signature"]
    assert not Consent.objects.exists()

    consent = actions.give_consent(governance, agreement, individual,
                                   signature=app_signature(signed_revision.serialized_snapshot))
    signature = consent.signatures.get()
    assert (consent.state, signature.verified, signature.object_reference) == (
        SignatureState.SIGNED, True, signed_revision.public_id)

    actions.withdraw_consent(governance, agreement, individual)
    unknown = app_signature("", signature="MEUCIQD", verification_method="sm2-app", verification_artifact="")
    again = actions.give_consent(governance, agreement, individual, signature=unknown)
    assert again.state == SignatureState.UNVERIFIED
    assert not again.signatures.order_by("-pk").first().verified  # type: ignore[union-attr]


def test_only_the_citizen_in_their_session_signs_as_the_individual(agreement: DataAgreement, governance: User,
                                                                   citizen: Citizen) -> None:
    individual = actions.individual_for(citizen)
    snapshot = actions.latest_revision("DataAgreement", agreement.public_id).serialized_snapshot  # type: ignore[union-attr]
    with pytest.raises(InvalidInput) as claimed:
        actions.give_consent(governance, agreement, individual,
                             signature=app_signature(snapshot, verification_signed_as="individual"))
    assert [p.field for p in claimed.value.details] == ["signature.verificationSignedAs"]
    relayed = actions.give_consent(governance, agreement, individual,
                                   signature=app_signature(snapshot, verification_signed_as=""))
    assert relayed.signatures.get().verification_signed_as == "delegate"


def test_a_withdrawal_is_a_signed_revision_and_a_withdrawn_consent_cannot_be_signed(
        agreement: DataAgreement, citizen_user: User, citizen: Citizen, governance: User) -> None:
    individual = actions.individual_for(citizen)
    consent = actions.give_consent(citizen_user, agreement, individual)
    key = Ed25519PrivateKey.generate()
    first = actions.latest_revision("ConsentRecord", consent.public_id)
    assert first is not None
    assert actions.sign_consent(governance, consent, app_signature(first.serialized_snapshot, key)).verified

    actions.withdraw_consent(citizen_user, agreement, individual)
    withdrawal = actions.latest_revision("ConsentRecord", consent.public_id)
    assert withdrawal is not None and json.loads(withdrawal.serialized_snapshot)["objectData"]["optIn"] is False
    last = consent.signatures.order_by("-pk").first()
    assert last is not None and (last.object_reference, last.verified) == (withdrawal.public_id, True)
    assert last.verification_method.startswith("zhengtong-platform-")
    with pytest.raises(Conflict):
        actions.sign_consent(governance, consent, app_signature(withdrawal.serialized_snapshot, key))
    assert consent.signatures.count() == 3


def test_one_consent_in_force_per_version_even_across_revisions_of_the_same_version(
        agreement: DataAgreement, governance: User, citizen_user: User, citizen: Citizen) -> None:
    individual = actions.individual_for(citizen)
    actions.give_consent(citizen_user, agreement, individual)
    same_terms = terms(agreement.resource, agreement.consumer, active=True)
    _same, revision = actions.revise_agreement(governance, agreement, same_terms)  # a new revision, same version
    assert revision.object_id == agreement.public_id and _same.version == 1
    with pytest.raises(Conflict):
        actions.give_consent(citizen_user, agreement, individual)
    assert Consent.objects.filter(opt_in=True).count() == 1


def test_giving_twice_and_withdrawing_nothing_are_conflicts(agreement: DataAgreement, citizen_user: User,
                                                            citizen: Citizen) -> None:
    individual = actions.individual_for(citizen)
    with pytest.raises(Conflict):
        actions.withdraw_consent(citizen_user, agreement, individual)
    actions.give_consent(citizen_user, agreement, individual)
    with pytest.raises(Conflict):
        actions.give_consent(citizen_user, agreement, individual)
    assert ConsentRecord.objects.count() == 1


def test_agreements_on_another_basis_are_shown_but_not_consented_to(
        governance: User, persons_resource: Resource, city: dict[str, Any], citizen: Citizen,
        citizen_user: User) -> None:
    agreement, _ = actions.publish_agreement(governance, terms(persons_resource, city["other"],
                                                               lawful_basis="legal_obligation"))
    with pytest.raises(Conflict):
        actions.give_consent(citizen_user, agreement, actions.individual_for(citizen))
    assert queries.citizen_agreements(citizen) == []  # only agreements on consent ask the citizen


def test_the_citizens_list_shows_never_asked_agreements(agreement: DataAgreement, citizen: Citizen) -> None:
    [seen] = queries.citizen_agreements(citizen)
    assert (seen.agreement, seen.state, seen.may_give, seen.may_withdraw) == (
        agreement, ConsentState.NEVER_ASKED, True, False)


def test_forgetting_deletes_withdrawn_consents_to_forgettable_agreements(
        governance: User, persons_resource: Resource, city: dict[str, Any], citizen: Citizen,
        citizen_user: User) -> None:
    agreement, _ = actions.publish_agreement(governance, terms(persons_resource, city["other"], forgettable=True))
    individual = actions.individual_for(citizen)
    consent = actions.give_consent(citizen_user, agreement, individual)
    assert actions.forget_consents(citizen_user, individual) == 0  # a consent in force is kept
    actions.withdraw_consent(citizen_user, agreement, individual)
    assert actions.forget_consents(citizen_user, individual) == 1
    assert not Consent.objects.filter(pk=consent.pk).exists()
    assert Revision.objects.filter(object_id=consent.public_id).count() == 2  # the history stays


def test_policies_are_versioned_and_kept_while_agreements_use_them(governance: User, persons_resource: Resource,
                                                                   city: dict[str, Any]) -> None:
    policy, first = actions.create_policy(governance, actions.PolicyInput(
        name="云溪市政务数据共享个人信息保护政策", url="https://www.yunxi.gov.cn/privacy/v1", data_retention_days=365))
    agreement, _ = actions.publish_agreement(governance, terms(persons_resource, city["other"], policy=policy))
    updated, second = actions.update_policy(governance, policy, actions.PolicyInput(
        name=policy.name, url="https://www.yunxi.gov.cn/privacy/v2", data_retention_days=180))
    assert updated.version == 2 and second.predecessor_hash == first.serialized_hash
    with pytest.raises(Conflict):
        actions.delete_policy(governance, policy)
    actions.retire_agreement(governance, agreement)
    actions.delete_policy(governance, policy)
    policy.refresh_from_db()
    assert policy.deleted_at is not None


def test_the_governance_officer_role_holds_the_consent_permissions(governance: User) -> None:
    assert governance.has_perm(actions.CONFIGURE) and governance.has_perm("privacy.view_consent")
    assert roles.GOVERNANCE_OFFICER in set(governance.groups.values_list("name", flat=True))


# --- the citizen's own JSON API ----------------------------------------------------------------------------------


def test_the_citizen_lists_gives_and_withdraws_through_their_api(
        client: Client, persons: Registry, agreement: DataAgreement, consent_grant: Grant, citizen_user: User,
        consumer_client: tuple[ApiClient, str]) -> None:
    assert client.get("/api/v1/privacy/consents").status_code == 401
    client.force_login(citizen_user)
    [listed] = client.get("/api/v1/privacy/consents").json()
    assert (listed["id"], listed["state"], listed["may_give"]) == (agreement.public_id, "never_asked", True)
    assert [e["label"] for e in listed["data_elements"]] == ["公民身份号码", "姓名"]
    given = client.post(f"/api/v1/privacy/consents/{agreement.public_id}/give")
    assert given.status_code == 200 and given.json()["state"] == "given"
    again = client.post(f"/api/v1/privacy/consents/{agreement.public_id}/give")
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    client.logout()
    assert gateway_call(client, consumer_client[1])[0] == 200
    client.force_login(citizen_user)
    withdrawn = client.post(f"/api/v1/privacy/consents/{agreement.public_id}/withdraw")
    assert (withdrawn.json()["state"], withdrawn.json()["may_withdraw"]) == ("withdrawn", False)
    client.logout()
    assert gateway_call(client, consumer_client[1]) == (403, "consent_withdrawn")


def test_the_citizens_api_is_for_citizens_and_known_agreements(client: Client, agreement: DataAgreement,
                                                               citizen_user: User, governance: User) -> None:
    client.force_login(governance)
    assert client.get("/api/v1/privacy/consents").status_code == 403
    client.force_login(citizen_user)
    missing = client.post("/api/v1/privacy/consents/no-such-agreement/give")
    assert (missing.status_code, missing.json()["details"][0]["field"]) == (404, "agreement_id")
    assert not Consent.objects.exists()


# --- the demo ------------------------------------------------------------------------------------------------------


def test_the_demo_seeds_agreements_grants_and_the_citizens_answers_once(db: Any) -> None:
    identity_demo.seed_demo_city(citizens=60, businesses=0, progress=False)
    registries_demo.seed_registries(parcels=20, addresses=20, progress=False)
    catalog_demo.seed_catalog()
    summary = demo.seed_consent(seed=1)
    assert (summary.agreements, summary.grants, summary.consents) == (2, 2, 2)
    assert "2 data agreements" in summary.describe()
    again = demo.seed_consent(seed=1)
    assert (again.agreements, again.grants, again.consents) == (0, 0, 0)

    citizen = User.objects.get(username=demo.CITIZEN).citizen
    states = {item.agreement.consumer.code: item.state for item in queries.citizen_agreements(citizen)}
    assert states == {"YX-HUD": ConsentState.GIVEN, "YX-HSA": ConsentState.NEEDS_RENEWAL}
    persons = Registry.objects.get(code=base.PERSONS)
    for code, answer in (("YX-HUD", None), ("YX-HSA", "consent_missing")):
        system = identity.create_api_client(None, department=Department.objects.get(code=code), name="demo").client
        reader = door.Reader.system(system)
        if answer is None:
            reading = door.read_record(reader, persons, citizen.resident_id, purpose="人才住房申请")
            assert reading.values["resident_id"] == citizen.resident_id
            continue
        with pytest.raises(door.Refused) as refused:
            door.read_record(reader, persons, citizen.resident_id, purpose="预约上门服务")
        assert refused.value.code == answer
