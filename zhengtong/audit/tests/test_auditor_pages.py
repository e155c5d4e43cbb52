"""The auditor's pages: search, entry detail with its proof, CSV export (itself audited) and alerts."""

import csv
import datetime as dt
import io
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from zhengtong.audit import anomalies, proofs
from zhengtong.audit.actions import Actor, record_alone
from zhengtong.audit.models import ActorKind, AlertRule, AnomalyAlert, AuditEntry, TreeHead
from zhengtong.audit.sequencer import Sequencer
from zhengtong.audit.subjects import subject_hash
from zhengtong.conftest import resident_id
from zhengtong.identity import roles
from zhengtong.identity.models import DataScope

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLERK = Actor(ActorKind.STAFF, "17", "窗口员工甲", "EAST-CA", "window_staff")
OFFICER = Actor(ActorKind.STAFF, "23", "数据专员乙", "WEST-PSB", "data_officer")
SEARCH = reverse("audit:search")
EXPORT = reverse("audit:export")
ALERTS = reverse("audit:alerts")


@pytest.fixture
def auditor(make_staff):
    return make_staff(role_names=(roles.AUDITOR,), data_scope=DataScope.ALL)


@pytest.fixture
def english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def as_auditor(english, auditor):
    english.force_login(auditor)
    return english


def page_text(response):
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def listed_ids(response):
    return [entry.pk for entry in response.context["page"]]


def csv_rows(response):
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


# --- permissions -------------------------------------------------------------------------------------------


def test_pages_need_the_audit_permissions(client, make_staff):
    entry = record_alone("test.thing", CLERK)
    alert = AnomalyAlert.objects.create(rule=AlertRule.OFF_HOURS, actor_kind="staff", actor_id="17", actor_name="x",
                                        window_start=entry.occurred_at, window_end=entry.occurred_at, observed=1,
                                        threshold=0, first_entry_id=entry.pk, last_entry_id=entry.pk)
    pages = [SEARCH, reverse("audit:entry", args=[entry.pk]), EXPORT, ALERTS]
    for url in pages:
        assert client.get(url).status_code == 302  # to the login page
    client.force_login(make_staff(role_names=(roles.WINDOW_STAFF,)))
    for url in pages:
        assert client.get(url).status_code == 403
    assert client.post(reverse("audit:acknowledge-alert", args=[alert.pk])).status_code == 403
    # Platform administrators may read the trail but neither export it nor handle alerts.
    client.force_login(make_staff(role_names=(roles.PLATFORM_ADMIN,)))
    assert client.get(SEARCH).status_code == 200
    assert client.get(EXPORT).status_code == 403
    assert client.get(ALERTS).status_code == 403
    assert client.post(reverse("audit:acknowledge-alert", args=[alert.pk])).status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert not AuditEntry.objects.filter(action="audit.export").exists()


# --- search ------------------------------------------------------------------------------------------------


def test_search_by_actor_id_or_name_and_by_department(as_auditor):
    mine = record_alone("identity.create_department", CLERK, object_type="department", object_id="A")
    theirs = record_alone("identity.create_department", OFFICER, object_type="department", object_id="B")
    assert listed_ids(as_auditor.get(SEARCH, {"actor": "17"})) == [mine.pk]
    assert listed_ids(as_auditor.get(SEARCH, {"actor": "数据专员乙"})) == [theirs.pk]
    assert listed_ids(as_auditor.get(SEARCH, {"department": "WEST-PSB"})) == [theirs.pk]
    assert listed_ids(as_auditor.get(SEARCH, {"department": "EAST-CA", "actor": "23"})) == []
    text = page_text(as_auditor.get(SEARCH, {"department": "EAST-CA"}))
    assert "窗口员工甲" in text and "identity.create_department" in text


def test_search_by_action_exactly_or_by_prefix(as_auditor):
    first = record_alone("exchange.read", CLERK)
    second = record_alone("exchange.read_bulk", CLERK)
    reveal = record_alone("exchange.reveal", CLERK)
    record_alone("exchangeable.thing", CLERK)
    record_alone("identity.login", CLERK)
    assert listed_ids(as_auditor.get(SEARCH, {"action": "exchange.read"})) == [first.pk]
    assert listed_ids(as_auditor.get(SEARCH, {"action": "exchange.read*"})) == [second.pk, first.pk]
    for prefix in ("exchange.*", "exchange."):
        assert listed_ids(as_auditor.get(SEARCH, {"action": prefix})) == [reveal.pk, second.pk, first.pk]


def test_search_by_object_and_by_time(as_auditor):
    morning = dt.datetime(2026, 3, 4, 9, 0, 30, tzinfo=SHANGHAI)
    with time_machine.travel(morning, tick=False) as traveller:
        early = record_alone("services.submit", CLERK, object_type="application", object_id="A-1")
        traveller.shift(dt.timedelta(minutes=30))
        later = record_alone("services.approve", CLERK, object_type="application", object_id="A-1")
        record_alone("services.submit", CLERK, object_type="application", object_id="A-2")
        record_alone("services.submit", CLERK, object_type="licence", object_id="A-1")
    assert listed_ids(as_auditor.get(SEARCH, {"object_type": "application", "object_id": "A-1"})) == [
        later.pk, early.pk]
    # "Until" takes in the whole minute typed; "from" starts at it.
    until_nine = {"until": "2026-03-04T09:00", "object_id": "A-1", "object_type": "application"}
    assert listed_ids(as_auditor.get(SEARCH, until_nine)) == [early.pk]
    assert listed_ids(as_auditor.get(SEARCH, {"since": "2026-03-04T09:01", "object_id": "A-1",
                                              "object_type": "application"})) == [later.pk]
    assert listed_ids(as_auditor.get(SEARCH, {"since": "2026-03-04", "until": "2026-03-04",
                                              "object_type": "licence"})) != []
    assert listed_ids(as_auditor.get(SEARCH, {"since": "2026-03-05", "object_type": "licence"})) == []


def test_a_bad_search_names_the_field_and_lists_nothing(as_auditor):
    record_alone("test.thing", CLERK)
    response = as_auditor.get(SEARCH, {"since": "2026-03-05T10:00", "until": "2026-03-04T10:00"})
    text = page_text(response)
    assert response.context["page"] is None
    assert "The end of the period must not be before its start." in text
    assert 'href="#id_until"' in text
    assert page_text(as_auditor.get(SEARCH, {"since": "yesterday"})).count("Enter a valid date/time.") >= 1


def test_subject_search_hashes_the_id_and_never_shows_it(as_auditor, auditor):
    rid = resident_id(7)
    about = record_alone("exchange.read", CLERK, subjects=[rid], fields=["name"])
    record_alone("exchange.read", CLERK, subjects=[resident_id(8)], fields=["name"])
    response = as_auditor.get(SEARCH, {"subject": rid.lower(), "action": "exchange.*"})
    assert response.status_code == 302
    assert rid not in response["Location"] and rid.lower() not in response["Location"]
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query == {"subject_hash": [subject_hash(rid)], "action": ["exchange.*"]}
    followed = as_auditor.get(response["Location"])
    text = page_text(followed)
    assert listed_ids(followed) == [about.pk]
    assert rid not in text
    assert 'name="subject_hash" value="' + subject_hash(rid) in text  # kept by the next search
    assert "not a valid resident ID" not in text
    # The detail page shows the subject only as its hash.
    detail = page_text(as_auditor.get(reverse("audit:entry", args=[about.pk])))
    assert subject_hash(rid) in detail and rid not in detail
    # The search about a person is itself in the trail, under that person.
    searched = AuditEntry.objects.get(action="audit.search_subject")
    assert searched.subjects == [subject_hash(rid)]
    assert searched.actor_id == str(auditor.pk)
    assert rid not in str(searched.detail)


def test_a_subject_that_is_not_a_valid_id_is_searched_as_typed_with_a_note(as_auditor):
    record_alone("test.thing", CLERK, subjects=["P1234567"])
    response = as_auditor.get(SEARCH, {"subject": "P1234567"}, follow=True)
    text = page_text(response)
    # The entry, and the search just made, which is recorded under the same subject.
    assert [entry.action for entry in response.context["page"]] == ["audit.search_subject", "test.thing"]
    assert "not a valid resident ID number" in text
    assert "P1234567" not in text


def test_pages_of_results_go_newest_first_and_keep_the_filters(as_auditor):
    written = [record_alone("test.paged", CLERK, object_id=str(i)).pk for i in range(120)]
    record_alone("test.other", CLERK)
    first = as_auditor.get(SEARCH, {"action": "test.paged"})
    assert listed_ids(first) == written[::-1][:50]
    assert first.context["newer_query"] is None and first.context["newest_query"] is None
    older = first.context["older_query"]
    assert "action=test.paged" in older
    second = as_auditor.get(f"{SEARCH}?{older}")
    assert listed_ids(second) == written[::-1][50:100]
    third = as_auditor.get(f"{SEARCH}?{second.context['older_query']}")
    assert listed_ids(third) == written[::-1][100:]
    assert third.context["older_query"] is None
    back = as_auditor.get(f"{SEARCH}?{third.context['newer_query']}")
    assert listed_ids(back) == listed_ids(second)
    assert 'rel="next"' in page_text(back) and 'rel="prev"' in page_text(back)


def test_the_search_page_is_labelled_for_assistive_technology(as_auditor):
    record_alone("test.thing", CLERK)
    text = page_text(as_auditor.get(SEARCH))
    for name in ("actor", "department", "subject", "action", "object_type", "object_id", "since", "until"):
        assert f'<label for="id_{name}"' in text
    assert "<caption>" in text and '<th scope="col">' in text and '<th scope="row">' in text


# --- entry detail and its proof ----------------------------------------------------------------------------


@pytest.fixture
def keys(settings, tmp_path):
    from zhengtong.core import crypto

    settings.VAR_DIR = tmp_path  # the signing key is made here, not in the real var/
    settings.AUDIT_WITNESS = str(tmp_path / "witness.jsonl")
    crypto.clear_signer_cache()
    yield
    crypto.clear_signer_cache()


def test_entry_detail_shows_every_field_and_a_verified_proof(as_auditor, keys):
    entry = record_alone("exchange.read", CLERK, object_type="citizen", object_id="42", subjects=[resident_id(2)],
                         fields=["name", "phone"], purpose="办理低保", legal_basis="社会救助暂行办法",
                         case_reference="2026-MZ-001", on_behalf_of="王小明", detail={"gateway": "hosted"})
    Sequencer().step()
    text = page_text(as_auditor.get(reverse("audit:entry", args=[entry.pk])))
    for value in ("exchange.read", "窗口员工甲", "EAST-CA", "window_staff", "citizen", "42", "name, phone", "办理低保",
                  "社会救助暂行办法", "2026-MZ-001", "王小明", "&quot;gateway&quot;: &quot;hosted&quot;",
                  subject_hash(resident_id(2))):
        assert value in text, value
    head = TreeHead.objects.get()
    assert "Verified." in text
    assert f"signed tree head of size {head.tree_size} made at" in text
    assert "not running" not in text
    assert bytes(head.root_hash).hex() in text


def test_entry_not_yet_in_a_tree_head_is_pending_and_says_when_the_worker_is_down(as_auditor):
    entry = record_alone("test.thing", CLERK)
    text = page_text(as_auditor.get(reverse("audit:entry", args=[entry.pk])))
    assert "Not proven yet." in text
    assert "The sequencer (zhengtong worker) is not running." in text
    assert "Verified." not in text


def test_a_proof_from_a_stopped_sequencer_is_not_shown_as_current(as_auditor, monkeypatch):
    entry = record_alone("test.thing", CLERK)
    head = TreeHead(tree_size=9, root_hash=b"\x01" * 32, timestamp=dt.datetime(2026, 3, 4, 2, 0, tzinfo=dt.UTC),
                    hash_algorithm="sha256", signature_algorithm="ed25519", key_id="k1", signature=b"s")
    check = proofs.InclusionCheck("verified", 3, 9, [b"\x02" * 32, b"\x03" * 32], b"\x01" * 32, head)
    monkeypatch.setattr(proofs, "entry_inclusion", lambda entry_id: check)
    monkeypatch.setattr(proofs, "sequencer_running", lambda: False)
    text = page_text(as_auditor.get(reverse("audit:entry", args=[entry.pk])))
    assert "Verified." in text and "signed tree head of size 9 made at 2026-03-04 10:00:00" in text
    assert "The sequencer (zhengtong worker) is not running." in text
    assert "entries written since then cannot be proven" in text
    assert ("02" * 32) in text and ("03" * 32) in text


def test_a_failed_proof_is_loud(as_auditor, monkeypatch):
    entry = record_alone("test.thing", CLERK)
    check = proofs.InclusionCheck("failed", 0, 4, [], b"\x01" * 32, None,
                                  "the entry no longer matches the hash it was sequenced with")
    monkeypatch.setattr(proofs, "entry_inclusion", lambda entry_id: check)
    monkeypatch.setattr(proofs, "sequencer_running", lambda: True)
    text = page_text(as_auditor.get(reverse("audit:entry", args=[entry.pk])))
    assert 'role="alert"' in text and "Inclusion check FAILED" in text
    assert "the entry no longer matches the hash it was sequenced with" in text
    assert "Verified." not in text and "not running" not in text


def test_an_unknown_entry_is_not_found(as_auditor):
    assert as_auditor.get(reverse("audit:entry", args=[987654])).status_code == 404


# --- CSV export --------------------------------------------------------------------------------------------


def test_export_streams_the_search_as_csv_for_excel_and_is_itself_audited(as_auditor, auditor):
    rid = resident_id(3)
    wanted = record_alone("exchange.read", CLERK, subjects=[rid], fields=["name"], object_id="=HYPERLINK(1)",
                          purpose="核对身份")
    record_alone("identity.login", CLERK)
    response = as_auditor.get(EXPORT, {"action": "exchange.*", "since": "2000-01-01T00:00"})
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = csv_rows(response)
    assert [row["id"] for row in rows] == [str(wanted.pk)]
    row = rows[0]
    assert (row["actor_name"], row["purpose"], row["subjects"]) == ("窗口员工甲", "核对身份", subject_hash(rid))
    assert row["object_id"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    export = AuditEntry.objects.get(action="audit.export")
    assert export.actor_id == str(auditor.pk)
    assert export.actor_kind == ActorKind.STAFF
    assert export.actor_department == auditor.staff.department.code
    assert export.actor_roles == roles.AUDITOR
    assert export.detail["rows"] == 1 and export.detail["truncated"] is False
    assert export.detail["filters"]["action"] == "exchange.*"
    assert export.detail["filters"]["since"].startswith("2000-01-01T00:00:00")


def test_export_by_subject_never_carries_the_id(as_auditor):
    rid = resident_id(4)
    record_alone("exchange.read", CLERK, subjects=[rid], fields=["name"])
    redirected = as_auditor.get(EXPORT, {"subject": rid})
    assert redirected.status_code == 302 and rid not in redirected["Location"]
    assert len(csv_rows(as_auditor.get(redirected["Location"]))) == 1
    export = AuditEntry.objects.get(action="audit.export")
    assert export.detail["filters"] == {"subject_hash": subject_hash(rid)}
    assert rid not in str(export.detail)


def test_export_is_capped(as_auditor, settings):
    settings.AUDIT_EXPORT_MAX_ROWS = 3
    written = [record_alone("test.bulk", CLERK).pk for _ in range(5)]
    rows = csv_rows(as_auditor.get(EXPORT, {"action": "test.bulk"}))
    assert [int(row["id"]) for row in rows] == written[::-1][:3]
    export = AuditEntry.objects.get(action="audit.export")
    assert export.detail["rows"] == 3 and export.detail["truncated"] is True


def test_the_search_page_links_to_the_export_of_the_same_search(as_auditor):
    record_alone("test.thing", CLERK)
    text = page_text(as_auditor.get(SEARCH, {"action": "test.thing", "department": "EAST-CA"}))
    assert f'href="{EXPORT}?department=EAST-CA&amp;action=test.thing"' in text


# --- alerts ------------------------------------------------------------------------------------------------


def raise_alerts():
    when = dt.datetime(2026, 3, 4, 23, 0, tzinfo=SHANGHAI)
    with time_machine.travel(when, tick=False):
        record_alone("exchange.reveal", CLERK, subjects=[resident_id(1)], fields=["resident_id"])
        record_alone("exchange.read", OFFICER, subjects=[resident_id(2)], fields=["name"])
    assert anomalies.evaluate_anomalies(when - dt.timedelta(hours=1), when + dt.timedelta(hours=1)) == 3


def test_alerts_page_lists_open_alerts_first_and_acknowledging_is_recorded(as_auditor, auditor):
    raise_alerts()
    reveal = AnomalyAlert.objects.get(rule=AlertRule.REVEAL_WITHOUT_CASE)
    first = AnomalyAlert.objects.exclude(pk=reveal.pk).first()
    response = as_auditor.post(reverse("audit:acknowledge-alert", args=[first.pk]), follow=True)
    text = page_text(response)
    assert "Alert acknowledged." in text
    first.refresh_from_db()
    assert first.acknowledged_at is not None and first.acknowledged_by == auditor.display_name
    entry = AuditEntry.objects.get(action="audit.acknowledge_alert")
    assert (entry.actor_id, entry.object_id) == (str(auditor.pk), str(first.pk))
    listed = [row["alert"].pk for row in response.context["rows"]]
    assert listed[-1] == first.pk and len(listed) == 3
    assert "2 alerts are open." in text
    assert text.count('action="/audit/alerts/') == 2  # only open alerts can be acknowledged
    assert "revealed unmasked data without a case reference" in text
    # Acknowledging again changes nothing and says so.
    again = as_auditor.post(reverse("audit:acknowledge-alert", args=[first.pk]), follow=True)
    assert "already acknowledged" in page_text(again)
    assert AuditEntry.objects.filter(action="audit.acknowledge_alert").count() == 1
    open_only = as_auditor.get(ALERTS, {"status": "open"})
    assert first.pk not in [row["alert"].pk for row in open_only.context["rows"]]


def test_an_alert_links_to_the_entries_behind_it(as_auditor):
    raise_alerts()
    alert = AnomalyAlert.objects.get(rule=AlertRule.REVEAL_WITHOUT_CASE)
    response = as_auditor.get(ALERTS)
    row = next(row for row in response.context["rows"] if row["alert"].pk == alert.pk)
    found = as_auditor.get(f"{SEARCH}?{row['entries_query']}")
    assert alert.first_entry_id in listed_ids(found)
    assert {entry.actor_id for entry in found.context["page"]} == {CLERK.id}


def test_acknowledge_needs_a_post(as_auditor):
    raise_alerts()
    alert = AnomalyAlert.objects.first()
    assert as_auditor.get(reverse("audit:acknowledge-alert", args=[alert.pk])).status_code == 405


def test_auditor_dashboard_shows_open_alerts_and_links_to_the_trail(as_auditor, auditor):
    raise_alerts()
    acknowledged = AnomalyAlert.objects.first()
    anomalies.acknowledge_alert(acknowledged, auditor)
    text = page_text(as_auditor.get(reverse("portal:dashboard")))
    assert "Open anomaly alerts" in text
    assert '<span class="stat__value">2</span>' in text
    for alert in AnomalyAlert.objects.filter(acknowledged_at__isnull=True):
        assert f'href="{ALERTS}#alert-{alert.pk}"' in text
    assert f'href="{ALERTS}#alert-{acknowledged.pk}"' not in text
    assert f'href="{SEARCH}"' in text


# --- admin -------------------------------------------------------------------------------------------------


def test_admin_shows_the_trail_read_only(client, make_staff, keys):
    from zhengtong.identity.models import User

    admin_user = make_staff(role_names=(roles.PLATFORM_ADMIN,))
    User.objects.filter(pk=admin_user.pk).update(is_staff=True, is_superuser=True)
    entry = record_alone("test.thing", CLERK, subjects=[resident_id(5)])
    Sequencer().step()
    raise_alerts()
    client.force_login(admin_user)
    for model in ("auditentry", "treehead", "signingkeyrecord", "sequencerstatus", "archivebatch", "anomalyalert"):
        assert client.get(reverse(f"admin:audit_{model}_changelist")).status_code == 200, model
        assert client.get(reverse(f"admin:audit_{model}_add")).status_code == 403, model
    assert client.get(reverse("admin:audit_auditentry_changelist"), {"q": "test.th"}).status_code == 200
    change = client.get(reverse("admin:audit_auditentry_change", args=[entry.pk]))
    assert change.status_code == 200 and resident_id(5) not in change.content.decode()
    head = TreeHead.objects.get()
    assert bytes(head.root_hash).hex() in client.get(
        reverse("admin:audit_treehead_change", args=[head.tree_size])).content.decode()
