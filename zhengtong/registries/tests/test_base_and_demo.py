"""The four base registries: their schemas and grading, defining them once, and the demo city's data in them —
consistent with its citizens and businesses, valid geometry, complete indicator series, and a second seeding
that adds and changes nothing.

Geometry is checked here independently of the code under test: areas by the shoelace formula on a local
equirectangular projection, centroids by ray casting.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from stdnum.cn import ric

from zhengtong.audit.models import AuditEntry
from zhengtong.identity import demo as identity_demo
from zhengtong.identity.models import Business, Citizen, Department, Division, DivisionLevel
from zhengtong.registries import base, demo, queries
from zhengtong.registries.codec import RecordCodec
from zhengtong.registries.models import (
    Grade,
    Level,
    Record,
    RecordChange,
    Registry,
    SchemaVersion,
    Sensitivity,
    Validator,
)
from zhengtong.registries.schema import Schema, check_definition

CITIZENS = 200
BUSINESSES = 30
PARCELS = 150
ADDRESSES = 160
# The city and its six counties; six indicators by year and quarter of 2019–2025, two by year only.
INDICATOR_ROWS = 7 * (6 * 7 * 5 + 2 * 7)


@pytest.fixture
def demo_city(db: Any) -> identity_demo.DemoSummary:
    return identity_demo.seed_demo_city(citizens=CITIZENS, businesses=BUSINESSES, progress=False)


@pytest.fixture
def seeded(demo_city: identity_demo.DemoSummary) -> demo.RegistrySeedSummary:
    return demo.seed_registries(parcels=PARCELS, addresses=ADDRESSES, progress=False)


def registry(code: str) -> Registry:
    return Registry.objects.get(code=code)


def plain_records(code: str) -> list[dict[str, Any]]:
    codec = RecordCodec(registry(code))
    return [codec.plain(record.data) for record in Record.objects.filter(registry__code=code)]


# --- schemas ------------------------------------------------------------------------------------------------------


def test_every_base_schema_is_a_valid_definition_with_both_labels() -> None:
    assert [b.code for b in base.BASE_REGISTRIES] == [
        base.PERSONS, base.LEGAL_ENTITIES, base.LAND_PARCELS, base.STANDARD_ADDRESSES, base.MACRO_INDICATORS]
    for item in base.BASE_REGISTRIES:
        fields = item.fields()
        assert check_definition(fields) == [], item.code
        assert item.name and item.name_en and item.description
        for spec in fields:
            assert spec.label and spec.label_en, f"{item.code}.{spec.name}"
            for choice in spec.choices:
                assert choice["value"] and choice["label"] and choice["label_en"]


def test_sensitive_personal_data_is_encrypted_masked_and_graded_highest() -> None:
    persons = {spec.name: spec for spec in base.person_fields()}
    key = persons["resident_id"]
    assert (key.is_key, key.encrypted, key.validator, key.masking) == (True, True, Validator.RESIDENT_ID, "keep:6:4")
    assert (key.sensitivity, key.level, key.grade) == (Sensitivity.SENSITIVE_PERSONAL, Level.L4, Grade.IMPORTANT)
    assert persons["name"].encrypted and persons["name"].masking == "name"
    assert persons["mobile_phone"].encrypted and persons["mobile_phone"].masking == "keep:3:4"
    assert persons["birth_date"].masking == "date_year"
    entities = {spec.name: spec for spec in base.legal_entity_fields()}
    assert entities["credit_code"].is_key and not entities["credit_code"].encrypted
    assert entities["legal_representative_id"].encrypted and entities["legal_representative_id"].level == Level.L4
    for item in base.BASE_REGISTRIES:
        for spec in item.fields():
            where = f"{item.code}.{spec.name}"
            if spec.sensitivity == Sensitivity.SENSITIVE_PERSONAL:
                assert spec.encrypted and spec.level == Level.L4 and spec.masking not in ("", "none"), where
            if spec.sensitivity in (Sensitivity.PERSONAL, Sensitivity.SENSITIVE_PERSONAL):
                assert spec.level >= Level.L2, where
            if spec.encrypted:
                assert spec.masking not in ("", "none"), where
            if spec.sensitivity == Sensitivity.PUBLIC:
                assert spec.level == Level.L1 and not spec.encrypted, where
    # A registry's grade and level are its highest field's (就高从严).
    assert (Schema(base.person_fields()).grade, Schema(base.person_fields()).level) == (Grade.IMPORTANT, Level.L4)
    assert (Schema(base.macro_indicator_fields()).grade,
            Schema(base.macro_indicator_fields()).level) == (Grade.GENERAL, Level.L1)


def test_indicator_periods_are_years_quarters_or_months() -> None:
    for period in ("2025", "2025-Q3", "2025-07", "2019-12"):
        assert re.fullmatch(base.PERIOD_PATTERN, period), period
    for period in ("2025-Q5", "2025-13", "25-Q1", "2025Q1", "2025-00"):
        assert not re.fullmatch(base.PERIOD_PATTERN, period), period


# --- defining them ------------------------------------------------------------------------------------------------


def test_defining_the_base_registries_twice_defines_them_once(demo_city: identity_demo.DemoSummary) -> None:
    first = base.define_base_registries()
    assert {code: r.department.code for code, r in first.items()} == {
        base.PERSONS: "YX-PSB", base.LEGAL_ENTITIES: "YX-AMR", base.LAND_PARCELS: "YX-NRP",
        base.STANDARD_ADDRESSES: "YX-NRP", base.MACRO_INDICATORS: "YX-STATS"}
    assert all(r.is_base for r in first.values())
    persons = first[base.PERSONS]
    persons_fields = list(persons.fields.order_by("position").values_list("name", flat=True))
    assert persons_fields == [spec.name for spec in base.person_fields()]
    # An operator's later edit is left alone.
    Registry.objects.filter(pk=persons.pk).update(description="由公安局维护")
    before = (Registry.objects.count(), SchemaVersion.objects.count(),
              AuditEntry.objects.filter(action="registries.define_registry").count())
    again = base.define_base_registries()
    assert {code: r.pk for code, r in again.items()} == {code: r.pk for code, r in first.items()}
    assert (Registry.objects.count(), SchemaVersion.objects.count(),
            AuditEntry.objects.filter(action="registries.define_registry").count()) == before == (5, 5, 5)
    assert registry(base.PERSONS).description == "由公安局维护"


def test_defining_the_base_registries_without_the_demo_city_names_the_missing_department(db: Any) -> None:
    with pytest.raises(Department.DoesNotExist, match="YX-PSB"):
        base.define_base_registries()
    assert not Registry.objects.exists()


# --- the demo city's data (each test seeds the city, which takes seconds, so related checks share a test) --------


def test_persons_and_legal_entities_are_the_citizens_and_businesses(seeded: demo.RegistrySeedSummary) -> None:
    persons = registry(base.PERSONS)
    codec = RecordCodec(persons)
    assert Record.objects.filter(registry=persons).count() == Citizen.objects.count() == CITIZENS
    assert seeded.outcomes[base.PERSONS].created == CITIZENS
    addresses = {row["full_address"] for row in plain_records(base.STANDARD_ADDRESSES)}
    for citizen in Citizen.objects.order_by("pk")[:40]:
        record = queries.find_record(persons, citizen.resident_id, codec=codec)
        assert record is not None, citizen.resident_id
        assert citizen.resident_id not in str(record.data), "the resident ID is stored sealed"
        assert record.key_value != citizen.resident_id, "and found through its blind index"
        values = codec.plain(record.data)
        assert (values["resident_id"], values["name"], values["gender"], values["birth_date"],
                values["household_division"], values["mobile_phone"]) == (
            citizen.resident_id, citizen.name, citizen.gender, citizen.birth_date.isoformat(), citizen.division_id,
            citizen.phone)
        assert values["status"] == "active"
        home = values["residence_address"]
        assert home and any(home.startswith(address) for address in addresses), home
        township = Division.objects.get(code=citizen.division_id)
        assert township.name in home, "people live in the township of their household registration"

    entities = registry(base.LEGAL_ENTITIES)
    codec = RecordCodec(entities)
    assert Record.objects.filter(registry=entities).count() == Business.objects.count() == BUSINESSES
    for business in Business.objects.select_related("legal_representative"):
        record = queries.find_record(entities, business.credit_code, codec=codec)
        assert record is not None, business.credit_code
        values = codec.plain(record.data)
        representative = business.legal_representative
        assert (values["name"], values["legal_representative"], values["legal_representative_id"],
                values["division_code"]) == (business.name, representative.name, representative.resident_id,
                                             business.division_id)
        assert representative.resident_id not in str(record.data), "the representative's ID is stored sealed"
        assert float(values["registered_capital"]) > 0
        assert values["entity_type"] == ("joint_stock" if business.name.endswith("股份有限公司")
                                         else "limited_liability")
        assert values["registration_authority"].endswith("市场监督管理局")
        if business.credit_code[8:10] == "MA":
            assert values["established_on"] >= "2015-10-01", "MA codes were issued under the unified code"
    # The representative's ID is an encrypted indexed term: their businesses can be found by it.
    first = Business.objects.select_related("legal_representative").order_by("pk").first()
    assert first is not None
    found = queries.find_by_term(entities, "legal_representative_id", first.legal_representative.resident_id)
    assert found.filter(key_value=first.credit_code).exists()


def _local(origin: tuple[float, float], position: list[float]) -> tuple[float, float]:
    return ((position[0] - origin[0]) * 111_320 * math.cos(math.radians(origin[1])),
            (position[1] - origin[1]) * 110_574)


def _signed_area(ring: list[list[float]]) -> float:
    points = [_local((ring[0][0], ring[0][1]), position) for position in ring]
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, points[1:])) / 2


def _inside(point: list[float], ring: list[list[float]]) -> bool:
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def test_parcels_and_addresses_lie_in_their_townships_with_valid_geometry(seeded: demo.RegistrySeedSummary) -> None:
    parcels = plain_records(base.LAND_PARCELS)
    assert len(parcels) == PARCELS
    townships = set(Division.objects.filter(level=DivisionLevel.TOWNSHIP).values_list("code", flat=True))
    persons = registry(base.PERSONS)
    boxes: dict[str, list[tuple[float, float, float, float]]] = {}
    for parcel in parcels:
        code = parcel["parcel_code"]
        assert re.fullmatch(base.PARCEL_CODE_PATTERN, code) and code.startswith(parcel["division_code"])
        assert parcel["division_code"] in townships
        (ring,) = parcel["boundary"]["coordinates"]
        assert parcel["boundary"]["type"] == "Polygon"
        assert len(ring) >= 5 and ring[0] == ring[-1], code
        assert _signed_area(ring) > 0, "exterior rings run counter-clockwise"
        assert abs(_signed_area(ring) - float(parcel["area"])) <= 0.005 * float(parcel["area"]), code
        centroid = [parcel["centroid"]["lon"], parcel["centroid"]["lat"]]
        assert _inside(centroid, ring), code
        # In the demo city's place in central Yunnan.
        assert all(100.9 < lon < 102.1 and 24.5 < lat < 25.6 for lon, lat in ring), code
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        boxes.setdefault(parcel["division_code"], []).append((min(lons), min(lats), max(lons), max(lats)))
        if parcel["right_type"] in ("homestead", "land_contract", "forest_contract") and parcel["holder_resident_id"]:
            assert ric.validate(parcel["holder_resident_id"])
            assert queries.find_record(persons, parcel["holder_resident_id"]) is not None
    for township_boxes in boxes.values():
        for i, a in enumerate(township_boxes):
            for b in township_boxes[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], "parcels do not overlap"
    uses = {parcel["land_use"] for parcel in parcels}
    assert {"01", "03", "07"} <= uses, "farmland, woodland and housing at least"

    addresses = plain_records(base.STANDARD_ADDRESSES)
    assert len(addresses) == ADDRESSES
    assert len({a["full_address"] for a in addresses}) == ADDRESSES
    names = {d.code: d.name for d in Division.objects.all()}
    for address in addresses:
        township = address["division_code"]
        # Province, city, county, township, road, door.
        chain = (identity_demo.PROVINCE[0], identity_demo.CITY[0], township[:6], township)
        prefix = "".join(names[code] for code in chain)
        assert address["full_address"].startswith(f"{prefix}{address['road']}{address['house_number']}")
        assert address["address_code"].startswith(township)
        assert re.fullmatch(base.POSTCODE_PATTERN, address["postcode"])
        assert 100.9 < address["location"]["lon"] < 102.1 and 24.5 < address["location"]["lat"] < 25.6


def test_indicators_cover_the_city_and_every_county_for_every_period(seeded: demo.RegistrySeedSummary) -> None:
    rows = plain_records(base.MACRO_INDICATORS)
    values = {(r["indicator"], r["division_code"], r["period"]): float(r["value"]) for r in rows}
    city = Division.objects.get(code=identity_demo.CITY[0])
    counties = list(Division.objects.filter(parent=city, level=DivisionLevel.COUNTY).values_list("code", flat=True))
    assert len(counties) == 6
    years = [str(year) for year in range(2019, 2026)]
    quarters = [f"{year}-Q{q}" for year in years for q in range(1, 5)]
    yearly_only = {"resident_population", "urbanization_rate"}
    expected = {(indicator, division, period)
                for indicator, _label, _label_en, _unit in base.INDICATORS
                for division in [city.code, *counties]
                for period in (years if indicator in yearly_only else years + quarters)}
    assert set(values) == expected
    assert {r["unit"] for r in rows if r["indicator"] == "gdp"} == {"亿元"}
    for division in [city.code, *counties]:
        for year in years:
            quarterly_gdp = sum(values["gdp", division, f"{year}-Q{q}"] for q in range(1, 5))
            assert values["gdp", division, year] == pytest.approx(quarterly_gdp, abs=0.011)
    for year in years:
        assert values["gdp", city.code, year] == pytest.approx(
            sum(values["gdp", county, year] for county in counties), abs=0.011)
        assert 200 < values["resident_population", city.code, year] < 300  # 10,000 people
        income = values["disposable_income", city.code, year]
        assert 40_000 < income < 80_000
    gdp = [values["gdp", city.code, year] for year in years]
    assert 1500 < gdp[0] < gdp[-1] < 5000, "a prefecture-level city's GDP in 100 million yuan, growing"
    assert values["gdp", city.code, "2020-Q1"] < values["gdp", city.code, "2019-Q1"], "the epidemic's first quarter"


def test_seeding_again_adds_and_changes_nothing_and_the_same_seed_plans_the_same_data(
        seeded: demo.RegistrySeedSummary) -> None:
    assert {code: outcome.created for code, outcome in seeded.outcomes.items()} == {
        base.STANDARD_ADDRESSES: ADDRESSES, base.PERSONS: CITIZENS, base.LEGAL_ENTITIES: BUSINESSES,
        base.LAND_PARCELS: PARCELS, base.MACRO_INDICATORS: INDICATOR_ROWS}
    imports = AuditEntry.objects.filter(action__startswith="registries.import").count()
    assert imports == len(base.BASE_REGISTRIES), "one named action, one audit entry per registry"
    before = sorted(Record.objects.values_list("registry__code", "key_value", "version"))
    changes = RecordChange.objects.count()
    again = demo.seed_registries(parcels=PARCELS, addresses=ADDRESSES, progress=False)
    assert all(outcome.created == outcome.updated == 0 for outcome in again.outcomes.values()), again.describe()
    assert sorted(Record.objects.values_list("registry__code", "key_value", "version")) == before
    assert RecordChange.objects.count() == changes
    city = demo.load_city()
    assert demo.plan_addresses(city, ADDRESSES, 7) == demo.plan_addresses(city, ADDRESSES, 7)
    assert demo.plan_addresses(city, ADDRESSES, 7) != demo.plan_addresses(city, ADDRESSES, 8)
    holders = demo.Holders.load(city)
    assert demo.plan_parcels(city, PARCELS, 7, holders) == demo.plan_parcels(city, PARCELS, 7, holders)
    assert demo.plan_indicators(city, "统计局", 7) == demo.plan_indicators(city, "统计局", 7)


def test_the_demo_command_fills_the_base_registries(db: Any, settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path  # the keys the seed creates (signing, key encryption) are this test's own
    out = io.StringIO()
    call_command("demo", "--no-serve", "--citizens", "40", "--businesses", "5", "-v", "0", stdout=out)
    assert "Base registries:" in out.getvalue()
    assert Record.objects.filter(registry__code=base.PERSONS).count() == 40
    assert Record.objects.filter(registry__code=base.LAND_PARCELS).count() == demo.DEFAULT_PARCELS
