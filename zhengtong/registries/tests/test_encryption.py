"""Field encryption at rest: sealed values, blind-index lookups, data-key rotation and key-encryption-key
re-wrapping, under both crypto suites."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import translation

from zhengtong.conftest import resident_id
from zhengtong.core import crypto
from zhengtong.registries import actions, keys, queries
from zhengtong.registries.codec import RecordCodec
from zhengtong.registries.models import DataKey, Record, RecordChange, Registry
from zhengtong.registries.tests.factories import person_fields


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Reasons are compared in English, the msgids."""
    with translation.override("en"):
        yield


@pytest.fixture(params=["intl", "gm"])
def suite(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Iterator[str]:
    settings.CRYPTO_SUITE = request.param
    settings.VAR_DIR = tmp_path  # a key-encryption key file of this test's own
    settings.KEY_ENCRYPTION_KEY = None
    keys.forget_cached_keys()
    yield request.param
    keys.forget_cached_keys()


@pytest.fixture
def persons(city: dict[str, Any], suite: str) -> Registry:
    return actions.define_registry(None, code="persons", name="人口", department=city["bureau"],
                                   fields=person_fields())


def add_person(registry: Registry, serial: int, name: str = "张三", phone: str = "") -> Record:
    return actions.create_record(None, registry, {"resident_id": resident_id(serial), "name": name,
                                                  "phone": phone or f"1380013{serial:04d}",
                                                  "division_code": "330106", "birth_date": "1985-06-01"})


def test_authenticated_encryption_round_trips_and_detects_tampering(suite: str) -> None:
    cipher = crypto.cipher_name(suite)
    key = crypto.new_cipher_key(cipher)
    sealed = crypto.seal(cipher, key, "张三".encode(), b"persons/name")
    assert crypto.open_sealed(cipher, key, sealed, b"persons/name").decode() == "张三"
    assert len(key) == (32 if suite == "intl" else 16)
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    for wrong in [(key, flipped, b"persons/name"), (key, sealed, b"persons/phone"),
                  (crypto.new_cipher_key(cipher), sealed, b"persons/name")]:
        with pytest.raises(crypto.DecryptionFailed):
            crypto.open_sealed(cipher, *wrong)


def test_encrypted_fields_never_reach_the_database_in_clear(persons: Registry) -> None:
    record = add_person(persons, 1, name="欧阳娜娜", phone="13912345678")
    stored = json.dumps(Record.objects.get(pk=record.pk).data, ensure_ascii=False)
    for secret in (resident_id(1), "欧阳娜娜", "13912345678"):
        assert secret not in stored
    assert resident_id(1) not in record.key_value  # the key column holds the blind index
    assert "330106" in stored  # a field not marked encrypted is stored as it is
    plain = RecordCodec(persons).plain(record.data)
    assert (plain["resident_id"], plain["name"], plain["phone"]) == (resident_id(1), "欧阳娜娜", "13912345678")


def test_a_sealed_value_moved_to_another_field_does_not_open(persons: Registry) -> None:
    record = add_person(persons, 1)
    codec = RecordCodec(persons)
    with pytest.raises(crypto.DecryptionFailed):
        codec.keys.open("phone", record.data["name"])


def test_blind_index_finds_encrypted_keys_and_terms_exactly(persons: Registry) -> None:
    first = add_person(persons, 1, phone="13800000001")
    add_person(persons, 2, phone="13800000002")
    assert queries.find_record(persons, resident_id(1)) == first
    assert queries.find_record(persons, resident_id(3)) is None
    assert list(queries.find_by_term(persons, "phone", "138-0000-0001")) == [first]
    # Two registries hash the same value differently: one registry's index says nothing about another's.
    other = actions.define_registry(None, code="persons-copy", name="人口副本", department=persons.department,
                                    fields=person_fields())
    assert add_person(other, 1).key_value != first.key_value


def test_a_unique_encrypted_field_refuses_a_second_record_with_the_same_value(persons: Registry) -> None:
    add_person(persons, 1, phone="13800000001")
    with pytest.raises(actions.InvalidInput) as refused:
        add_person(persons, 2, phone="13800000001")
    assert [(p.field, p.reason) for p in refused.value.details] == [
        ("phone", "Another record already has this value.")]


def test_rotation_reseals_records_and_history_under_a_new_key(persons: Registry) -> None:
    record = add_person(persons, 1, name="张三")
    actions.update_record(None, record, {"name": "张四"}, reason="改名")
    add_person(persons, 2)
    assert actions.rotate_data_key(None, persons) == 2
    assert DataKey.objects.get(registry=persons, version=1).retired_at is not None
    codec = RecordCodec(persons)
    assert codec.keys.current == 2
    record.refresh_from_db()
    assert {keys.KeyRing.version_of(value) for name, value in record.data.items()
            if name in ("resident_id", "name", "phone")} == {2}
    assert codec.plain(record.data)["name"] == "张四"
    change = RecordChange.objects.get(record=record)
    assert keys.KeyRing.version_of(change.previous["name"]) == 2
    assert codec.keys.open("name", change.previous["name"]) == "张三"
    # Lookups still work: the blind index key is not rotated with the data keys.
    assert queries.find_record(persons, resident_id(1)) == record


def test_rewrap_moves_every_key_to_a_new_key_encryption_key(persons: Registry, settings: Any, tmp_path: Path
                                                            ) -> None:
    record = add_person(persons, 1, name="李四")
    old_material = keys.kek_material()
    old_file = tmp_path / "old.key"
    old_file.write_text(old_material.hex())
    new_material = bytes(range(32))
    with override_settings(KEY_ENCRYPTION_KEY=new_material):
        keys.forget_cached_keys()
        with pytest.raises(crypto.DecryptionFailed):
            RecordCodec(persons).plain(record.data)  # nothing opens before the keys are re-wrapped
        call_command("registry", "rewrap-keys", "--previous-key-file", str(old_file))
        keys.forget_cached_keys()
        persons.refresh_from_db()
        assert persons.kek_id == keys.kek_id(new_material)
        assert set(DataKey.objects.filter(registry=persons).values_list("kek_id", flat=True)) == {
            keys.kek_id(new_material)}
        assert RecordCodec(persons).plain(record.data)["name"] == "李四"
        assert queries.find_record(persons, resident_id(1)) == record
        wrong = tmp_path / "wrong.key"
        wrong.write_text(base64.b64encode(bytes(32)).decode())
        output = io.StringIO()
        call_command("registry", "rewrap-keys", "--previous-key-file", str(wrong), stdout=output)
        assert output.getvalue().startswith("0 keys")  # that key wraps nothing here


def test_the_rotate_command_names_a_missing_registry(persons: Registry) -> None:
    with pytest.raises(CommandError, match="--registry"):
        call_command("registry", "rotate-keys", "--registry", "nope")
    call_command("registry", "rotate-keys", "--all")
    assert DataKey.objects.filter(registry=persons, retired_at__isnull=True).get().version == 2


def test_the_key_encryption_key_file_is_private(persons: Registry, settings: Any) -> None:
    path = keys.kek_path()
    assert path.parent == Path(settings.VAR_DIR) / "keys"
    assert path.stat().st_mode & 0o077 == 0
    assert len(keys.read_key_material(path.read_text())) == 32
