"""`manage.py load_demo`: the demo people, catalog and packages of DESIGN §9. Idempotent.

Objects are found by their natural names and made only when missing; running it again
changes nothing. What governance manages (the connected organization, the catalog and its
roles, resources, packages, their roles and policies) is made through the services, as the
administrator, so the audit trail shows it. The people, groups, owners and global roles are
the built-in directory's own rows, entered as the directory sync or an administrator in the
Django admin would enter them: no governance service changes the directory.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from governance.connectors.builtin import builtin_connector
from governance.models import (
    AccessPackage,
    ApproverKind,
    AssignmentPolicy,
    Catalog,
    CatalogRole,
    CatalogRoleAssignment,
    ConnectedOrganization,
    DirectoryGroup,
    DirectoryRoleAssignment,
    ExpirationType,
    GlobalRole,
    GroupMembership,
    GroupOwnership,
    PackageResourceRole,
    Resource,
    TargetScope,
    User,
    UserType,
)
from governance.services import catalogs, organizations, packages, policies

PASSWORD = "portcullis"
DOMAIN = "portcullis.example"

PEOPLE: list[dict[str, Any]] = [
    {
        "username": "admin",
        "first_name": "Ada",
        "last_name": "Admin",
        "role": GlobalRole.GLOBAL_ADMIN,
        "superuser": True,
    },
    {"username": "govadmin", "first_name": "Grace", "last_name": "Governance", "role": GlobalRole.GOVERNANCE_ADMIN},
    {"username": "owner", "first_name": "Olivia", "last_name": "Owner"},
    {"username": "pkgmanager", "first_name": "Paul", "last_name": "Packager"},
    {"username": "assignmgr", "first_name": "Asha", "last_name": "Assigner"},
    {"username": "approver", "first_name": "Arturo", "last_name": "Approver"},
    {"username": "requestor", "first_name": "Rita", "last_name": "Requestor", "manager": "approver"},
    {"username": "outsider", "first_name": "Otto", "last_name": "Outsider"},
    {
        "username": "partner",
        "first_name": "Pat",
        "last_name": "Partner",
        "email": "partner@contoso.example",
        "external": True,
        "sponsor": "owner",
    },
]

STAFF = ["owner", "pkgmanager", "assignmgr", "approver", "requestor"]

GROUPS = {
    "Engineering staff": "Everyone in engineering (who may request engineering packages).",
    "Developers": "Source code, CI and the developer wiki.",
    "Build agents": "Operators of the build farm.",
    "Production on-call": "Emergency access to production.",
    "Partner collaboration": "The shared partner workspace.",
}


class Command(BaseCommand):
    help = "Create the demo people, catalog, packages and policies (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            people = self._people()
            admin = people["admin"]
            self._partners(admin, people)
            groups = self._groups(people)
            catalog = self._catalog(admin, people)
            resources = self._resources(admin, catalog, groups)
            self._packages(admin, catalog, resources, people, groups)
        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready. Sign in as admin, govadmin, owner, pkgmanager, assignmgr, requestor, "
                f"approver, outsider or partner; the password is '{PASSWORD}'."
            )
        )

    def _people(self) -> dict[str, User]:
        people: dict[str, User] = {}
        for spec in PEOPLE:
            username = spec["username"]
            email = spec.get("email", f"{username}@{DOMAIN}")
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username)
                user.set_password(PASSWORD)
            user.first_name = spec["first_name"]
            user.last_name = spec["last_name"]
            user.display_name = f"{spec['first_name']} {spec['last_name']}"
            user.email = email
            user.user_principal_name = email
            user.user_type = UserType.GUEST if spec.get("external") else UserType.MEMBER
            user.is_superuser = user.is_staff = bool(spec.get("superuser"))
            user.save()
            people[username] = user
            if spec.get("role"):
                DirectoryRoleAssignment.objects.get_or_create(user=user, role=spec["role"])
        for spec in PEOPLE:
            user = people[spec["username"]]
            user.manager = people.get(spec.get("manager", ""))
            user.sponsor = people.get(spec.get("sponsor", ""))
            user.save(update_fields=["manager", "sponsor"])
        return people

    def _partners(self, admin: User, people: dict[str, User]) -> None:
        """Contoso, the connected organization the external demo people come from."""
        contoso = ConnectedOrganization.objects.filter(display_name="Contoso").first()
        if contoso is None:
            contoso = organizations.create_organization(
                admin,
                display_name="Contoso",
                domains=["contoso.example"],
                description="Partner organization (demo).",
            )
        for spec in PEOPLE:
            if spec.get("external"):
                user = people[spec["username"]]
                user.connected_organization = contoso
                user.save(update_fields=["connected_organization"])

    def _groups(self, people: dict[str, User]) -> dict[str, DirectoryGroup]:
        groups = {}
        for name, description in GROUPS.items():
            group, _ = DirectoryGroup.objects.get_or_create(display_name=name, defaults={"description": description})
            groups[name] = group
        for username in STAFF:
            GroupMembership.objects.get_or_create(group=groups["Engineering staff"], user=people[username])
        # Rule 17: the catalog's owner owns its groups, so they may add them to the catalog.
        for group in groups.values():
            GroupOwnership.objects.get_or_create(group=group, user=people["owner"])
        return groups

    def _catalog(self, admin: User, people: dict[str, User]) -> Catalog:
        catalog = Catalog.objects.filter(display_name="Engineering").first()
        if catalog is None:
            catalog = catalogs.create_catalog(
                admin, display_name="Engineering", description="Engineering tools, systems and partner access."
            )
            # The administrator created it; the demo's owner is `owner`.
            for made in CatalogRoleAssignment.objects.filter(catalog=catalog, user=admin):
                catalogs.remove_catalog_role(admin, made.pk)
        for username, role in (
            ("owner", CatalogRole.OWNER),
            ("pkgmanager", CatalogRole.PACKAGE_MANAGER),
            ("assignmgr", CatalogRole.ASSIGNMENT_MANAGER),
        ):
            catalogs.add_catalog_role(admin, catalog.pk, people[username].pk, role)
        return catalog

    def _resources(self, admin: User, catalog: Catalog, groups: dict[str, DirectoryGroup]) -> dict[str, Resource]:
        builtin = builtin_connector()
        resources = {}
        for name in ("Developers", "Build agents", "Production on-call", "Partner collaboration"):
            group = groups[name]
            resource = Resource.objects.filter(catalog=catalog, connector=builtin, origin_id=str(group.pk)).first()
            if resource is None:
                resource = catalogs.add_resource(
                    admin,
                    catalog.pk,
                    connector_id=builtin.pk,
                    origin_id=str(group.pk),
                    display_name=name,
                    description=group.description,
                )
            resources[name] = resource
        return resources

    def _package(
        self, admin: User, catalog: Catalog, name: str, description: str, hidden: bool, roles: list[Resource]
    ) -> AccessPackage:
        package = AccessPackage.objects.filter(catalog=catalog, display_name=name).first()
        if package is None:
            package = packages.create_package(
                admin, catalog.pk, display_name=name, description=description, is_hidden=hidden
            )
        for resource in roles:
            role = resource.roles.get(origin_id="member")
            if not PackageResourceRole.objects.filter(package=package, resource_role=role).exists():
                packages.add_resource_role(admin, package.pk, role.pk)
        return package

    def _policy(self, admin: User, package: AccessPackage, spec: policies.PolicySpec) -> None:
        if not AssignmentPolicy.objects.filter(package=package, display_name=spec.display_name).exists():
            policies.save_policy(admin, package.pk, spec)

    def _packages(
        self,
        admin: User,
        catalog: Catalog,
        resources: dict[str, Resource],
        people: dict[str, User],
        groups: dict[str, DirectoryGroup],
    ) -> None:
        staff = groups["Engineering staff"].pk
        developer_tools = self._package(
            admin,
            catalog,
            "Developer tools",
            "Source code, CI pipelines and the build farm for engineers.",
            False,
            [resources["Developers"], resources["Build agents"]],
        )
        self._policy(
            admin,
            developer_tools,
            policies.PolicySpec(
                display_name="Engineering staff",
                description="Engineers request it; their approver decides.",
                allowed_target_scope=TargetScope.SPECIFIC_USERS,
                specific_group_ids=[staff],
                requires_approval=True,
                stages=[
                    policies.StageSpec(
                        timeout_days=14,
                        approvers=[policies.ApproverSpec(kind=ApproverKind.USER, user_id=people["approver"].pk)],
                    )
                ],
                requestor_justification_required=True,
                allow_custom_schedule=True,
                expiration_type=ExpirationType.AFTER_DAYS,
                expiration_days=180,
                allow_extension=True,
                extension_requires_approval=True,
            ),
        )
        on_call = self._package(
            admin,
            catalog,
            "Production on-call",
            "Emergency access to production systems, for the on-call rotation.",
            True,
            [resources["Production on-call"]],
        )
        self._policy(
            admin,
            on_call,
            policies.PolicySpec(
                display_name="Admin direct assignment",
                description="Administrators assign the rotation directly.",
                allowed_target_scope=TargetScope.NO_ONE,
                expiration_type=ExpirationType.AFTER_DAYS,
                expiration_days=7,
            ),
        )
        self._policy(
            admin,
            on_call,
            policies.PolicySpec(
                display_name="On-call volunteers",
                description="Engineers ask for a shift; their manager approves.",
                allowed_target_scope=TargetScope.SPECIFIC_USERS,
                specific_group_ids=[staff],
                requires_approval=True,
                stages=[
                    policies.StageSpec(timeout_days=2, approvers=[policies.ApproverSpec(kind=ApproverKind.MANAGER)])
                ],
                requestor_justification_required=True,
                approver_justification_required=True,
                allow_custom_schedule=True,
                expiration_type=ExpirationType.AFTER_DAYS,
                expiration_days=14,
            ),
        )
        partner_portal = self._package(
            admin,
            catalog,
            "Partner portal",
            "The shared workspace for people from partner organizations.",
            False,
            [resources["Partner collaboration"]],
        )
        self._policy(
            admin,
            partner_portal,
            policies.PolicySpec(
                display_name="Contoso users",
                description="Anyone from Contoso may request; their sponsor approves.",
                allowed_target_scope=TargetScope.SPECIFIC_ORGANIZATIONS,
                specific_organization_ids=[ConnectedOrganization.objects.get(display_name="Contoso").pk],
                requires_approval=True,
                stages=[
                    policies.StageSpec(
                        timeout_days=7,
                        approvers=[
                            policies.ApproverSpec(kind=ApproverKind.SPONSOR),
                            policies.ApproverSpec(
                                kind=ApproverKind.USER, user_id=people["approver"].pk, is_fallback=True
                            ),
                        ],
                    )
                ],
                requestor_justification_required=True,
                expiration_type=ExpirationType.AFTER_DAYS,
                expiration_days=90,
                allow_extension=True,
            ),
        )
