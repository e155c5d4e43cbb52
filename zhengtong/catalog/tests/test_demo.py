"""The demo city's catalog: base resources published with codes and legal bases, departments' APIs and a thematic
resource derived from the base, rights registrations whose certificates verify, one open dispute, the catalog's
own rules kept, and a second seeding that adds and changes nothing.

The city is seeded without citizens or businesses and its base registries defined without records: the catalog
describes registries, it does not read them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from stdnum.cn import uscc

from zhengtong.audit.models import AuditEntry
from zhengtong.catalog import actions, certificates, demo
from zhengtong.catalog.models import (
    DataItem,
    OpeningType,
    Resource,
    ResourceKind,
    ResourceStatus,
    RightKind,
    RightsCertificate,
    RightsDispute,
    RightsRegistration,
    SharingType,
)
from zhengtong.identity import demo as identity_demo
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.registries import base
from zhengtong.registries.models import Grade, Level, Sensitivity

CODE = re.compile(r"[123]\d{5}[0-9A-Z]{0,18}/\d{6}")


@pytest.fixture
def seeded(db: Any) -> demo.CatalogSeedSummary:
    identity_demo.seed_demo_city(citizens=0, businesses=0, progress=False)
    base.define_base_registries()
    return demo.seed_catalog()


def resource(key: str) -> Resource:
    if key in demo.BASE_METADATA:
        return Resource.objects.get(registry__code=key)
    api = next(a for a in demo.API_RESOURCES if a.key == key)
    return Resource.objects.get(provider__code=api.provider_code, name=api.metadata.name)


def test_the_base_resources_are_published_with_codes_and_legal_bases(seeded: demo.CatalogSeedSummary) -> None:
    fronts = {code: (resource(code).code or "").split("/")[0] for code in demo.BASE_METADATA}
    assert fronts == {base.PERSONS: "101001", base.LEGAL_ENTITIES: "102001", base.LAND_PARCELS: "103001",
                      base.STANDARD_ADDRESSES: "103002", base.MACRO_INDICATORS: "106001"}
    for code in demo.BASE_METADATA:
        item = resource(code)
        assert item.status == ResourceStatus.PUBLISHED and item.published_on is not None, code
        assert item.kind == ResourceKind.BASE and CODE.fullmatch(item.code or ""), code
        assert item.summary and item.update_cycle and item.format and item.legal_basis, code
    persons = resource(base.PERSONS)
    assert (persons.sharing_type, persons.opening_type) == (SharingType.CONDITIONAL, OpeningType.CLOSED)
    assert "《中华人民共和国居民身份证法》" in persons.legal_basis
    assert "《中华人民共和国个人信息保护法》第十三条、第二十八条、第三十四条" in persons.legal_basis
    assert "公共数据条例" in persons.legal_basis and persons.sharing_condition
    indicators = resource(base.MACRO_INDICATORS)
    assert (indicators.sharing_type, indicators.opening_type) == (SharingType.UNCONDITIONAL, OpeningType.OPEN)
    assert (indicators.grade, indicators.level) == (Grade.GENERAL, Level.L1)
    assert resource(base.STANDARD_ADDRESSES).opening_type == OpeningType.CONDITIONAL
    assert set(resource(base.PERSONS).related.all()) >= {resource(base.STANDARD_ADDRESSES)}


def test_apis_and_the_thematic_resource_are_published_and_linked(seeded: demo.CatalogSeedSummary) -> None:
    assert seeded.published == len(demo.BASE_METADATA) + len(demo.API_RESOURCES) == 10
    assert Resource.objects.filter(status=ResourceStatus.PUBLISHED).count() == 10
    for api in demo.API_RESOURCES:
        item = resource(api.key)
        assert item.status == ResourceStatus.PUBLISHED and item.is_api and CODE.fullmatch(item.code or ""), api.key
    marriage = resource(demo.MARRIAGE)
    # Departmental codes: item 07, then the category and the provider's credit code.
    assert marriage.code == f"307001{marriage.provider.credit_code}/000001"
    assert set(marriage.related.all()) == {resource(base.PERSONS)}
    # Related links go both ways and none made earlier was lost by a later one.
    assert set(resource(base.STANDARD_ADDRESSES).related.all()) == {
        resource(key) for key in (base.PERSONS, base.LEGAL_ENTITIES, base.LAND_PARCELS, demo.ENROLMENT)}
    theme = resource(demo.POPULATION_THEME)
    assert theme.kind == ResourceKind.THEMATIC and theme.code == "210001/000001"
    assert set(theme.sources.all()) == {resource(key) for key in
                                        (base.PERSONS, base.STANDARD_ADDRESSES, base.MACRO_INDICATORS)}
    assert set(resource(base.PERSONS).derived.all()) == {theme}


def test_every_grade_is_its_highest_items_and_the_sharing_rules_hold(seeded: demo.CatalogSeedSummary) -> None:
    for item in Resource.objects.prefetch_related("items"):
        items = list(item.items.all())
        assert items, item.name
        assert item.grade == max(i.grade for i in items) and item.level == max(i.level for i in items), item.name
        sensitivities = {i.sensitivity for i in items}
        if Sensitivity.SENSITIVE_PERSONAL in sensitivities or item.level == Level.L4:
            assert item.sharing_type == SharingType.CONDITIONAL and item.legal_basis, item.name
        if item.opening_type == OpeningType.OPEN:
            assert sensitivities == {Sensitivity.PUBLIC} and item.level == Level.L1, item.name
    # The enrolment check is about minors: every item is sensitive personal information.
    assert set(DataItem.objects.filter(resource=resource(demo.ENROLMENT)).values_list("sensitivity", flat=True)) == {
        Sensitivity.SENSITIVE_PERSONAL}
    assert (resource(demo.SOCIAL_INSURANCE).grade, resource(demo.SOCIAL_INSURANCE).level) == (Grade.IMPORTANT,
                                                                                            Level.L4)


def test_registrations_have_verified_certificates_and_one_open_dispute(seeded: demo.CatalogSeedSummary) -> None:
    assert seeded.registrations == 6
    registrations = {r.resource_id: r for r in RightsRegistration.objects.prefetch_related("right_holders")}
    assert set(registrations) == {resource(key).pk for key in demo.RIGHTS}
    for registration in registrations.values():
        certificate = registration.current_certificate
        assert certificate is not None and certificates.verify(certificate).valid, registration.number
        assert registration.source_system and registration.collection_legal_basis
        assert any(h.right == RightKind.PROCESSING and h.department_id for h in registration.right_holders.all())
    persons = registrations[resource(base.PERSONS).pk]
    assert persons.holder.code == "YX-PSB"
    assert not persons.right_holders.filter(right=RightKind.OPERATION).exists()
    operation = registrations[resource(demo.SOCIAL_INSURANCE).pk].right_holders.get(right=RightKind.OPERATION)
    assert (operation.name, operation.department) == (demo.OPERATOR_NAME, None)
    assert uscc.is_valid(operation.credit_code) and operation.credit_code.startswith("91532300")
    dispute = RightsDispute.objects.get()
    assert dispute.is_open and dispute.registration == registrations[resource(base.LAND_PARCELS).pk]
    assert dispute.raised_by is not None and dispute.raised_by.staff.department.code == "YX-AGRI"
    assert dispute.raised_by.groups.filter(name=roles.DATA_OFFICER).exists()


def test_a_second_run_adds_and_changes_nothing(seeded: demo.CatalogSeedSummary) -> None:
    def state() -> tuple[Any, ...]:
        return (list(Resource.objects.values().order_by("pk")), list(DataItem.objects.values().order_by("pk")),
                list(RightsRegistration.objects.values().order_by("pk")), RightsCertificate.objects.count(),
                list(RightsDispute.objects.values().order_by("pk")), AuditEntry.objects.count())

    before = state()
    again = demo.seed_catalog()
    assert (again.published, again.registrations, again.disputes) == (0, 0, 0)
    assert state() == before
    # Once the governance office settles the dispute, seeding does not raise it again.
    actions.settle_dispute(None, RightsDispute.objects.get(), settlement="经协调，维持原登记。")
    assert demo.seed_catalog().disputes == 0 and RightsDispute.objects.count() == 1


def test_seeding_before_the_base_registries_names_them(db: Any) -> None:
    with pytest.raises(Resource.DoesNotExist, match="persons"):
        demo.seed_catalog()


def test_the_dispute_is_raised_by_the_agriculture_bureau_or_not_at_all(db: Any) -> None:
    """The docstring says who raises the demo dispute; without that officer the seeding stops, all of it."""
    identity_demo.seed_demo_city(citizens=0, businesses=0, progress=False)
    base.define_base_registries()
    User.objects.filter(staff__department__code=demo.DISPUTE_RAISED_BY).update(is_active=False)
    with pytest.raises(User.DoesNotExist, match=demo.DISPUTE_RAISED_BY):
        demo.seed_catalog()
    assert not RightsRegistration.objects.exists() and not RightsDispute.objects.exists()
