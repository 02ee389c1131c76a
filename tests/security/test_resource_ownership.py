"""Rule 17: a resource goes into a catalog only by a global or user administrator, or by an
owner of the resource in its directory. A catalog owner cannot pull another catalog's group
(or anybody's) into theirs, then grant it to themselves."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from governance import models as m
from governance.errors import NotResourceOwner
from governance.services import catalogs
from tests import factories as f
from tests.api.conftest import ApiMaker
from tests.conftest import snapshot
from tests.portal.conftest import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance_admins(other_catalog: m.Catalog) -> m.DirectoryGroup:
    """Another catalog's group, owned by somebody else."""
    cfo = f.UserFactory(username="cfo", display_name="Carla Fo")
    group = f.DirectoryGroupFactory(display_name="Finance admins", owners=[cfo])
    f.ResourceFactory(catalog=other_catalog, group=group)
    return group


def _add_url(catalog: m.Catalog) -> str:
    return f"/governance/catalogs/{catalog.pk}/resources/add/"


def _post_add(client: Client, catalog: m.Catalog, group: m.DirectoryGroup) -> Any:
    data = {
        "connector": f.builtin_connector().pk,
        "origin_id": str(group.pk),
        "display_name": group.display_name,
        "resource_type": "group",
    }
    return client.post(_add_url(catalog), data, follow=True)


# --- The portal ---------------------------------------------------------------------------


def test_a_catalog_owner_cannot_add_another_catalogs_group(
    client: Client, catalog: m.Catalog, catalog_owner: m.User, finance_admins: m.DirectoryGroup
) -> None:
    client.force_login(catalog_owner)
    before = snapshot()
    response = _post_add(client, catalog, finance_admins)
    assert response.status_code == 200
    assert (
        "You are not an owner of Finance admins in Built-in directory. Only its owners and global or user "
        "administrators can add it to a catalog." in text(response)
    )
    assert not m.Resource.objects.filter(catalog=catalog).exists()
    assert snapshot() == before


def test_a_catalog_owner_adds_a_group_they_own(client: Client, catalog: m.Catalog, catalog_owner: m.User) -> None:
    group = f.DirectoryGroupFactory(display_name="Engineering wiki", owners=[catalog_owner])
    client.force_login(catalog_owner)
    response = _post_add(client, catalog, group)
    assert "Engineering wiki added to Engineering." in text(response)
    assert m.Resource.objects.filter(catalog=catalog, origin_id=str(group.pk)).exists()


def test_the_picker_offers_a_catalog_owner_only_the_groups_they_own(
    client: Client, catalog: m.Catalog, catalog_owner: m.User, finance_admins: m.DirectoryGroup
) -> None:
    mine = f.DirectoryGroupFactory(display_name="Platform admins", owners=[catalog_owner])
    f.DirectoryGroupFactory(display_name="Security admins")  # nobody owns it
    client.force_login(catalog_owner)
    response = client.get(_add_url(catalog), {"connector": f.builtin_connector().pk, "q": "admins"})
    assert [c.display_name for c in response.context["results"]] == ["Platform admins"]
    page = text(response)
    assert "Finance admins" not in page
    assert "Security admins" not in page
    assert "You can add groups you own in their directory." in page
    # The owners are shown beside each group.
    [found] = response.context["results"]
    assert (found.origin_id, found.owners) == (str(mine.pk), [str(catalog_owner)])


def test_the_picker_offers_owners_only_connectors_that_know_owners(
    client: Client, catalog: m.Catalog, catalog_owner: m.User, admin: m.User
) -> None:
    f.ConnectorFactory(display_name="Wiki (SCIM)", kind="scim")
    f.ConnectorFactory(display_name="Badges (webhook)", kind="webhook")
    f.builtin_connector()
    client.force_login(catalog_owner)
    offered = client.get(_add_url(catalog)).context["search"].fields["connector"].queryset
    assert [c.display_name for c in offered] == ["Built-in directory"]
    client.force_login(admin)
    offered = client.get(_add_url(catalog)).context["search"].fields["connector"].queryset
    assert [c.display_name for c in offered] == ["Badges (webhook)", "Built-in directory", "Wiki (SCIM)"]


@pytest.mark.parametrize("persona", ["admin", "user_admin"])
def test_global_and_user_administrators_add_any_group(
    client: Client, request: pytest.FixtureRequest, catalog: m.Catalog, finance_admins: m.DirectoryGroup, persona: str
) -> None:
    client.force_login(request.getfixturevalue(persona))
    found = client.get(_add_url(catalog), {"connector": f.builtin_connector().pk, "q": "finance"})
    assert [c.display_name for c in found.context["results"]] == ["Finance admins"]
    assert found.context["results"][0].owners == ["Carla Fo"]
    response = _post_add(client, catalog, finance_admins)
    assert "Finance admins added to Engineering." in text(response)


def test_the_identity_governance_administrator_adds_only_what_they_own(
    client: Client, catalog: m.Catalog, governance_admin: m.User, finance_admins: m.DirectoryGroup
) -> None:
    """Rule 17 names global and user administrators: this role manages catalogs, not groups."""
    client.force_login(governance_admin)
    response = _post_add(client, catalog, finance_admins)
    assert "You are not an owner of Finance admins" in text(response)
    assert not m.Resource.objects.filter(catalog=catalog).exists()
    owned = f.DirectoryGroupFactory(display_name="Governance tools", owners=[governance_admin])
    assert "Governance tools added to Engineering." in text(_post_add(client, catalog, owned))


# --- The service (whatever calls it) -------------------------------------------------------


def test_the_service_refuses_whoever_calls_it(
    catalog: m.Catalog, catalog_owner: m.User, finance_admins: m.DirectoryGroup
) -> None:
    with pytest.raises(NotResourceOwner) as refused:
        catalogs.add_resource(
            catalog_owner,
            catalog.pk,
            connector_id=f.builtin_connector().pk,
            origin_id=str(finance_admins.pk),
            display_name="Anything",
        )
    assert refused.value.http_status == 403


@pytest.mark.parametrize("kind", ["scim", "webhook"])
def test_resources_of_connectors_that_cannot_tell_owners_are_for_administrators(
    catalog: m.Catalog, catalog_owner: m.User, user_admin: m.User, kind: str
) -> None:
    connector = f.ConnectorFactory(display_name="Remote", kind=kind)
    with pytest.raises(NotResourceOwner, match="Remote does not say who owns its resources, so only a global or user"):
        catalogs.add_resource(
            catalog_owner, catalog.pk, connector_id=connector.pk, origin_id="g-1", display_name="Remote group"
        )
    added = catalogs.add_resource(
        user_admin, catalog.pk, connector_id=connector.pk, origin_id="g-1", display_name="Remote group"
    )
    assert added.catalog == catalog


# --- The API ------------------------------------------------------------------------------


def _api_add(api: Any, catalog: m.Catalog, group: m.DirectoryGroup) -> Any:
    return api.post(
        "resourceRequests",
        {
            "requestType": "adminAdd",
            "resource": {"originId": str(group.pk), "originSystem": "AadGroup"},
            "catalog": {"id": str(catalog.pk)},
        },
    )


def test_api_refuses_a_catalog_owners_token_another_catalogs_group(
    api_as: ApiMaker, catalog: m.Catalog, catalog_owner: m.User, finance_admins: m.DirectoryGroup
) -> None:
    apis = (api_as(role="catalog_owner", catalog=catalog), api_as(user=catalog_owner))
    before = snapshot()
    for api in apis:
        answer = _api_add(api, catalog, finance_admins)
        assert answer.status == 403, answer.body
        assert answer.error["code"] == "forbidden"
        assert "not an owner of Finance admins" in answer.error["message"]
    assert snapshot() == before


def test_api_adds_a_group_the_person_owns(api_as: ApiMaker, catalog: m.Catalog, catalog_owner: m.User) -> None:
    group = f.DirectoryGroupFactory(display_name="Engineering wiki", owners=[catalog_owner])
    answer = _api_add(api_as(user=catalog_owner), catalog, group)
    assert answer.status == 201, answer.body
    assert answer.body["resource"]["displayName"] == "Engineering wiki"
    # An application token is nobody: it owns nothing, even what its catalog's owner owns.
    other = f.DirectoryGroupFactory(display_name="Engineering chat", owners=[catalog_owner])
    assert _api_add(api_as(role="catalog_owner", catalog=catalog), catalog, other).status == 403


@pytest.mark.parametrize(("role", "status"), [("global_admin", 201), ("user_admin", 201), ("governance_admin", 403)])
def test_api_administrators(
    api_as: ApiMaker, catalog: m.Catalog, finance_admins: m.DirectoryGroup, role: str, status: int
) -> None:
    answer = _api_add(api_as(role=role), catalog, finance_admins)
    assert answer.status == status, answer.body


def test_administrators_keep_a_built_in_groups_owners_where_groups_are_managed(
    client: Client, catalog: m.Catalog, catalog_owner: m.User
) -> None:
    """The Django admin, where built-in groups and their members are kept, edits owners too;
    the new owner may then add the group."""
    superuser = f.UserFactory(username="root", is_superuser=True, is_staff=True)
    group = f.DirectoryGroupFactory(display_name="Release managers")
    client.force_login(superuser)
    url = f"/django-admin/governance/directorygroup/{group.pk}/change/"
    assert "Owners" in client.get(url).content.decode()
    data = {
        "display_name": group.display_name,
        "description": "",
        "mail": "",
        "source": m.GroupSource.BUILTIN,
        "external_id": "",
        "ownerships-TOTAL_FORMS": "1",
        "ownerships-INITIAL_FORMS": "0",
        "ownerships-0-user": str(catalog_owner.pk),
        "ownerships-0-group": str(group.pk),
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(group.owners.all()) == [catalog_owner]
    client.force_login(catalog_owner)
    assert "Release managers added to Engineering." in text(_post_add(client, catalog, group))
