"""The GovStack Consent API against its spec: every path served is the spec's, every answer's status is among
the operation's and carries the schema's required fields; bad input is a 400 naming the field; and consent given
or withdrawn through it is what the door checks at the next gateway call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from zhengtong.catalog.models import Resource
from zhengtong.exchange.models import Grant
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity import actions as identity
from zhengtong.identity.models import ApiClient, Department, User
from zhengtong.privacy.actions import consent as actions
from zhengtong.privacy.govstack_consent import api
from zhengtong.privacy.models import Consent, DataAgreement, Individual
from zhengtong.registries.models import Registry
from zhengtong.tests.specs import govstack_spec

BASE = "/govstack/consent"
GATEWAY = "/api/v1/gateway/registries/persons/records"
PURPOSE = "办理居住证"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return govstack_spec("consent/consent-api-1.1.0-rc1.yaml")


def _schema(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def conforms(spec: dict[str, Any], method: str, template: str, response: Any) -> dict[str, Any]:
    """The answer is one the spec's operation gives: a status it lists, and on success the required fields of
    every object it returns."""
    operation = spec["paths"][template][method]
    assert str(response.status_code) in operation["responses"], (template, response.status_code, response.content)
    body = response.json() if response.content else {}
    if response.status_code != 200:
        return body
    content = operation["responses"]["200"].get("content")
    if content is None:
        return body
    for name, prop in content["application/json"]["schema"].get("properties", {}).items():
        value = body.get(name)
        if value is None:
            continue
        items = value if prop.get("type") == "array" else [value]
        schema = _schema(spec, prop["items"]["oneOf"][0] if prop.get("type") == "array" else prop)
        for item in items:
            # A draft (no id yet, as the spec allows) has every required field, not yet every value.
            draft = item.get("id") is None
            missing = [field for field in schema.get("required", []) if field not in item
                       or (not draft and item[field] in (None, ""))]
            assert not missing, (template, name, missing)
    return body


class Caller:
    """A department system calling the Consent API with its bearer credential."""

    def __init__(self, client: Client, credential: str):
        self.client, self.headers = client, {"HTTP_AUTHORIZATION": f"Bearer {credential}"}

    def call(self, method: str, path: str, body: Any = None, **headers: Any) -> Any:
        send = getattr(self.client, method)
        if body is None:
            return send(BASE + path, **self.headers, **headers)
        return send(BASE + path, body, content_type="application/json", **self.headers, **headers)


@pytest.fixture
def office_system(client: Client, office: Department) -> Caller:
    issued = identity.create_api_client(None, department=office, name="市政务服务App")
    return Caller(client, issued.credential)


@pytest.fixture
def consumer_system(client: Client, consumer_client: tuple[ApiClient, str]) -> Caller:
    return Caller(client, consumer_client[1])


def agreement_body(resource: Resource, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "", "version": "", "purpose": PURPOSE, "lawfulBasis": "consent",
                            "dpia": "已完成个人信息保护影响评估。", "resource": resource.code,
                            "controller": {"id": "WEST-PSB"}, "dataAttributes": ["resident_id", {"name": "name"}],
                            "purposeDescription": "核验申请人身份，办理居住证。", "consentPeriodDays": 365}
    body.update(changes)
    return {"dataAgreement": body}


def gateway(client: Client, credential: str) -> tuple[int, str]:
    response = client.get(f"{GATEWAY}/{person(1)}", {"purpose": PURPOSE}, HTTP_AUTHORIZATION=f"Bearer {credential}")
    return response.status_code, response.json().get("code", "")


def test_every_path_served_is_the_specs_with_that_method(spec: dict[str, Any]) -> None:
    served = {(path.removeprefix(BASE), method) for path, item in api.get_openapi_schema()["paths"].items()
              for method in item}
    listed = {(path, method) for path, item in spec["paths"].items() for method in item
              if method in ("get", "post", "put", "delete")}
    assert served == listed


def test_a_system_of_the_office_configures_and_a_citizen_consents_and_withdraws_through_the_api(
        spec: dict[str, Any], client: Client, persons: Registry, persons_resource: Resource,
        make_grant: Callable[..., Grant], office_system: Caller, consumer_client: tuple[ApiClient, str],
        citizen_user: User) -> None:
    make_grant(basis="consent", fields=("resident_id", "name"), purpose=PURPOSE)
    policy = conforms(spec, "post", "/config/policy/", office_system.call("post", "/config/policy/", {"policy": {
        "id": "", "name": "云溪市个人信息保护政策", "version": "", "url": "https://www.yunxi.gov.cn/privacy/v1",
        "dataRetentionPeriodDays": 365}}))
    created = conforms(spec, "post", "/config/data-agreement/", office_system.call(
        "post", "/config/data-agreement/", agreement_body(persons_resource, policy={"id": policy["policy"]["id"]})))
    agreement = created["dataAgreement"]
    assert (agreement["version"], agreement["controller"]["id"]) == ("1", "WEST-PSB")
    assert [a["name"] for a in agreement["dataAttributes"]] == ["resident_id", "name"]
    assert created["revision"]["objectId"] == agreement["id"]
    individual = conforms(spec, "post", "/config/individual/", office_system.call(
        "post", "/config/individual/", {"individual": {"id": "", "externalId": person(1)}}))["individual"]
    assert individual["externalId"] != person(1) and individual["externalId"].endswith(person(1)[-4:])

    assert gateway(client, consumer_client[1]) == (403, "consent_missing")
    client.force_login(citizen_user)  # the citizen's own session: they act for themselves
    template = "/service/individual/record/data-agreement/{dataAgreementId}/"
    given = conforms(spec, "post", template, client.post(f"{BASE}/service/individual/record/data-agreement/"
                                                         f"{agreement['id']}/"))
    record = given["consentRecord"]
    assert (record["individual"], record["optIn"], record["state"]) == (individual["id"], True, "signed")
    assert record["signature"]["verificationSignedAs"] == "individual"
    client.logout()
    assert gateway(client, consumer_client[1])[0] == 200

    client.force_login(citizen_user)
    template = "/service/individual/record/consent-record/{consentRecordId}/"
    withdrawn = conforms(spec, "put", template, client.put(
        f"{BASE}/service/individual/record/consent-record/{record['id']}/", {"consentRecord": {"optIn": False}},
        content_type="application/json"))
    assert (withdrawn["consentRecord"]["optIn"], withdrawn["consentRecord"]["consentState"]) == (False, "withdrawn")
    client.logout()
    assert gateway(client, consumer_client[1]) == (403, "consent_withdrawn")


def test_a_revision_through_the_api_asks_again(spec: dict[str, Any], client: Client, persons: Registry,
                                               persons_resource: Resource, make_grant: Callable[..., Grant],
                                               office_system: Caller, consumer_system: Caller,
                                               consumer_client: tuple[ApiClient, str], citizen_user: User) -> None:
    make_grant(basis="consent", fields=("resident_id", "name"), purpose=PURPOSE)
    agreement = office_system.call("post", "/config/data-agreement/", agreement_body(persons_resource)).json()[
        "dataAgreement"]
    individual = office_system.call("post", "/config/individual/", {"individual": {"externalId": person(1)}}).json()[
        "individual"]
    given = office_system.call("post", f"/service/individual/record/data-agreement/{agreement['id']}/",
                               HTTP_X_INDIVIDUAL_ID=individual["id"])
    assert given.status_code == 200 and given.json()["consentRecord"]["signature"]["verificationSignedAs"] == \
        "delegate"
    assert gateway(client, consumer_client[1])[0] == 200

    revised = conforms(spec, "put", "/config/data-agreement/{dataAgreementId}/", office_system.call(
        "put", f"/config/data-agreement/{agreement['id']}/",
        agreement_body(persons_resource, dataAttributes=["resident_id", "name", "phone"])))
    assert revised["dataAgreement"]["version"] == "2"
    assert revised["revision"]["predecessorHash"]
    assert gateway(client, consumer_client[1]) == (403, "consent_missing")

    # The consumer's system checks consent before it calls: the individual's record is for version 1.
    found = conforms(spec, "get", "/service/verification/consent-records/", consumer_system.call(
        "get", f"/service/verification/consent-records/?dataAgreementId={agreement['id']}"))
    assert [(r["dataAgreementVersion"], r["consentState"]) for r in found["consentRecords"]] == [
        ("1", "needs_renewal")]
    history = conforms(spec, "get", "/audit/data-agreement/{dataAgreementId}/",
                       office_system.call("get", f"/audit/data-agreement/{agreement['id']}/"))
    assert [r["objectId"] for r in history["revisions"]] == [agreement["id"]] * 2

    client.force_login(citizen_user)
    again = client.post(f"{BASE}/service/individual/record/data-agreement/{agreement['id']}/")
    assert again.status_code == 200 and again.json()["consentRecord"]["dataAgreementVersion"] == "2"
    client.logout()
    assert gateway(client, consumer_client[1])[0] == 200


def test_the_draft_and_signed_flow_stores_the_individuals_signature(
        spec: dict[str, Any], persons_resource: Resource, office_system: Caller, citizen_user: User) -> None:
    agreement = office_system.call("post", "/config/data-agreement/", agreement_body(persons_resource)).json()[
        "dataAgreement"]
    individual = office_system.call("post", "/config/individual/", {"individual": {"externalId": person(1)}}).json()[
        "individual"]
    draft = conforms(spec, "post", "/service/individual/record/consent-record/draft/", office_system.call(
        "post", f"/service/individual/record/consent-record/draft/?dataAgreementId={agreement['id']}"
                f"&individualId={individual['id']}"))
    assert draft["consentRecord"]["id"] is None and not Consent.objects.exists()
    signature = {**draft["signature"], "signature": "MEUCIQD-signed-in-the-citizen-app", "verificationMethod":
                 "sm2-app", "verificationSignedBy": "app-key-42"}
    stored = conforms(spec, "post", "/service/individual/record/consent-record/", office_system.call(
        "post", "/service/individual/record/consent-record/",
        {"consentRecord": draft["consentRecord"], "signature": signature}))
    assert stored["signature"]["verificationMethod"] == "sm2-app"
    assert stored["signature"]["signature"] == "MEUCIQD-signed-in-the-citizen-app"
    # A method the platform cannot check: kept, never "signed"; relayed by the office's system, as a delegate.
    assert (stored["consentRecord"]["state"], stored["signature"]["verificationSignedAs"]) == (
        "unverified", "delegate")
    listed = conforms(spec, "get", "/service/individual/record/consent-record/", office_system.call(
        "get", "/service/individual/record/consent-record/", HTTP_X_INDIVIDUAL_ID=individual["id"]))
    assert [r["id"] for r in listed["consentRecords"]] == [stored["consentRecord"]["id"]]


def test_bad_input_is_a_400_naming_the_field(spec: dict[str, Any], persons_resource: Resource,
                                              office_system: Caller) -> None:
    missing = office_system.call("post", "/config/data-agreement/", {"agreement": {}})
    assert missing.status_code == 400 and missing.json()["details"][0]["field"] == "dataAgreement"
    bad = conforms(spec, "post", "/config/data-agreement/", office_system.call(
        "post", "/config/data-agreement/", agreement_body(persons_resource, purpose=None, lawfulBasis="whim",
                                                          dataAttributes=["salary"], consentPeriodDays="一年")))
    assert {d["field"] for d in bad["details"]} == {"dataAgreement.purpose", "dataAgreement.consentPeriodDays"}
    wrong = conforms(spec, "post", "/config/data-agreement/", office_system.call(
        "post", "/config/data-agreement/", agreement_body(persons_resource, lawfulBasis="whim",
                                                          dataAttributes=["salary"])))
    assert {d["field"] for d in wrong["details"]} == {"dataAgreement.lawfulBasis", "dataAgreement.dataAttributes"}
    unknown = conforms(spec, "get", "/config/data-agreement/{dataAgreementId}/",
                       office_system.call("get", "/config/data-agreement/no-such-agreement/"))
    assert (unknown["code"], unknown["details"][0]["field"]) == ("not_found", "dataAgreementId")
    nobody = conforms(spec, "post", "/config/individual/", office_system.call(
        "post", "/config/individual/", {"individual": {"externalId": person(3)}}))
    assert nobody["details"][0]["field"] == "individual.externalId"
    paged = conforms(spec, "get", "/config/data-agreements/", office_system.call("get",
                                                                                "/config/data-agreements/?limit=0"))
    assert paged["details"][0]["field"] == "limit"
    assert not DataAgreement.objects.exists() and not Individual.objects.exists()


def test_a_conflict_is_a_400_with_its_code(spec: dict[str, Any], persons_resource: Resource,
                                           office_system: Caller) -> None:
    office_system.call("post", "/config/data-agreement/", agreement_body(persons_resource))
    twice = conforms(spec, "post", "/config/data-agreement/", office_system.call(
        "post", "/config/data-agreement/", agreement_body(persons_resource)))
    assert twice["code"] == "conflict"


def test_who_may_call_what(client: Client, persons_resource: Resource, office_system: Caller,
                           consumer_system: Caller, citizen_user: User, governance: User) -> None:
    assert client.get(f"{BASE}/config/data-agreements/").status_code == 401
    refused = consumer_system.call("post", "/config/data-agreement/", agreement_body(persons_resource))
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    agreement = office_system.call("post", "/config/data-agreement/", agreement_body(persons_resource)).json()[
        "dataAgreement"]
    # The consumer's system reads its own agreements, not the audit trail, and acts for no individual.
    assert [a["id"] for a in consumer_system.call("get", "/config/data-agreements/").json()["dataAgreement"]] == [
        agreement["id"]]
    assert consumer_system.call("get", "/audit/consent-records/").status_code == 403
    individual = office_system.call("post", "/config/individual/", {"individual": {"externalId": person(1)}}).json()[
        "individual"]
    assert consumer_system.call("post", f"/service/individual/record/data-agreement/{agreement['id']}/",
                                HTTP_X_INDIVIDUAL_ID=individual["id"]).status_code == 403
    # A citizen acts for themselves only, and does not configure.
    other = identity.register_citizen(None, identity.CitizenInput(name="李四", resident_id=person(2),
                                                                  phone="13800138002", division_code="330106"))
    someone_else = actions.individual_for(other)
    client.force_login(citizen_user)
    assert client.post(f"{BASE}/service/individual/record/data-agreement/{agreement['id']}/",
                       HTTP_X_INDIVIDUAL_ID=someone_else.public_id).status_code == 403
    assert client.post(f"{BASE}/config/data-agreement/", agreement_body(persons_resource),
                       content_type="application/json").status_code == 403
    # Staff of the governance office read the audit endpoints in their session.
    client.force_login(governance)
    assert client.get(f"{BASE}/audit/data-agreements/").status_code == 200
    assert not Consent.objects.exists()


def test_webhooks_are_not_offered_yet(office_system: Caller) -> None:
    answer = office_system.call("get", "/config/webhooks/")
    assert (answer.status_code, answer.json()["code"]) == (501, "not_implemented")


def test_every_other_operation_answers_as_the_spec_says(spec: dict[str, Any], client: Client,
                                                          persons_resource: Resource, office_system: Caller,
                                                          consumer_system: Caller, citizen_user: User) -> None:
    policy = office_system.call("post", "/config/policy/", {"policy": {
        "name": "云溪市个人信息保护政策", "url": "https://www.yunxi.gov.cn/privacy/v1"}}).json()["policy"]
    pid = policy["id"]
    updated = conforms(spec, "put", "/config/policy/{policyId}/", office_system.call(
        "put", f"/config/policy/{pid}/", {"policy": {"name": policy["name"], "url": "https://www.yunxi.gov.cn/v2"}}))
    first_revision = updated["revision"]["predecessorHash"]
    assert updated["policy"]["version"] == "2" and first_revision
    revisions = conforms(spec, "get", "/config/policy/{policyId}/revisions/",
                         office_system.call("get", f"/config/policy/{pid}/revisions/"))["revisions"]
    assert [r["serializedHash"] for r in revisions][0] == first_revision
    old = conforms(spec, "get", "/config/policy/{policyId}/", office_system.call(
        "get", f"/config/policy/{pid}/?revisionId={revisions[0]['id']}"))
    assert old["policy"]["url"] == "https://www.yunxi.gov.cn/privacy/v1"  # as it was in that revision
    assert conforms(spec, "get", "/config/policies/", office_system.call("get", "/config/policies/"))["policies"]
    assert conforms(spec, "get", "/service/policy/{policyId}/",
                    consumer_system.call("get", f"/service/policy/{pid}/"))["policy"]["version"] == "2"

    agreement = office_system.call("post", "/config/data-agreement/", agreement_body(
        persons_resource, forgettable=True)).json()["dataAgreement"]
    aid = agreement["id"]
    for template, path in (("/config/data-agreement/{dataAgreementId}/", f"/config/data-agreement/{aid}/"),
                           ("/service/data-agreement/{dataAgreementId}/", f"/service/data-agreement/{aid}/"),
                           ("/audit/data-agreement/{dataAgreementId}/", f"/audit/data-agreement/{aid}/")):
        assert conforms(spec, "get", template, office_system.call("get", path))["dataAgreement"]["id"] == aid
    for template, key in (("/service/verification/data-agreements/", "dataAgreements"),
                          ("/audit/data-agreements/", "dataAgreements"), ("/config/data-agreements/", "dataAgreement")):
        assert [a["id"] for a in conforms(spec, "get", template, office_system.call("get", template))[key]] == [aid]

    individual = conforms(spec, "post", "/service/individual/", office_system.call(
        "post", "/service/individual/", {"individual": {"externalId": person(1)}}))["individual"]
    iid = individual["id"]
    for template, path in (("/config/individual/{individualId}/", f"/config/individual/{iid}/"),
                           ("/service/individual/{individualId}/", f"/service/individual/{iid}/")):
        assert conforms(spec, "get", template, office_system.call("get", path))["individual"]["id"] == iid
    for template in ("/config/individuals/", "/service/individuals/"):
        assert [i["id"] for i in conforms(spec, "get", template, office_system.call("get", template))[
            "individuals"]] == [iid]
    renamed = conforms(spec, "put", "/service/individual/{individualId}/", office_system.call(
        "put", f"/service/individual/{iid}/", {"individual": {"identityProviderId": "浙里办"}}))
    assert renamed["individual"]["identityProviderId"] == "浙里办"

    given = office_system.call("post", f"/service/individual/record/data-agreement/{aid}/?individualId={iid}").json()
    cid = given["consentRecord"]["id"]
    as_individual = {"HTTP_X_INDIVIDUAL_ID": iid}
    read = conforms(spec, "get", "/service/individual/record/data-agreement/{dataAgreementId}/", office_system.call(
        "get", f"/service/individual/record/data-agreement/{aid}/", **as_individual))
    assert read["consentRecord"]["id"] == cid
    ready = conforms(spec, "post", "/service/individual/record/consent-record/{consentRecordId}/signature/",
                     office_system.call("post", f"/service/individual/record/consent-record/{cid}/signature/",
                                        {"signature": {"verificationMethod": "sm2-app"}}, **as_individual))
    assert ready["signature"]["id"] is None and ready["signature"]["verificationPayloadHash"]
    signed = conforms(spec, "put", "/service/individual/record/consent-record/{consentRecordId}/signature/",
                      office_system.call("put", f"/service/individual/record/consent-record/{cid}/signature/",
                                         {"signature": {"signature": "c2lnbmVk", "verificationMethod": "sm2-app",
                                                        "verificationSignedBy": "app-key-42"}}, **as_individual))
    assert signed["signature"]["objectReference"] == ready["signature"]["objectReference"]
    for template, path in (("/service/verification/consent-record/{consentRecordId}/",
                            f"/service/verification/consent-record/{cid}/"),
                           ("/audit/consent-record/{consentRecordId}/", f"/audit/consent-record/{cid}/")):
        assert conforms(spec, "get", template, office_system.call("get", path))["consentRecord"]["id"] == cid
    assert len(office_system.call("get", f"/audit/consent-record/{cid}/").json()["signatures"]) == 2
    for template in ("/service/verification/consent-records/", "/audit/consent-records/"):
        assert [r["id"] for r in conforms(spec, "get", template, office_system.call("get", template))[
            "consentRecords"]] == [cid]
    everything = conforms(spec, "get", "/service/individual/record/data-agreement/{dataAgreementId}/all/",
                          office_system.call("get", f"/service/individual/record/data-agreement/{aid}/all/",
                                             **as_individual))
    assert [r["id"] for r in everything["consentRecords"]] == [cid]

    office_system.call("put", f"/service/individual/record/consent-record/{cid}/",
                       {"consentRecord": {"optIn": False}}, **as_individual)
    forgotten = conforms(spec, "delete", "/service/individual/record/", office_system.call(
        "delete", "/service/individual/record/", **as_individual))
    assert forgotten == {"deleted": 1} and not Consent.objects.exists()
    retired = conforms(spec, "delete", "/config/data-agreement/{dataAgreementId}/",
                       office_system.call("delete", f"/config/data-agreement/{aid}/"))
    assert retired["revision"]["objectId"] == aid
    deleted = conforms(spec, "delete", "/config/policy/{policyId}/",
                       office_system.call("delete", f"/config/policy/{pid}/"))
    assert deleted["revision"]["objectId"] == pid


def test_a_system_may_not_sign_as_the_individual_nor_sign_a_withdrawn_consent(
        spec: dict[str, Any], persons_resource: Resource, office_system: Caller, citizen_user: User) -> None:
    aid = office_system.call("post", "/config/data-agreement/", agreement_body(persons_resource)).json()[
        "dataAgreement"]["id"]
    iid = office_system.call("post", "/config/individual/", {"individual": {"externalId": person(1)}}).json()[
        "individual"]["id"]
    as_individual = {"HTTP_X_INDIVIDUAL_ID": iid}
    cid = office_system.call("post", f"/service/individual/record/data-agreement/{aid}/", **as_individual).json()[
        "consentRecord"]["id"]
    path, template = (f"/service/individual/record/consent-record/{cid}/signature/",
                      "/service/individual/record/consent-record/{consentRecordId}/signature/")
    signature = {"signature": "c2lnbmVk", "verificationMethod": "sm2-app", "verificationSignedBy": "app-key-42"}
    claimed = conforms(spec, "put", template, office_system.call(
        "put", path, {"signature": {**signature, "verificationSignedAs": "individual"}}, **as_individual))
    assert claimed["details"][0]["field"] == "signature.verificationSignedAs"
    office_system.call("put", f"/service/individual/record/consent-record/{cid}/", {"consentRecord": {"optIn": False}},
                       **as_individual)
    late = office_system.call("put", path, {"signature": signature}, **as_individual)
    assert (late.status_code, late.json()["code"]) == (400, "conflict")


def test_the_current_records_are_paged_by_the_database(spec: dict[str, Any], persons_resource: Resource,
                                                        office_system: Caller, citizen_user: User) -> None:
    identity.register_citizen(None, identity.CitizenInput(name="李四", resident_id=person(2), phone="13800138002",
                                                          division_code="330106"))
    aid = office_system.call("post", "/config/data-agreement/", agreement_body(persons_resource)).json()[
        "dataAgreement"]["id"]
    given = []
    for n in (1, 2):
        iid = office_system.call("post", "/config/individual/", {"individual": {"externalId": person(n)}}).json()[
            "individual"]["id"]
        headers = {"HTTP_X_INDIVIDUAL_ID": iid}
        cid = office_system.call("post", f"/service/individual/record/data-agreement/{aid}/", **headers).json()[
            "consentRecord"]["id"]
        office_system.call("put", f"/service/individual/record/consent-record/{cid}/",
                           {"consentRecord": {"optIn": False}}, **headers)
        given.append(cid)
    template = "/service/verification/consent-records/"
    pages = [conforms(spec, "get", template, office_system.call("get", f"{template}?limit=1&offset={offset}"))[
        "consentRecords"] for offset in (0, 1, 2)]
    assert [[(r["id"], r["optIn"]) for r in page] for page in pages] == [[(given[0], False)], [(given[1], False)], []]
