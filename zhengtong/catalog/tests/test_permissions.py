"""Who may do what: data officers within their department's scope, the governance office over the whole
catalog, viewers only reading; drafts are seen by those who may change them; refusals are audited."""

import pytest

from zhengtong.audit.models import AuditEntry, Result
from zhengtong.catalog import actions, queries
from zhengtong.catalog.models import ResourceStatus
from zhengtong.catalog.tests.conftest import metadata, rights, service
from zhengtong.core.errors import InvalidInput, NotPermitted
from zhengtong.identity import roles


def test_a_data_officer_of_another_department_cannot_edit_publish_or_register(make_resource, other_officer,
                                                                             published):
    draft = make_resource(name="草稿")
    with pytest.raises(NotPermitted):
        actions.update_resource(other_officer, published, metadata(name="改名"))
    with pytest.raises(NotPermitted):
        actions.publish_resource(other_officer, draft)
    with pytest.raises(NotPermitted):
        actions.register_rights(other_officer, published, rights())
    published.refresh_from_db()
    draft.refresh_from_db()
    assert published.name == "婚姻登记核验接口" and draft.status == ResourceStatus.DRAFT
    denied = AuditEntry.objects.filter(action="identity.permission_denied", actor_id=str(other_officer.pk))
    assert denied.count() == 3 and {e.result for e in denied} == {Result.DENIED}
    assert {e.detail["permission"] for e in denied} == {"catalog.change_resource", "catalog.add_rightsregistration"}


def test_a_data_officer_describes_apis_only_for_departments_in_scope(officer, city):
    with pytest.raises(NotPermitted):
        actions.create_api_resource(officer, provider=city["other"], data=metadata(), service=service())
    resource = actions.create_api_resource(officer, provider=city["bureau"], data=metadata(), service=service())
    assert resource.created_by == officer


def test_the_governance_office_runs_the_whole_catalog(make_resource, governance, city):
    draft = make_resource(provider=city["other"])
    assert actions.publish_resource(governance, draft).status == ResourceStatus.PUBLISHED
    with pytest.raises(NotPermitted):  # but describing a department's API is the department's job
        actions.create_api_resource(governance, provider=city["other"], data=metadata(), service=service())


def test_viewers_read_published_resources_only(make_resource, make_staff, officer, other_officer, published):
    draft = make_resource(name="草稿")
    leader = make_staff(role_names=(roles.LEADER,))
    assert set(queries.visible_resources(leader)) == {published}
    assert set(queries.visible_resources(other_officer)) == {published}
    assert set(queries.visible_resources(officer)) == {published, draft}
    with pytest.raises(NotPermitted):
        actions.update_resource(leader, published, metadata())
    assert not queries.may_view_rights(leader)


def test_staff_without_a_catalog_role_see_nothing(make_staff, published):
    clerk = make_staff(role_names=(roles.WINDOW_STAFF,))
    assert not queries.visible_resources(clerk).exists()
    assert not queries.visible_registrations(clerk).exists()


def test_related_links_are_audited_and_only_removed_by_who_may_change_both(make_resource, officer, other_officer,
                                                                            governance, published, city):
    """`related` is one fact shown on both resources: linking is recorded with the ids added, and a department
    cannot drop another department's link."""
    theirs = actions.publish_resource(other_officer, actions.create_api_resource(
        other_officer, provider=city["other"], data=metadata(name="户籍核验接口", related=[published.pk]),
        service=service()))
    created = AuditEntry.objects.filter(action="catalog.create_resource", object_id=str(theirs.pk)).get()
    assert created.detail["related"] == {"added": [published.pk], "removed": []}
    assert list(published.related.all()) == [theirs]

    with pytest.raises(InvalidInput) as refused:
        actions.update_resource(officer, published, metadata(related=[]))
    assert [p.field for p in refused.value.details] == ["related"]
    assert list(published.related.all()) == [theirs]

    # Saving without naming a link to a draft the officer cannot see keeps it.
    hidden = actions.create_api_resource(other_officer, provider=city["other"],
                                         data=metadata(name="草稿接口", related=[published.pk]), service=service())
    actions.update_resource(officer, published, metadata(related=[theirs.pk], name="婚姻登记核验接口（新）"))
    assert set(published.related.all()) == {theirs, hidden}

    actions.update_resource(governance, published, metadata(related=[hidden.pk]))
    entry = AuditEntry.objects.filter(action="catalog.update_resource", object_id=str(published.pk)).latest("id")
    assert "related" in entry.detail["changed"]
    assert entry.detail["related"] == {"added": [], "removed": [theirs.pk]}
    assert list(theirs.related.all()) == []
