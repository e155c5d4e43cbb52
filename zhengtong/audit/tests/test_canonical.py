"""The canonical form of an entry is what old leaf hashes were computed over: it must never drift."""

import datetime as dt

from zhengtong.audit.canonical import LEAF_FIELDS, leaf_data_from_values


def test_the_canonical_form_is_fixed():
    values = dict.fromkeys(LEAF_FIELDS, "")
    values.update(id=7, occurred_at=dt.datetime(2026, 10, 1, 8, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=8))),
                  actor_name="王五", subjects=["ab"], fields=["name"], detail={"z": 1, "a": None},
                  client_address=None)
    assert leaf_data_from_values(values) == (
        '{"action":"","actor_department":"","actor_id":"","actor_kind":"","actor_name":"王五","actor_roles":"",'
        '"case_reference":"","client_address":null,"detail":{"a":null,"z":1},"fields":["name"],"id":7,'
        '"legal_basis":"","object_id":"","object_type":"","occurred_at":"2026-10-01T00:00:00.000005+00:00",'
        '"on_behalf_of":"","purpose":"","request_id":"","result":"","subjects":["ab"]}'
    ).encode()


def test_any_field_changes_the_canonical_form():
    base = dict.fromkeys(LEAF_FIELDS, "")
    base["occurred_at"] = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    original = leaf_data_from_values(base)
    for name in LEAF_FIELDS:
        changed = {**base, name: "x" if name != "occurred_at" else base["occurred_at"] + dt.timedelta(microseconds=1)}
        assert leaf_data_from_values(changed) != original, name
