"""Who may request what (DESIGN §2 "who can request"), answered the fast way for My Access
(DESIGN §8: 200,000 policies): one index read per way of being admitted, unioned. Every
scope kind, for every kind of person, gives the same answer through My Access's package
list as through the policies themselves, and one query answers it whatever the numbers."""

from __future__ import annotations

from typing import Any

import pytest

from governance import models as m
from governance.permissions import discoverable_packages, requestable_packages
from tests import factories as f

pytestmark = pytest.mark.django_db

S = m.TargetScope


@pytest.fixture
def people(db: None) -> dict[str, m.User]:
    configured = f.ConnectedOrganizationFactory(display_name="Contoso")
    proposed = f.ConnectedOrganizationFactory(display_name="Fabrikam", state=m.ConnectedOrganizationState.PROPOSED)
    guest = {"user_type": m.UserType.GUEST}
    found = {
        "named": f.UserFactory(username="named"),
        "in_group": f.UserFactory(username="ingroup"),
        "member": f.UserFactory(username="member"),
        "contoso": f.UserFactory(username="contoso", connected_organization=configured, **guest),
        "fabrikam": f.UserFactory(username="fabrikam", connected_organization=proposed, **guest),
        "stranger": f.UserFactory(username="stranger", **guest),
        "named_guest": f.UserFactory(username="namedguest", **guest),
        "inactive": f.UserFactory(username="inactive", is_active=False),
    }
    return found


@pytest.fixture
def policies(people: dict[str, m.User]) -> dict[str, m.AssignmentPolicy]:
    """One package per way of being admitted, each with one policy, in a published catalog
    visible to external users."""
    catalog = f.CatalogFactory(display_name="Open", is_externally_visible=True)
    group = f.DirectoryGroupFactory(display_name="Staff")
    f.GroupMembershipFactory(group=group, user=people["in_group"])
    contoso = people["contoso"].connected_organization
    fabrikam = people["fabrikam"].connected_organization

    def policy(name: str, scope: str, **extra: Any) -> m.AssignmentPolicy:
        package = f.AccessPackageFactory(catalog=catalog, display_name=name)
        return f.PolicyFactory(package=package, display_name=name, allowed_target_scope=scope, **extra)

    made = {
        "named users": policy("named users", S.SPECIFIC_USERS),
        "named group": policy("named group", S.SPECIFIC_USERS),
        "all members": policy("all members", S.ALL_MEMBERS),
        "all users": policy("all users", S.ALL_USERS),
        "all externals": policy("all externals", S.ALL_EXTERNAL),
        "contoso": policy("contoso", S.SPECIFIC_ORGANIZATIONS),
        "fabrikam": policy("fabrikam", S.SPECIFIC_ORGANIZATIONS),
        "all organizations": policy("all organizations", S.ALL_ORGANIZATIONS),
        "no one": policy("no one", S.NO_ONE),
        # Names left over from an earlier scope admit nobody through them.
        "members, names left over": policy("members, names left over", S.ALL_MEMBERS),
        "no one, names left over": policy("no one, names left over", S.NO_ONE),
        "disabled": policy("disabled", S.ALL_USERS, enabled=False),
    }
    made["named users"].specific_users.add(people["named"], people["named_guest"])
    made["named group"].specific_groups.add(group)
    made["contoso"].specific_organizations.add(contoso)
    made["fabrikam"].specific_organizations.add(fabrikam)
    made["members, names left over"].specific_users.add(people["named_guest"])
    made["no one, names left over"].specific_users.add(people["named"])
    made["no one, names left over"].specific_groups.add(group)
    return made


EVERYONE_INTERNAL = {"all members", "all users", "members, names left over"}
EXPECTED = {
    "named": EVERYONE_INTERNAL | {"named users"},
    "in_group": EVERYONE_INTERNAL | {"named group"},
    "member": EVERYONE_INTERNAL,
    "contoso": {"all users", "all externals", "contoso", "all organizations"},
    # A proposed (not configured) organization: named ones only, not "all configured".
    "fabrikam": {"all users", "all externals", "fabrikam"},
    "stranger": {"all users", "all externals"},
    "named_guest": {"all users", "all externals", "named users"},
    "inactive": set(),
}


@pytest.mark.parametrize("person", sorted(EXPECTED))
def test_each_scope_kind_admits_exactly_its_people(
    person: str, people: dict[str, m.User], policies: dict[str, m.AssignmentPolicy]
) -> None:
    user = people[person]
    through_policies = set(m.AssignmentPolicy.objects.requestable_by(user).values_list("display_name", flat=True))
    assert through_policies == EXPECTED[person]
    through_packages = set(requestable_packages(user).values_list("display_name", flat=True))
    assert through_packages == EXPECTED[person]
    assert set(discoverable_packages(user).values_list("display_name", flat=True)) == EXPECTED[person]


def test_catalogs_unpublished_or_not_for_externals(people: dict[str, m.User], policies: Any) -> None:
    hidden_from_guests = f.CatalogFactory(display_name="Internal only", is_externally_visible=False)
    unpublished = f.CatalogFactory(display_name="Draft", state=m.CatalogState.UNPUBLISHED)
    for catalog in (hidden_from_guests, unpublished):
        package = f.AccessPackageFactory(catalog=catalog, display_name=f"in {catalog.display_name}")
        f.PolicyFactory(package=package, allowed_target_scope=S.ALL_USERS)
    member = {p.display_name for p in requestable_packages(people["member"])}
    guest = {p.display_name for p in requestable_packages(people["stranger"])}
    assert "in Internal only" in member
    assert "in Internal only" not in guest
    assert "in Draft" not in member | guest
    for person in people.values():
        by_policy = set(m.AssignmentPolicy.objects.requestable_by(person).values_list("package_id", flat=True))
        assert set(requestable_packages(person).values_list("pk", flat=True)) == by_policy


def test_a_package_with_several_policies_is_listed_once(people: dict[str, m.User], policies: Any) -> None:
    package = policies["all members"].package
    f.PolicyFactory(package=package, allowed_target_scope=S.ALL_USERS)
    f.PolicyFactory(package=package, allowed_target_scope=S.SPECIFIC_USERS).specific_users.add(people["named"])
    names = list(requestable_packages(people["named"]).values_list("display_name", flat=True))
    assert names.count("all members") == 1
    assert m.AssignmentPolicy.objects.requestable_by(people["named"]).filter(package=package).count() == 3


def test_hidden_packages_need_their_link(people: dict[str, m.User], policies: Any) -> None:
    m.AccessPackage.objects.filter(display_name="all users").update(is_hidden=True)
    assert "all users" in {p.display_name for p in requestable_packages(people["member"])}
    assert "all users" not in {p.display_name for p in discoverable_packages(people["member"])}


@pytest.mark.parametrize("person", ["in_group", "contoso"])
def test_one_query_whatever_the_numbers(
    person: str, people: dict[str, m.User], policies: Any, django_assert_num_queries: Any
) -> None:
    """The person's groups and organization are read inside the one query: more groups,
    policies and packages cost no query more."""
    user = m.User.objects.select_related("connected_organization").get(pk=people[person].pk)
    with django_assert_num_queries(1):
        few = len(discoverable_packages(user))
    catalog = m.Catalog.objects.get(display_name="Open")
    for index in range(15):
        group = f.DirectoryGroupFactory()
        f.GroupMembershipFactory(group=group, user=user)
        package = f.AccessPackageFactory(catalog=catalog)
        f.PolicyFactory(package=package, allowed_target_scope=S.SPECIFIC_USERS).specific_groups.add(group)
        f.PolicyFactory(package=package, allowed_target_scope=S.ALL_USERS)
        f.PolicyFactory(package__catalog=catalog, allowed_target_scope=[S.ALL_MEMBERS, S.ALL_EXTERNAL][index % 2])
    with django_assert_num_queries(1):
        many = len(discoverable_packages(user))
    assert many > few


def test_request_access_pages_count_in_the_same_query(
    people: dict[str, m.User], policies: Any, django_assert_num_queries: Any
) -> None:
    """My Access's list: the total rides along with the page (one query, not a count and a
    page), page numbers as before, and a page past the end is the last one."""
    from tests.clients import signed_in

    client = signed_in(people["member"])
    # Session, user, the page with its total, its packages marked (yours, requested), their
    # roles, the menu's two.
    with django_assert_num_queries(7):
        first = client.get("/myaccess/").content.decode()
    assert "Page 1 of" not in first  # three packages: one page, no pager
    catalog = m.Catalog.objects.get(display_name="Open")
    for index in range(60):
        f.PolicyFactory(
            package=f.AccessPackageFactory(catalog=catalog, display_name=f"Extra {index:02d}"),
            allowed_target_scope=S.ALL_MEMBERS,
        )
    with django_assert_num_queries(7):
        second = client.get("/myaccess/", {"page": "2"}).content.decode()
    assert "Page 2 of 3" in second
    # By name, 25 a page: "Extra 00"-"Extra 24", then "Extra 25"-"Extra 49", then the rest.
    assert "Extra 25" in second
    assert "Extra 49" in second
    assert "Extra 24" not in second
    past = client.get("/myaccess/", {"page": "99"}).content.decode()
    assert "Page 3 of 3" in past
    assert "members, names left over" in past
