"""My data: a logged-in citizen sees the records about them in every registry, grouped by registry with the
fields' labels, read through the one door as data subject access (audited); downloads a copy as JSON, CSV or
PDF whose content is those records, each download itself an audited read; staff and visitors never see it, and
nothing of it is cached.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from zhengtong.audit.models import AuditEntry
from zhengtong.audit.subjects import subject_hash
from zhengtong.conftest import PASSWORD, resident_id
from zhengtong.exchange.tests.conftest import EAST, person
from zhengtong.identity import actions as identity
from zhengtong.identity.models import User
from zhengtong.privacy.queries.accesses import DOWNLOAD_PURPOSE, MY_DATA_PURPOSE
from zhengtong.registries import actions as registries
from zhengtong.registries.models import FieldType, Registry, Validator
from zhengtong.registries.schema import FieldSpec

RECORDS = "/api/v1/privacy/my/records"
PERSON_ONE = {"resident_id": person(1), "name": "王小明", "phone": "13800138001", "division_code": EAST,
              "birth_date": "1985-06-01"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_citizen(client: Client, citizen_user: User, persons: Registry) -> Client:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.force_login(citizen_user)
    return client


@pytest.fixture
def vehicles(city: dict[str, Any]) -> Registry:
    """A second registry, of another department, holding one record of person 1 (by a searchable owner field)."""
    registry = registries.define_registry(None, code="vehicles", name="机动车登记", department=city["other"], fields=[
        FieldSpec("plate", FieldType.TEXT, "号牌号码", "plate number", required=True, is_key=True, unique=True),
        FieldSpec("owner_id", FieldType.TEXT, "所有人身份号码", "owner's resident ID", validator=Validator.RESIDENT_ID,
                  indexed=True),
    ])
    registries.create_record(None, registry, {"plate": "浙A12345", "owner_id": person(1)})
    registries.create_record(None, registry, {"plate": "浙A99999", "owner_id": person(2)})
    return registry


def reads(purpose: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="exchange.read", purpose=purpose, actor_kind="citizen"))


def test_my_data_shows_every_registrys_records_about_me_with_labels(as_citizen: Client, vehicles: Registry) -> None:
    response = as_citizen.get(reverse("privacy:my-data"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    text = re.sub(r"\s+", " ", response.content.decode())
    assert "<h1>My data</h1>" in text
    assert '<h2 id="registry-persons">人口基础信息库</h2>' in text
    assert '<h2 id="registry-vehicles">机动车登记</h2>' in text
    # Their own data, in full: the door gives a citizen their records unmasked.
    assert "<dt>resident ID</dt><dd>" + person(1) + "</dd>" in text
    assert "<dt>name</dt><dd>王小明</dd>" in text and "<dt>phone</dt><dd>13800138001</dd>" in text
    assert "浙A12345" in text and "浙A99999" not in text and "李四" not in text
    # One audited read per registry, naming the citizen as the data subject.
    entries = reads(MY_DATA_PURPOSE)
    assert sorted(e.object_id for e in entries) == ["persons", "vehicles"]
    assert all(e.subjects == [subject_hash(person(1))] for e in entries)


def test_the_json_copy_is_the_records(as_citizen: Client, vehicles: Registry) -> None:
    response = as_citizen.get(reverse("privacy:download", args=["json"]))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert response["Content-Disposition"].startswith('attachment; filename="my-data-')
    body = json.loads(response.content)
    by_code = {r["code"]: r for r in body["registries"]}
    assert by_code["persons"]["records"][0]["values"] == PERSON_ONE
    assert by_code["persons"]["fields"][0] == {"name": "resident_id", "label": "resident ID"}
    assert [r["values"]["plate"] for r in by_code["vehicles"]["records"]] == ["浙A12345"]
    assert len(reads(DOWNLOAD_PURPOSE)) == 2 and reads(MY_DATA_PURPOSE) == []


def test_the_csv_copy_has_one_row_per_value(as_citizen: Client, persons: Registry) -> None:
    response = as_citizen.get(reverse("privacy:download", args=["csv"]))
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["registry code", "registry", "record", "version", "field", "field label", "value"]
    values = {(row[0], row[4]): row[6] for row in table[1:]}
    assert values == {("persons", name): value for name, value in PERSON_ONE.items()}
    assert len(reads(DOWNLOAD_PURPOSE)) == 1


def test_the_pdf_copy_is_made(as_citizen: Client, persons: Registry) -> None:
    response = as_citizen.get(reverse("privacy:download", args=["pdf"]))
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and b"STSong-Light" in response.content
    assert len(reads(DOWNLOAD_PURPOSE)) == 1


def test_an_unknown_format_is_not_found(as_citizen: Client) -> None:
    assert as_citizen.get(reverse("privacy:download", args=["xml"])).status_code == 404
    assert reads(DOWNLOAD_PURPOSE) == []


def test_a_citizen_without_records_is_told_so(client: Client, city: dict[str, Any], persons: Registry) -> None:
    citizen = identity.register_citizen(None, identity.CitizenInput(
        name="孙八", resident_id=resident_id(40), phone="13900139000", division_code=EAST))
    user = identity.create_citizen_account(None, citizen, username="sunba", password=PASSWORD)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.force_login(user)
    assert "No registry holds records about you." in client.get(reverse("privacy:my-data")).content.decode()
    assert client.get(RECORDS).json() == {"registries": []}


def test_staff_and_visitors_do_not_get_my_data(client: Client, provider_officer: User, persons: Registry) -> None:
    for fmt in ("json", "csv", "pdf"):
        assert client.get(reverse("privacy:download", args=[fmt])).status_code == 302
    assert client.get(reverse("privacy:my-data")).status_code == 302
    client.force_login(provider_officer)
    assert client.get(reverse("privacy:my-data")).status_code == 403
    assert client.get(reverse("privacy:download", args=["json"])).status_code == 403
    assert client.get(RECORDS).status_code == 403
    assert not AuditEntry.objects.filter(action="exchange.read").exists()


def test_the_api_gives_my_records(as_citizen: Client, vehicles: Registry) -> None:
    response = as_citizen.get(RECORDS)
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert [r["code"] for r in body["registries"]] == ["persons", "vehicles"]
    assert body["registries"][0]["records"][0]["values"] == PERSON_ONE
    assert len(reads(MY_DATA_PURPOSE)) == 2
