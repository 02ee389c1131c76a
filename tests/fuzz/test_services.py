# ruff: noqa: B008 - each lambda of CALLS draws its arguments once, as defaults, by design
"""Every service that takes what a person typed or an API client sent, fed arbitrary values of
the declared types: it succeeds or raises a domain error (never IntegrityError, ValueError,
TypeError, KeyError, a database error), and after a domain error the database is unchanged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from governance import models as m
from governance.connectors import registry
from governance.errors import DomainError, NotFound, ValidationFailed
from governance.services import (
    api_clients,
    approvals,
    assignments,
    catalogs,
    connectors,
    external_users,
    organizations,
    packages,
    policies,
    reprocess,
    requests,
    sharing,
)
from tests.fuzz.strategies import BAD_UUIDS, LONE_SURROGATES, NASTY_STRINGS, TEXT
from tests.fuzz.test_forms import World, fingerprint, rolled_back

pytestmark = pytest.mark.django_db

SERVICE_EXAMPLES = 6

# A service is called with what a person typed or a JSON body carried: lone surrogates too.
TEXTS = st.one_of(TEXT, NASTY_STRINGS, LONE_SURROGATES)
INTS = st.one_of(
    st.integers(-(10**12), 10**12), st.sampled_from([0, -1, 1, 2, 14, 365, 2**31, 2**63, 10**400, -(10**400)])
)
BOOLS = st.booleans()
KINDS = sorted(registry.current().classes)
CONFIG_KEYS = sorted({spec.name for cls in registry.current().classes.values() for spec in cls.fields} | {"junk"})
WHEN = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(UTC)),  # year 1 to 9999, aware
    st.datetimes(),  # naive
    st.sampled_from([timedelta(days=d) for d in (-400, -1, 0, 1, 3, 30, 400, 3650)]).map(lambda d: timezone.now() + d),
)


def ids(world: World, *models: type[Any]) -> st.SearchStrategy[Any]:
    """A real id of one of ``models`` (as UUID or str), or anything that is not one."""
    real = [pk for model in models for pk in model.objects.values_list("pk", flat=True)]
    good = st.sampled_from(real) if real else st.nothing()
    return st.one_of(good, good.map(str), BAD_UUIDS, st.just(""))


def people(world: World) -> st.SearchStrategy[m.User]:
    return st.sampled_from([world.admin, world.requestor, world.newcomer, world.approver])


Call = Callable[[World, st.DataObject], Callable[[], Any]]


def _spec(world: World, d: st.DataObject) -> policies.PolicySpec:
    user_ids, group_ids, org_ids = ids(world, m.User), ids(world, m.DirectoryGroup), ids(world, m.ConnectedOrganization)
    approver = st.builds(
        policies.ApproverSpec,
        kind=st.sampled_from([*m.ApproverKind.values, "nobody"]),
        user_id=st.one_of(st.none(), user_ids),
        group_id=st.one_of(st.none(), group_ids),
        is_fallback=BOOLS,
    )
    stage = st.builds(policies.StageSpec, timeout_days=INTS, approvers=st.lists(approver, max_size=3))
    return d.draw(
        st.builds(
            policies.PolicySpec,
            display_name=TEXTS,
            description=TEXTS,
            allowed_target_scope=st.sampled_from([*m.TargetScope.values, "everyone"]),
            specific_user_ids=st.lists(user_ids, max_size=3),
            specific_group_ids=st.lists(group_ids, max_size=2),
            specific_organization_ids=st.lists(org_ids, max_size=2),
            requires_approval=BOOLS,
            stages=st.lists(stage, max_size=4),
            requestor_justification_required=BOOLS,
            approver_justification_required=BOOLS,
            allow_custom_schedule=BOOLS,
            expiration_type=st.sampled_from([*m.ExpirationType.values, "someday"]),
            expiration_date=WHEN,
            expiration_days=st.one_of(st.none(), INTS),
            expiration_hours=st.one_of(st.none(), INTS),
            allow_extension=BOOLS,
            extension_requires_approval=BOOLS,
            enabled=BOOLS,
        )
    )


CALLS: dict[str, Call] = {
    "submit_request": lambda w, d: lambda u=d.draw(people(w)), p=d.draw(ids(w, m.AccessPackage)), pol=d.draw(
        st.one_of(st.none(), ids(w, m.AssignmentPolicy))), j=d.draw(TEXTS), s=d.draw(WHEN), e=d.draw(WHEN): (
        requests.submit_request(u, p, policy_id=pol, justification=j, start=s, end=e)),
    "decide": lambda w, d: lambda u=d.draw(people(w)), r=d.draw(ids(w, m.AssignmentRequest)), dec=d.draw(
        st.sampled_from([*m.Decision.values, "Maybe", ""])), j=d.draw(TEXTS), o=d.draw(st.one_of(st.none(), INTS)): (
        approvals.decide(u, r, dec, j, stage_order=o)),
    "cancel_request_as_requestor": lambda w, d: lambda u=d.draw(people(w)), r=d.draw(ids(w, m.AssignmentRequest)): (
        requests.cancel_request_as_requestor(u, r)),
    "cancel_request_as_admin": lambda w, d: lambda r=d.draw(ids(w, m.AssignmentRequest)), why=d.draw(TEXTS): (
        requests.cancel_request_as_admin(w.admin, r, why)),
    "request_extension": lambda w, d: lambda u=d.draw(people(w)), a=d.draw(ids(w, m.Assignment)), j=d.draw(TEXTS), e=(
        d.draw(WHEN)): requests.request_extension(u, a, justification=j, end=e),
    "request_removal": lambda w, d: lambda u=d.draw(people(w)), a=d.draw(ids(w, m.Assignment)), j=d.draw(TEXTS): (
        requests.request_removal(u, a, j)),
    "create_direct_assignments": lambda w, d: lambda p=d.draw(ids(w, m.AccessPackage)), pol=d.draw(
        st.one_of(st.none(), ids(w, m.AssignmentPolicy))), t=d.draw(st.lists(ids(w, m.User), max_size=3)), s=d.draw(
        WHEN), e=d.draw(WHEN), j=d.draw(TEXTS): assignments.create_direct_assignments(
        w.admin, p, policy_id=pol, target_ids=t, start=s, end=e, justification=j),
    "remove_assignment": lambda w, d: lambda a=d.draw(ids(w, m.Assignment)), j=d.draw(TEXTS): (
        assignments.remove_assignment(w.admin, a, j)),
    "update_assignment_end": lambda w, d: lambda a=d.draw(ids(w, m.Assignment)), e=d.draw(WHEN): (
        assignments.update_assignment_end(w.admin, a, e)),
    "reprocess_requests": lambda w, d: lambda r=d.draw(st.lists(ids(w, m.AssignmentRequest), max_size=4)): (
        reprocess.reprocess_requests(w.admin, r)),
    "reprocess_assignments": lambda w, d: lambda a=d.draw(st.lists(ids(w, m.Assignment), max_size=4)): (
        reprocess.reprocess_assignments(w.admin, a)),
    "create_package": lambda w, d: lambda c=d.draw(ids(w, m.Catalog)), n=d.draw(TEXTS), t=d.draw(TEXTS), h=d.draw(
        BOOLS): packages.create_package(w.admin, c, display_name=n, description=t, is_hidden=h),
    "update_package": lambda w, d: lambda p=d.draw(ids(w, m.AccessPackage)), ch=d.draw(st.fixed_dictionaries({},
        optional={
        "display_name": TEXTS, "description": TEXTS, "is_hidden": BOOLS})): packages.update_package(w.admin, p, **ch),
    "delete_package": lambda w, d: lambda p=d.draw(ids(w, m.AccessPackage)): packages.delete_package(w.admin, p),
    "add_resource_role": lambda w, d: lambda p=d.draw(ids(w, m.AccessPackage)), r=d.draw(ids(w, m.ResourceRole)): (
        packages.add_resource_role(w.admin, p, r)),
    "remove_resource_role": lambda w, d: lambda p=d.draw(ids(w, m.AccessPackage)), r=d.draw(ids(w, m.ResourceRole)): (
        packages.remove_resource_role(w.admin, p, r)),
    "save_policy": lambda w, d: lambda p=d.draw(ids(w, m.AccessPackage)), s=_spec(w, d), pol=d.draw(
        st.one_of(st.none(), ids(w, m.AssignmentPolicy))): policies.save_policy(w.admin, p, s, policy_id=pol),
    "delete_policy": lambda w, d: lambda p=d.draw(ids(w, m.AssignmentPolicy)): policies.delete_policy(w.admin, p),
    "create_catalog": lambda w, d: lambda n=d.draw(TEXTS), t=d.draw(TEXTS), v=d.draw(BOOLS): catalogs.create_catalog(
        w.admin, display_name=n, description=t, is_externally_visible=v),
    "update_catalog": lambda w, d: lambda c=d.draw(ids(w, m.Catalog)), ch=d.draw(st.fixed_dictionaries({}, optional={
        "display_name": TEXTS, "description": TEXTS, "state": st.sampled_from([*m.CatalogState.values, "gone"]),
        "is_externally_visible": BOOLS})): catalogs.update_catalog(w.admin, c, **ch),
    "delete_catalog": lambda w, d: lambda c=d.draw(ids(w, m.Catalog)): catalogs.delete_catalog(w.admin, c),
    "add_catalog_role": lambda w, d: lambda c=d.draw(ids(w, m.Catalog)), u=d.draw(ids(w, m.User)), r=d.draw(
        st.sampled_from([*m.CatalogRole.values, "king"])): catalogs.add_catalog_role(w.admin, c, u, r),
    "add_resource": lambda w, d: lambda c=d.draw(ids(w, m.Catalog)), con=d.draw(ids(w, m.Connector)), o=d.draw(
        st.one_of(TEXTS, ids(w, m.DirectoryGroup).map(str))), n=d.draw(TEXTS), t=d.draw(
        st.sampled_from([*m.ResourceType.values, "toaster"])), roles=d.draw(st.lists(st.tuples(TEXTS, TEXTS),
        max_size=3)): catalogs.add_resource(w.admin, c, connector_id=con, origin_id=o, display_name=n,
        resource_type=t, roles=roles),
    "delete_resource": lambda w, d: lambda r=d.draw(ids(w, m.Resource)): catalogs.delete_resource(w.admin, r),
    "save_connector": lambda w, d: lambda k=d.draw(st.sampled_from([*KINDS, "ftp"])), n=d.draw(
        TEXTS), cfg=d.draw(st.dictionaries(st.sampled_from(CONFIG_KEYS), st.one_of(TEXTS, INTS, BOOLS, st.none()),
        max_size=8)), dm=d.draw(
        st.sampled_from([*m.DriftMode.values, "panic"])), en=d.draw(BOOLS), cid=d.draw(st.one_of(st.none(), ids(
        w, m.Connector))): connectors.save_connector(w.admin, connector_id=cid, display_name=n, kind=k, config=cfg,
        drift_mode=dm, enabled=en),
    "create_organization": lambda w, d: lambda n=d.draw(TEXTS), dom=d.draw(st.lists(st.one_of(TEXTS, st.just(
        "contoso.example"), st.just("fabrikam.example")), max_size=3)), s=d.draw(st.sampled_from([
        *m.ConnectedOrganizationState.values, "x"])): organizations.create_organization(
        w.admin, display_name=n, domains=dom, state=s),
    "update_organization": lambda w, d: lambda o=d.draw(ids(w, m.ConnectedOrganization)), ch=d.draw(
        st.fixed_dictionaries({}, optional={"display_name": TEXTS, "description": TEXTS, "domains": st.lists(
            TEXTS, max_size=3), "state": st.sampled_from([*m.ConnectedOrganizationState.values, "x"])})): (
        organizations.update_organization(w.admin, o, **ch)),
    "delete_organization": lambda w, d: lambda o=d.draw(ids(w, m.ConnectedOrganization)): (
        organizations.delete_organization(w.admin, o)),
    "update_lifecycle_settings": lambda w, d: lambda o=d.draw(ids(w, m.ConnectedOrganization)), b=d.draw(BOOLS), r=(
        d.draw(BOOLS)), days=d.draw(INTS): external_users.update_settings(
        w.admin, o, block_sign_in=b, remove_account=r, remove_after_days=days),
    "create_api_client": lambda w, d: lambda n=d.draw(TEXTS), r=d.draw(st.sampled_from([
        *m.ApiClientRole.values, "", "root"])), c=d.draw(st.one_of(st.none(), TEXTS, st.just("Engineering"))), u=d.draw(
        st.one_of(
        st.none(), TEXTS, st.just("requestor"))): api_clients.create_api_client(
        w.admin, n, role=r, catalog_name=c, username=u),
    "email_package_link": lambda w, d: lambda p=d.draw(ids(w, m.AccessPackage)), r=d.draw(st.lists(ids(w, m.User),
        max_size=3)), n=d.draw(TEXTS): sharing.email_package_link(w.admin, p, r, n),
}  # fmt: skip


@pytest.mark.fuzz
@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_service_succeeds_or_refuses_cleanly(name: str, world: World) -> None:
    @settings(max_examples=SERVICE_EXAMPLES if settings.default.max_examples <= 25 else settings.default.max_examples)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        call = CALLS[name](world, data)
        with rolled_back():
            before = fingerprint()
            try:
                call()
            except DomainError as refusal:
                after = fingerprint()
                changed = sorted(k for k in before if before[k] != after[k])
                assert not changed, f"refused ({refusal.message!r}) but wrote {changed}"  # noqa: PT017

    fuzz()


def test_a_decision_on_a_mangled_request_id_is_not_found(world: World) -> None:
    """Found by the fuzzer: a bad id leaked Django's ValidationError (a 500 on a mangled link)."""
    with pytest.raises(NotFound):
        approvals.decide(world.approver, "not-a-uuid", m.Decision.APPROVE)  # type: ignore[arg-type]


def test_lifecycle_settings_of_a_mangled_organization_id_are_not_found(world: World) -> None:
    """Found by the fuzzer: a bad id leaked Django's ValidationError."""
    with pytest.raises(NotFound):
        external_users.update_settings(
            world.admin, "not-a-uuid", block_sign_in=True, remove_account=False, remove_after_days=30
        )


def test_a_nul_in_a_name_or_description_is_refused(world: World) -> None:
    """Found by the fuzzer on PostgreSQL: a NUL reached the INSERT (DataError, a 500)."""
    for call in (
        lambda: catalogs.create_catalog(world.admin, display_name="Finance", description="\x00"),
        lambda: catalogs.update_catalog(world.admin, world.catalog.pk, description="a\x00"),
        lambda: packages.create_package(world.admin, world.catalog.pk, display_name="a\x00b"),
        lambda: packages.update_package(world.admin, world.package.pk, description="\x00"),
        lambda: organizations.create_organization(
            world.admin, display_name="Fabrikam", domains=["fabrikam.example"], description="\x00"
        ),
    ):
        with rolled_back(), pytest.raises(ValidationFailed, match="NUL"):
            call()
