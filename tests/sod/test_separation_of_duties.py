"""Rule 13, separation of duties: incompatible packages and groups refuse a request (My
Access, API) or a direct assignment with the conflict named, both ways and against open
requests; the report of people who already hold both sides; Graph's $ref endpoints."""

from __future__ import annotations

import csv
import io

import pytest

from governance import models as m
from governance.errors import IncompatibleAccess, NotAllowed, NotFound
from governance.services import assignments, requests, separation
from tests import factories as f
from tests.conftest import snapshot
from tests.myaccess.conftest import content, signed_in

pytestmark = pytest.mark.django_db

GRAPH = "https://graph.microsoft.com/v1.0/identityGovernance/entitlementManagement"


@pytest.fixture
def approver_pkg(make_package):
    return make_package(name="Finance approver")


@pytest.fixture
def payments_pkg(make_package):
    return make_package(name="Finance payments")


@pytest.fixture
def direct_pkg(make_package):
    return make_package(name="Payments (direct)", allowed_target_scope=m.TargetScope.NO_ONE)


def assign(person, package):
    return f.AssignmentFactory(target=person, package=package, policy=package.policies.first())


class TestRule:
    def test_holding_one_refuses_requesting_the_other_both_ways(
        self, admin, requestor, approver_pkg, payments_pkg
    ) -> None:
        separation.add_incompatible_package(admin, payments_pkg.pk, approver_pkg.pk)
        assign(requestor, approver_pkg)
        before = snapshot()
        with pytest.raises(IncompatibleAccess) as refused:
            requests.submit_request(requestor, payments_pkg.pk)
        assert refused.value.message == "You have Finance approver, which cannot be combined with Finance payments."
        assert snapshot() == before

        # The other way: the link is listed on payments, and still holds for approver.
        other = f.UserFactory(username="other")
        assign(other, payments_pkg)
        with pytest.raises(IncompatibleAccess, match="You have Finance payments, which cannot be combined with"):
            requests.submit_request(other, approver_pkg.pk)

    def test_an_open_request_counts_too(self, admin, requestor, approver, make_package) -> None:
        first = make_package(name="Finance approver", approvers=[approver])
        second = make_package(name="Finance payments")
        separation.add_incompatible_package(admin, first.pk, second.pk)
        pending = requests.submit_request(requestor, first.pk)
        assert pending.state == m.RequestState.PENDING_APPROVAL
        with pytest.raises(IncompatibleAccess, match="You have requested Finance approver, which cannot be combined"):
            requests.submit_request(requestor, second.pk)
        # Once the open request ends, the way is free.
        requests.cancel_request_as_requestor(requestor, pending.pk)
        assert requests.submit_request(requestor, second.pk).state != m.RequestState.CANCELED

    def test_a_member_of_an_incompatible_group_is_refused(self, admin, requestor, payments_pkg) -> None:
        auditors = f.DirectoryGroupFactory(display_name="Auditors")
        f.GroupMembershipFactory(group=auditors, user=requestor)
        separation.add_incompatible_group(admin, payments_pkg.pk, auditors.pk)
        with pytest.raises(IncompatibleAccess) as refused:
            requests.submit_request(requestor, payments_pkg.pk)
        assert refused.value.message == "You are a member of Auditors, which cannot be combined with Finance payments."

    def test_expired_access_no_longer_conflicts(self, admin, requestor, approver_pkg, payments_pkg) -> None:
        separation.add_incompatible_package(admin, payments_pkg.pk, approver_pkg.pk)
        f.AssignmentFactory(target=requestor, package=approver_pkg, state=m.AssignmentState.EXPIRED)
        assert requests.submit_request(requestor, payments_pkg.pk).pk

    def test_direct_assignment_is_refused_naming_each_person(
        self, admin, requestor, outsider, approver_pkg, direct_pkg
    ) -> None:
        separation.add_incompatible_package(admin, approver_pkg.pk, direct_pkg.pk)
        assign(requestor, approver_pkg)
        policy = direct_pkg.policies.get()
        before = snapshot()
        with pytest.raises(IncompatibleAccess) as refused:
            assignments.create_direct_assignments(
                admin, direct_pkg.pk, policy_id=policy.pk, target_ids=[requestor.pk, outsider.pk]
            )
        assert refused.value.message == (
            f"{requestor} has Finance approver, which cannot be combined with Payments (direct)."
        )
        assert snapshot() == before  # all or nothing: outsider was not assigned either

    def test_links_are_idempotent_and_removed_from_either_side(self, admin, approver_pkg, payments_pkg) -> None:
        separation.add_incompatible_package(admin, payments_pkg.pk, approver_pkg.pk)
        separation.add_incompatible_package(admin, approver_pkg.pk, payments_pkg.pk)  # already linked
        assert m.AccessPackage.incompatible_packages.through.objects.count() == 1
        separation.remove_incompatible_package(admin, approver_pkg.pk, payments_pkg.pk)
        assert m.AccessPackage.incompatible_packages.through.objects.count() == 0
        assert m.AuditEvent.objects.filter(action="package.incompatible_package_removed").count() == 1

    def test_only_managers_change_it_and_unseen_packages_are_not_found(
        self, catalog_reader, pkg_manager, approver_pkg, payments_pkg, other_catalog
    ) -> None:
        with pytest.raises(NotAllowed):
            separation.add_incompatible_package(catalog_reader, payments_pkg.pk, approver_pkg.pk)
        elsewhere = f.AccessPackageFactory(catalog=other_catalog, display_name="Elsewhere")
        with pytest.raises(NotFound):
            separation.add_incompatible_package(pkg_manager, payments_pkg.pk, elsewhere.pk)
        with pytest.raises(Exception, match="itself"):
            separation.add_incompatible_package(pkg_manager, payments_pkg.pk, payments_pkg.pk)


class TestReport:
    def test_people_holding_both_sides_with_links_and_csv(
        self, admin, requestor, outsider, approver_pkg, payments_pkg, django_assert_max_num_queries
    ) -> None:
        both = assign(requestor, payments_pkg)
        other = assign(requestor, approver_pkg)
        assign(outsider, payments_pkg)  # only one side
        auditors = f.DirectoryGroupFactory(display_name="Auditors")
        member = f.UserFactory(username="carol", display_name="Carol")
        f.GroupMembershipFactory(group=auditors, user=member)
        carols = assign(member, payments_pkg)
        separation.add_incompatible_package(admin, approver_pkg.pk, payments_pkg.pk)
        separation.add_incompatible_group(admin, payments_pkg.pk, auditors.pk)

        client = signed_in(admin)
        with django_assert_max_num_queries(20):
            page = content(client.get(f"/governance/packages/{payments_pkg.pk}/separation/held-both/"))
        assert f"/governance/assignments/{both.pk}/" in page
        assert f"/governance/assignments/{other.pk}/" in page
        assert f"/governance/assignments/{carols.pk}/" in page
        assert "Member of Auditors" in page
        assert str(outsider) not in page

        download = client.get(f"/governance/packages/{payments_pkg.pk}/separation/held-both/download/")
        rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
        assert rows[0][:5] == ["Person", "Email", "Assignment", "Assigned", "Incompatible with"]
        assert {(r[2], r[4], r[5]) for r in rows[1:]} == {
            (str(both.pk), "Finance approver", "Access package"),
            (str(carols.pk), "Auditors", "Group"),
        }

    def test_report_query_count_does_not_grow(self, admin, approver_pkg, payments_pkg, django_assert_max_num_queries):
        separation.add_incompatible_package(admin, approver_pkg.pk, payments_pkg.pk)
        for index in range(30):
            person = f.UserFactory(username=f"p{index}")
            assign(person, approver_pkg)
            assign(person, payments_pkg)
        client = signed_in(admin)
        client.get("/governance/")
        with django_assert_max_num_queries(20):
            response = client.get(f"/governance/packages/{payments_pkg.pk}/separation/held-both/")
        assert content(response).count("Assignment of Finance approver") == 30


class TestPortal:
    def test_add_and_remove_on_the_separation_page(self, admin, approver_pkg, payments_pkg) -> None:
        client = signed_in(admin)
        overview = content(client.get(f"/governance/packages/{payments_pkg.pk}/"))
        assert f"/governance/packages/{payments_pkg.pk}/separation/" in overview
        page = client.get(f"/governance/packages/{payments_pkg.pk}/separation/")
        assert "Incompatible access packages" in content(page)
        added = client.post(
            f"/governance/packages/{payments_pkg.pk}/separation/packages/add/", {"other": approver_pkg.pk}, follow=True
        )
        assert "Finance approver can no longer be combined with Finance payments." in content(added)
        auditors = f.DirectoryGroupFactory(display_name="Auditors")
        add_groups = f"/governance/packages/{payments_pkg.pk}/separation/groups/add/"
        searched = client.post(add_groups, {"groups__q": "audit", "_search": "groups"})
        assert "Auditors" in content(searched)
        added = client.post(
            f"/governance/packages/{payments_pkg.pk}/separation/groups/add/", {"groups": [auditors.pk]}, follow=True
        )
        assert "Members of Auditors can no longer have Finance payments." in content(added)
        # The other side shows the link too, and may remove it.
        other_side = content(client.get(f"/governance/packages/{approver_pkg.pk}/separation/"))
        assert "Finance payments" in other_side
        client.post(f"/governance/packages/{approver_pkg.pk}/separation/packages/{payments_pkg.pk}/remove/")
        client.post(f"/governance/packages/{payments_pkg.pk}/separation/groups/{auditors.pk}/remove/")
        assert not payments_pkg.incompatible_packages.exists()
        assert not payments_pkg.incompatible_groups.exists()

    def test_empty_group_choice_is_a_form_error(self, admin, payments_pkg) -> None:
        response = signed_in(admin).post(f"/governance/packages/{payments_pkg.pk}/separation/groups/add/", {})
        assert response.status_code == 200
        assert "Select at least one group." in content(response)

    def test_readers_see_but_cannot_change(self, catalog_reader, approver_pkg, payments_pkg) -> None:
        client = signed_in(catalog_reader)
        page = content(client.get(f"/governance/packages/{payments_pkg.pk}/separation/"))
        assert "Add incompatible package" not in page
        url = f"/governance/packages/{payments_pkg.pk}/separation/packages/add/"
        assert client.post(url, {"other": approver_pkg.pk}).status_code == 404
        assert not payments_pkg.incompatible_packages.exists()

    def test_outsider_gets_404(self, outsider, payments_pkg) -> None:
        assert signed_in(outsider).get(f"/governance/packages/{payments_pkg.pk}/separation/").status_code in {
            302,
            404,
        }

    def test_my_access_request_form_names_the_conflict(self, admin, requestor, approver_pkg, payments_pkg) -> None:
        separation.add_incompatible_package(admin, payments_pkg.pk, approver_pkg.pk)
        assign(requestor, approver_pkg)
        response = signed_in(requestor).post(f"/myaccess/packages/{payments_pkg.pk}/request/", {"justification": "x"})
        assert "You have Finance approver, which cannot be combined with Finance payments." in content(response)
        assert not m.AssignmentRequest.objects.filter(package=payments_pkg).exists()

    def test_new_assignment_form_names_the_conflict(self, admin, requestor, approver_pkg, direct_pkg) -> None:
        separation.add_incompatible_group(admin, direct_pkg.pk, f.DirectoryGroupFactory(display_name="Auditors").pk)
        f.GroupMembershipFactory(group=m.DirectoryGroup.objects.get(display_name="Auditors"), user=requestor)
        response = signed_in(admin).post(
            f"/governance/packages/{direct_pkg.pk}/assignments/new/",
            {"users": [requestor.pk], "policy": direct_pkg.policies.get().pk},
        )
        assert f"{requestor} is a member of Auditors, which cannot be combined with Payments (direct)." in content(
            response
        )


class TestGraph:
    def test_ref_add_list_and_remove(self, admin_api, approver_pkg, payments_pkg) -> None:
        base = f"accessPackages/{payments_pkg.pk}"
        added = admin_api.post(
            f"{base}/incompatibleAccessPackages/$ref", {"@odata.id": f"{GRAPH}/accessPackages/{approver_pkg.pk}"}
        )
        assert added.status == 204, added.body
        listed = admin_api.get(f"{base}/incompatibleAccessPackages").body["value"]
        assert [p["displayName"] for p in listed] == ["Finance approver"]
        other_side = admin_api.get(f"accessPackages/{approver_pkg.pk}/accessPackagesIncompatibleWith").body["value"]
        assert [p["id"] for p in other_side] == [str(payments_pkg.pk)]
        assert admin_api.delete(f"{base}/incompatibleAccessPackages/{approver_pkg.pk}/$ref").status == 204
        assert admin_api.get(f"{base}/incompatibleAccessPackages").body["value"] == []
        assert admin_api.delete(f"{base}/incompatibleAccessPackages/{approver_pkg.pk}/$ref").status == 404

    def test_groups_ref(self, admin_api, payments_pkg) -> None:
        group = f.DirectoryGroupFactory(display_name="Auditors")
        base = f"accessPackages/{payments_pkg.pk}/incompatibleGroups"
        answer = admin_api.post(f"{base}/$ref", {"@odata.id": f"https://graph.microsoft.com/v1.0/groups/{group.pk}"})
        assert answer.status == 204, answer.body
        assert [g["displayName"] for g in admin_api.get(base).body["value"]] == ["Auditors"]
        assert admin_api.delete(f"{base}/{group.pk}/$ref").status == 204
        assert admin_api.get(base).body["value"] == []

    @pytest.mark.parametrize(
        "body",
        [{}, {"@odata.id": "nonsense"}, {"@odata.id": 5}, {"@odata.id": "https://x/groups/1"}, {"other": "x"}],
    )
    def test_bad_references_are_400(self, admin_api, payments_pkg, body) -> None:
        answer = admin_api.post(f"accessPackages/{payments_pkg.pk}/incompatibleAccessPackages/$ref", body)
        assert answer.status == 400, answer.body
        assert "error" in answer.body

    def test_user_add_and_admin_add_are_refused_with_the_conflict(
        self, admin, admin_api, api_as, requestor, approver_pkg, payments_pkg, direct_pkg
    ) -> None:
        separation.add_incompatible_package(admin, payments_pkg.pk, approver_pkg.pk)
        separation.add_incompatible_package(admin, direct_pkg.pk, approver_pkg.pk)
        assign(requestor, approver_pkg)
        mine = api_as(user=requestor)
        answer = mine.post(
            "assignmentRequests", {"requestType": "userAdd", "assignment": {"accessPackageId": str(payments_pkg.pk)}}
        )
        assert answer.status == 409, answer.body
        assert answer.error["code"] == "incompatibleAccess"
        assert "Finance approver" in answer.error["message"]
        answer = admin_api.post(
            "assignmentRequests",
            {
                "requestType": "adminAdd",
                "assignment": {
                    "targetId": str(requestor.pk),
                    "assignmentPolicyId": str(direct_pkg.policies.get().pk),
                    "accessPackageId": str(direct_pkg.pk),
                },
            },
        )
        assert answer.status == 409, answer.body
        assert "which cannot be combined with Payments (direct)" in answer.error["message"]

    def test_reader_cannot_add(self, api_as, catalog, approver_pkg, payments_pkg) -> None:
        reader = api_as(role="catalog_reader", catalog=catalog)
        answer = reader.post(
            f"accessPackages/{payments_pkg.pk}/incompatibleAccessPackages/$ref",
            {"@odata.id": f"{GRAPH}/accessPackages/{approver_pkg.pk}"},
        )
        assert answer.status == 403
