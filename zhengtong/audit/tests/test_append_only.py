"""The database itself keeps the trail append-only, on SQLite and PostgreSQL alike."""

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from zhengtong.audit import triggers
from zhengtong.audit.actions import SYSTEM, Actor, AuditWriteOutsideTransaction, record, record_alone
from zhengtong.audit.models import ArchiveBatch, AuditEntry, AuditSubject
from zhengtong.audit.sequencer import Sequencer
from zhengtong.audit.subjects import subject_hash

pytestmark = pytest.mark.django_db


def entry(**values):
    return record_alone("test.something", SYSTEM, **values)


def refused(statement, params=()):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_update_is_refused_through_the_orm_and_through_sql():
    written = entry(object_id="1")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=written.pk).update(actor_name="someone else")
    refused("UPDATE audit_auditentry SET action = 'x' WHERE id = %s", [written.pk])
    written.refresh_from_db()
    assert written.action == "test.something"


def test_delete_is_refused():
    written = entry(subjects=["330106198506010015"])
    refused("DELETE FROM audit_auditentry WHERE id = %s", [written.pk])
    refused("DELETE FROM audit_auditsubject WHERE entry_id = %s", [written.pk])
    assert AuditEntry.objects.filter(pk=written.pk).exists()


@pytest.mark.usefixtures("keys_and_witness")
@pytest.mark.parametrize("table", triggers.APPEND_ONLY_TABLES)
def test_every_table_of_the_trail_refuses_changes(table):
    written = entry(subjects=["330106198506010015"])
    Sequencer().step()  # a leaf, a tree head and the signing key
    entry()
    Sequencer().step()  # a complete subtree (two leaves)
    ArchiveBatch.objects.create(last_entry_id=0, last_leaf_index=-1, file_name="a", file_digest="d", tree_size=0)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        assert cursor.fetchone()[0] > 0
    column = {"audit_auditentry": "action", "audit_auditsubject": "subject_hash", "audit_auditleaf": "leaf_hash",
              "audit_merklenode": "hash", "audit_treehead": "root_hash", "audit_signingkeyrecord": "public_key",
              "audit_archivebatch": "file_name"}[table]
    refused(f"UPDATE {table} SET {column} = {column}")
    refused(f"DELETE FROM {table}")
    assert AuditEntry.objects.filter(pk=written.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE triggers are PostgreSQL's")
def test_truncate_is_refused_on_postgresql():
    entry()
    refused("TRUNCATE audit_auditentry")


def backdated(days):
    with transaction.atomic():
        return AuditEntry.objects.create(actor_kind="system", action="test.old",
                                         occurred_at=timezone.now() - dt.timedelta(days=days))


def archive_up_to(entry_id):
    ArchiveBatch.objects.create(last_entry_id=entry_id, last_leaf_index=0, file_name="a", file_digest="d",
                                tree_size=0)


def test_old_entries_cannot_be_deleted_before_they_are_archived():
    old = backdated(400)
    refused("DELETE FROM audit_auditentry WHERE id = %s", [old.pk])


def test_archived_entries_younger_than_180_days_cannot_be_deleted():
    young = backdated(179)
    archive_up_to(young.pk)
    refused("DELETE FROM audit_auditentry WHERE id = %s", [young.pk])


def test_an_archived_entry_older_than_180_days_can_be_deleted():
    old = backdated(181)
    archive_up_to(old.pk)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [old.pk])
    assert not AuditEntry.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_record_refuses_to_write_outside_a_transaction():
    with pytest.raises(AuditWriteOutsideTransaction):
        record("test.outside", SYSTEM)
    assert not AuditEntry.objects.exists()


def test_the_entry_rolls_back_with_a_failed_change():
    with pytest.raises(RuntimeError), transaction.atomic():
        record("test.failed_change", SYSTEM)
        raise RuntimeError("the change failed")
    assert not AuditEntry.objects.filter(action="test.failed_change").exists()


def test_subjects_are_stored_only_as_keyed_hashes():
    resident_id = "330106198506010015"
    written = entry(subjects=[resident_id, resident_id.lower()])
    assert written.subjects == [subject_hash(resident_id)]
    assert resident_id not in str(written.subjects)
    assert list(AuditSubject.objects.values_list("subject_hash", flat=True)) == [subject_hash(resident_id)]


def test_actor_and_request_details_are_recorded(client, db):
    actor = Actor("staff", "7", "王五", "YX-PSB", "approver")
    with transaction.atomic():
        written = record("identity.example", actor, object_type="citizen", object_id=12, fields=["phone", "name"],
                         purpose="核查", legal_basis="《个人信息保护法》第十三条", case_reference="C-1")
    assert (written.actor_kind, written.actor_id, written.actor_department, written.object_id) == (
        "staff", "7", "YX-PSB", "12")
    assert written.fields == ["name", "phone"]
