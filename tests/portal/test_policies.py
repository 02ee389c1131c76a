"""The Policies tab: Add policy with every option of DESIGN §2, edit, disable, delete."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from governance import models as m
from governance.forms import PolicyForm
from governance.services import policies
from tests import factories as f
from tests.conftest import snapshot
from tests.portal.conftest import Scene, text
from tests.portal.submissions import confirm, form_token

pytestmark = pytest.mark.django_db


def _form(client: Any, package: m.AccessPackage, **fields: Any) -> dict[str, Any]:
    page = client.get(f"/governance/packages/{package.pk}/policies/new/")
    base = {
        "submission": page.context["form"].initial["submission"],
        "display_name": "Contractors",
        "allowed_target_scope": m.TargetScope.ALL_MEMBERS,
        "expiration_type": m.ExpirationType.AFTER_DAYS,
        "expiration_days": "30",
        "enabled": "on",
    }
    return {**base, **fields}


@pytest.fixture
def package(catalog: m.Catalog) -> m.AccessPackage:
    return f.AccessPackageFactory(catalog=catalog, display_name="Developer tools")


class TestAddPolicy:
    def test_admin_direct_policy(self, package, as_persona: Any) -> None:
        client = as_persona("pkg_manager")
        data = _form(
            client, package, display_name="Direct", allowed_target_scope=m.TargetScope.NO_ONE, expiration_type="never"
        )
        response = client.post(f"/governance/packages/{package.pk}/policies/new/", data, follow=True)
        assert "Policy Direct created." in text(response)
        policy = package.policies.get()
        assert policy.is_admin_direct
        assert policy.expiration_type == "never"
        assert policy.enabled
        assert m.AuditEvent.objects.filter(action="policy.created", object_id=str(policy.pk)).exists()
        # Double submit: still one policy.
        client.post(f"/governance/packages/{package.pk}/policies/new/", data)
        assert package.policies.count() == 1

    def test_every_option(self, package, as_persona: Any, approver, contoso) -> None:
        client = as_persona("catalog_owner")
        security = f.DirectoryGroupFactory(display_name="Security team")
        backup = f.UserFactory(username="backup")
        requester = f.UserFactory(username="contractor")
        engineers = f.DirectoryGroupFactory(display_name="Engineers")
        data = _form(
            client,
            package,
            description="For contractors",
            allowed_target_scope=m.TargetScope.SPECIFIC_USERS,
            specific_users=[requester.pk],
            specific_groups=[engineers.pk],
            requires_approval="on",
            stage1_approvers=[approver.pk],
            stage1_fallback=[backup.pk],
            stage1_timeout_days="7",
            stage2_enabled="on",
            stage2_manager="on",
            stage2_approver_groups=[security.pk],
            stage2_timeout_days="3",
            stage3_enabled="on",
            stage3_sponsor="on",
            stage3_fallback_groups=[security.pk],
            stage3_timeout_days="2",
            approver_justification_required="on",
            requestor_justification_required="on",
            allow_custom_schedule="on",
            expiration_type=m.ExpirationType.AFTER_HOURS,
            expiration_hours="8",
            allow_extension="on",
            extension_requires_approval="on",
        )
        response = client.post(f"/governance/packages/{package.pk}/policies/new/", data)
        assert response.status_code == 302
        policy = package.policies.get()
        assert policy.description == "For contractors"
        assert list(policy.specific_users.all()) == [requester]
        assert list(policy.specific_groups.all()) == [engineers]
        assert policy.requires_approval
        assert policy.approver_justification_required
        assert policy.requestor_justification_required
        assert policy.allow_custom_schedule
        assert (policy.expiration_type, policy.expiration_hours) == ("after_hours", 8)
        assert policy.allow_extension
        assert policy.extension_requires_approval
        stages = list(policy.stages.order_by("order").prefetch_related("approvers"))
        assert [s.timeout_days for s in stages] == [7, 3, 2]
        assert {(a.kind, a.user_id, a.is_fallback) for a in stages[0].approvers.all()} == {
            ("user", approver.pk, False),
            ("user", backup.pk, True),
        }
        assert {(a.kind, a.group_id) for a in stages[1].approvers.all()} == {("manager", None), ("group", security.pk)}
        assert {(a.kind, a.group_id, a.is_fallback) for a in stages[2].approvers.all()} == {
            ("sponsor", None, False),
            ("group", security.pk, True),
        }

    def test_connected_organizations(self, package, as_persona: Any, contoso) -> None:
        client = as_persona("pkg_manager")
        data = _form(
            client,
            package,
            allowed_target_scope=m.TargetScope.SPECIFIC_ORGANIZATIONS,
            specific_organizations=[contoso.pk],
            expiration_type=m.ExpirationType.ON_DATE,
            expiration_date=(timezone.now() + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M"),
        )
        assert client.post(f"/governance/packages/{package.pk}/policies/new/", data).status_code == 302
        policy = package.policies.get()
        assert list(policy.specific_organizations.all()) == [contoso]
        assert policy.expiration_date is not None

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            ({"display_name": ""}, "display_name", "This field is required."),
            (
                {"allowed_target_scope": m.TargetScope.SPECIFIC_USERS},
                "specific_users",
                "Select at least one user or group who can request.",
            ),
            (
                {"allowed_target_scope": m.TargetScope.SPECIFIC_ORGANIZATIONS},
                "specific_organizations",
                "Select at least one connected organization.",
            ),
            ({"requires_approval": "on"}, "stage1_approvers", "Stage 1: choose at least one approver."),
            ({"stage1_timeout_days": "30", "requires_approval": "on"}, "stage1_timeout_days", "less than or equal"),
            ({"expiration_type": "on_date"}, "expiration_date", "Choose the date access ends."),
            (
                {"expiration_type": "on_date", "expiration_date": "2001-01-01T10:00"},
                "expiration_date",
                "The end date must be in the future.",
            ),
            ({"expiration_days": "0"}, "expiration_days", "greater than or equal to 1"),
            (
                {"expiration_type": "never", "allow_extension": "on"},
                "allow_extension",
                "Access that never expires cannot be extended.",
            ),
            (
                {"allow_extension": "on", "extension_requires_approval": "on"},
                "extension_requires_approval",
                "turn on Require approval first",
            ),
        ],
    )
    def test_bad_input_is_shown_next_to_its_field(
        self, package, as_persona: Any, approver, fields: dict[str, str], field: str, message: str
    ) -> None:
        client = as_persona("pkg_manager")
        data = _form(client, package, **fields)
        if "stage1_timeout_days" in fields:
            data["stage1_approvers"] = [approver.pk]
        before = snapshot()
        response = client.post(f"/governance/packages/{package.pk}/policies/new/", data)
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert field in errors, errors
        assert message in " ".join(errors[field])
        assert snapshot() == before

    def test_search_for_approvers_without_javascript(self, package, as_persona: Any, approver) -> None:
        client = as_persona("pkg_manager")
        data = _form(
            client, package, requires_approval="on", stage1_approvers__q="approver", _search="stage1_approvers"
        )
        response = client.post(f"/governance/packages/{package.pk}/policies/new/", data)
        assert response.status_code == 200
        assert not response.context["form"].errors
        assert f'value="{approver.pk}"' in response.content.decode()
        assert not package.policies.exists()

    def test_search_for_approvers_with_htmx(self, as_persona: Any, approver) -> None:
        client = as_persona("pkg_manager")
        chosen = f.UserFactory(username="zed", display_name="Zed Chosen")
        response = client.get(
            "/governance/directory/search/",
            {
                "kind": "user",
                "name": "stage1_approvers",
                "stage1_approvers__q": "approver",
                "stage1_approvers": chosen.pk,
            },
        )
        body = response.content.decode()
        assert f'value="{chosen.pk}" checked' in body
        assert f'value="{approver.pk}">' in body


class TestEditPolicy:
    def test_the_form_shows_what_was_saved_and_saves_it_back(self, scene: Scene, as_persona: Any, approver) -> None:
        policy = f.PolicyFactory(package=scene.package, requires_approval=True, display_name="Requestable")
        stage = f.ApprovalStageFactory(policy=policy, order=1, timeout_days=5)
        f.StageApproverFactory(stage=stage, kind=m.ApproverKind.USER, user=approver)
        f.StageApproverFactory(stage=stage, kind=m.ApproverKind.MANAGER, user=None)
        spec = policies.spec_of(policy)
        client = as_persona("pkg_manager")
        url = f"/governance/packages/{scene.package.pk}/policies/{policy.pk}/"
        page = client.get(url)
        form = page.context["form"]
        assert form.initial["stage1_manager"] is True
        assert form.initial["stage1_approvers"] == [str(approver.pk)]
        # Posting the form back unchanged saves the same policy.
        data = {k: v for k, v in form.initial.items() if v not in (None, False, [])}
        data = {k: ("on" if v is True else v) for k, v in data.items()}
        response = client.post(url, data)
        assert response.status_code == 302
        policy.refresh_from_db()
        again = policies.spec_of(policy)
        assert again.stages[0].timeout_days == spec.stages[0].timeout_days == 5
        assert {(a.kind, str(a.user_id)) for a in again.stages[0].approvers} == {
            (a.kind, str(a.user_id)) for a in spec.stages[0].approvers
        }
        assert again.expiration_days == spec.expiration_days
        assert m.AuditEvent.objects.filter(action="policy.updated", object_id=str(policy.pk)).exists()

    def test_round_trip_of_a_spec_through_the_form(self, scene: Scene, approver) -> None:
        group = f.DirectoryGroupFactory()
        stages = [
            policies.StageSpec(
                timeout_days=4,
                approvers=[
                    policies.ApproverSpec("user", user_id=approver.pk),
                    policies.ApproverSpec("group", group_id=group.pk, is_fallback=True),
                ],
            ),
            policies.StageSpec(timeout_days=2, approvers=[policies.ApproverSpec("sponsor")]),
        ]
        spec = policies.PolicySpec(
            display_name="All of it",
            allowed_target_scope=m.TargetScope.SPECIFIC_USERS,
            specific_group_ids=[group.pk],
            requires_approval=True,
            stages=stages,
            expiration_type="after_days",
            expiration_days=10,
        )
        initial = PolicyForm.initial_from(spec)
        data = {k: ("on" if v is True else v) for k, v in initial.items() if v not in (None, False, [], "")}
        form = PolicyForm(data)
        assert form.is_valid(), form.errors
        back = form.to_spec()
        assert back.stages == stages
        assert [str(g) for g in back.specific_group_ids] == [str(group.pk)]


class TestEnableDelete:
    def test_disable_then_enable(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("pkg_manager")
        url = f"/governance/packages/{scene.package.pk}/policies/{scene.direct_policy.pk}/enabled/"
        response = client.post(url, {"enabled": "0"}, follow=True)
        assert "Policy Admin direct disabled." in text(response)
        scene.direct_policy.refresh_from_db()
        assert not scene.direct_policy.enabled
        client.post(url, {"enabled": "0"})  # twice: no second audit row
        assert m.AuditEvent.objects.filter(action="policy.disabled").count() == 1
        client.post(url, {"enabled": "1"})
        scene.direct_policy.refresh_from_db()
        assert scene.direct_policy.enabled

    def test_delete_refused_while_it_governs_assignments(self, scene: Scene, as_persona: Any) -> None:
        client = as_persona("pkg_manager")
        url = f"/governance/packages/{scene.package.pk}/policies/{scene.direct_policy.pk}/delete/"
        before = snapshot()
        response = confirm(client, url)
        assert "2 active assignments are governed by this policy" in text(response)
        assert snapshot() == before

    def test_delete_an_unused_policy(self, scene: Scene, as_persona: Any) -> None:
        unused = f.PolicyFactory(package=scene.package, display_name="Unused")
        client = as_persona("pkg_manager")
        url = f"/governance/packages/{scene.package.pk}/policies/{unused.pk}/delete/"
        token = form_token(client, url)
        response = client.post(url, {"submission": token}, follow=True)
        assert "Policy Unused deleted." in text(response)
        assert not m.AssignmentPolicy.objects.filter(pk=unused.pk).exists()
        assert m.AuditEvent.objects.filter(action="policy.deleted", object_id=str(unused.pk)).exists()
        assert client.post(url, {"submission": token}).status_code == 302  # the second click is harmless

    def test_a_policy_of_another_package_is_not_found(self, scene: Scene, as_persona: Any, catalog) -> None:
        elsewhere = f.PolicyFactory(package=f.AccessPackageFactory(catalog=catalog))
        client = as_persona("pkg_manager")
        assert client.get(f"/governance/packages/{scene.package.pk}/policies/{elsewhere.pk}/").status_code == 404
