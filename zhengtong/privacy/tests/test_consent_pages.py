"""Consent pages: a citizen sees the data agreements that concern them (which data, to whom, for what, how long)
and where they stand; gives consent and the consumer's gateway call relying on it succeeds; withdraws it after a
page saying what happens, and the next call is refused 403; a revised agreement asks again, naming what changed.
The governance office publishes, revises (seeing every version) and withdraws agreements on pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from zhengtong.catalog.models import Resource
from zhengtong.exchange.models import Grant
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity.models import ApiClient, User
from zhengtong.privacy.actions import consent as consent_actions
from zhengtong.privacy.models import ConsentState, DataAgreement
from zhengtong.privacy.queries import consent as consent_queries

pytestmark = pytest.mark.django_db

PURPOSE = "办理居住证"


def english(user: User | None = None) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def agreement(governance: User, persons_resource: Resource, city: dict[str, Any]) -> DataAgreement:
    """WEST-PSB may receive the name and phone of people in the persons registry who consent."""
    published, _revision = consent_actions.publish_agreement(governance, consent_actions.AgreementInput(
        resource=persons_resource, consumer=city["other"], purpose=PURPOSE, data_elements=["name", "phone"],
        purpose_description="核对申请人的姓名和联系电话。", consent_days=365, retention_days=90))
    return published


def gateway_call(credential: str) -> Any:
    """The consumer's system reads person 1 (the citizen of `citizen_user`) for the agreement's purpose."""
    return Client().get(f"/api/v1/gateway/registries/persons/records/{person(1)}", {"purpose": PURPOSE},
                        HTTP_AUTHORIZATION=f"Bearer {credential}")


def test_a_citizen_gives_and_withdraws_consent_and_the_gateway_follows(
        agreement: DataAgreement, citizen_user: User, make_grant: Callable[..., Grant],
        consumer_client: tuple[ApiClient, str]) -> None:
    make_grant(basis="consent", fields=("name", "phone"), purpose=PURPOSE)
    credential = consumer_client[1]
    assert gateway_call(credential).json()["code"] == "consent_missing"
    client = english(citizen_user)

    listing = client.get(reverse("privacy:consents")).content.decode()
    assert "西山区公安分局" in listing and PURPOSE in listing and "not yet answered" in listing.lower()

    give_url = reverse("privacy:give-consent", args=[agreement.public_id])
    confirm = client.get(give_url).content.decode()
    assert "核对申请人的姓名和联系电话。" in confirm and "365 days" in confirm and "90 days" in confirm
    assert client.post(give_url)["Location"] == reverse("privacy:consent", args=[agreement.public_id])
    assert gateway_call(credential).status_code == 200

    detail = client.get(reverse("privacy:consent", args=[agreement.public_id])).content.decode()
    assert "Consent given" in detail and "consent given to version 1" in detail

    withdraw_url = reverse("privacy:withdraw-consent", args=[agreement.public_id])
    warning = client.get(withdraw_url).content.decode()
    assert "calls that rely on your consent are refused" in warning
    client.post(withdraw_url)
    refused = gateway_call(credential)
    assert refused.status_code == 403 and refused.json()["code"] == "consent_withdrawn"
    assert "Consent withdrawn" in client.get(reverse("privacy:consents")).content.decode()


def test_a_revised_agreement_asks_again_naming_what_changed(agreement: DataAgreement, citizen_user: User,
                                                           governance: User, persons_resource: Resource,
                                                           city: dict[str, Any]) -> None:
    citizen = citizen_user.citizen
    consent_actions.give_consent(citizen_user, agreement, consent_actions.individual_for(citizen))
    consent_actions.revise_agreement(governance, agreement, consent_actions.AgreementInput(
        resource=persons_resource, consumer=city["other"], purpose=PURPOSE,
        data_elements=["name", "phone", "birth_date"], consent_days=365, retention_days=90))
    client = english(citizen_user)
    assert "1 agreement changed since you consented" in client.get(reverse("privacy:consents")).content.decode()
    detail = client.get(reverse("privacy:consent", args=[agreement.public_id])).content.decode()
    assert "You consented to version 1" in detail and "Data added" in detail and "出生日期" in detail
    client.post(reverse("privacy:give-consent", args=[agreement.public_id]))
    state = consent_queries.citizen_agreement(citizen, agreement.public_id)
    assert state is not None and state.state == ConsentState.GIVEN and state.consent is not None
    assert state.consent.agreement_version == 2


def test_the_decision_pages_offer_only_what_can_be_done(agreement: DataAgreement, citizen_user: User) -> None:
    client = english(citizen_user)
    # Nothing given yet: withdrawing leads back to the agreement, and changes nothing.
    response = client.post(reverse("privacy:withdraw-consent", args=[agreement.public_id]))
    assert response["Location"] == reverse("privacy:consent", args=[agreement.public_id])
    assert client.get(reverse("privacy:consent", args=["no-such-agreement"])).status_code == 404


def test_consent_pages_are_for_citizens_and_agreement_pages_for_the_office(
        agreement: DataAgreement, citizen_user: User, provider_officer: User) -> None:
    assert english(provider_officer).get(reverse("privacy:consents")).status_code == 403
    for name, args in (("privacy:agreements", []), ("privacy:agreement", [agreement.public_id]),
                       ("privacy:new-agreement", []), ("privacy:revise-agreement", [agreement.public_id])):
        assert english(citizen_user).get(reverse(name, args=args)).status_code == 403, name
    assert english().get(reverse("privacy:consents"))["Location"].startswith(reverse("identity:login"))


def test_the_office_publishes_revises_and_withdraws_an_agreement_on_pages(
        governance: User, persons_resource: Resource, city: dict[str, Any]) -> None:
    client = english(governance)
    new_url = reverse("privacy:new-agreement")
    assert "Data resource" in client.get(new_url).content.decode()
    step_two = f"{new_url}?resource={persons_resource.pk}"
    form = client.get(step_two).content.decode()
    assert 'name="data_elements" value="phone"' in form

    wrong = client.post(step_two, {"consumer": city["other"].pk, "purpose": PURPOSE, "lawful_basis": "consent",
                                   "consent_days": "0", "active": "on"})
    assert wrong.status_code == 422
    assert 'href="#id_data_elements_0"' in wrong.content.decode() or "id_data_elements" in wrong.content.decode()
    assert not DataAgreement.objects.exists()

    done = client.post(step_two, {"consumer": city["other"].pk, "purpose": PURPOSE, "lawful_basis": "consent",
                                  "data_elements": ["name", "phone"], "consent_days": "365", "active": "on"})
    agreement = DataAgreement.objects.get()
    assert done["Location"] == reverse("privacy:agreement", args=[agreement.public_id])
    assert PURPOSE in client.get(reverse("privacy:agreements")).content.decode()

    revise_url = reverse("privacy:revise-agreement", args=[agreement.public_id])
    assert "asked to consent again" in client.get(revise_url).content.decode()
    client.post(revise_url, {"purpose": PURPOSE, "lawful_basis": "consent", "data_elements": ["name"],
                             "consent_days": "180", "active": "on"})
    agreement.refresh_from_db()
    assert agreement.version == 2 and agreement.data_elements == ["name"] and agreement.consumer == city["other"]
    detail = client.get(reverse("privacy:agreement", args=[agreement.public_id])).content.decode()
    assert "fields, consent valid for (days)" in detail and "Published" in detail

    retire_url = reverse("privacy:retire-agreement", args=[agreement.public_id])
    assert client.post(retire_url, {"reason": ""}).status_code == 422
    client.post(retire_url, {"reason": "业务已调整，不再需要。"})
    agreement.refresh_from_db()
    assert not agreement.is_live
    assert "Withdrawn from use" in client.get(reverse("privacy:agreement", args=[agreement.public_id])).content.decode()
