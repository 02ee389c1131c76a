"""factory-boy factories for every model."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from governance import models as m
from governance.encryption import encrypt


class UserFactory(DjangoModelFactory):
    class Meta:
        model = m.User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    display_name = factory.LazyAttribute(lambda o: f"{o.first_name} {o.last_name}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@portcullis.example")
    user_principal_name = factory.LazyAttribute(lambda o: f"{o.username}@portcullis.example")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def _save(obj: m.User, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            obj.save()


class ConnectedOrganizationFactory(DjangoModelFactory):
    class Meta:
        model = m.ConnectedOrganization

    display_name = factory.Sequence(lambda n: f"Partner {n}")


class OrganizationDomainFactory(DjangoModelFactory):
    class Meta:
        model = m.OrganizationDomain

    organization = factory.SubFactory(ConnectedOrganizationFactory)
    domain = factory.Sequence(lambda n: f"partner{n}.example")


class ExternalUserFactory(UserFactory):
    user_type = m.UserType.GUEST
    connected_organization = factory.SubFactory(ConnectedOrganizationFactory)
    email = factory.LazyAttribute(lambda o: f"{o.username}@partner.example")


class DirectoryRoleFactory(DjangoModelFactory):
    class Meta:
        model = m.DirectoryRoleAssignment

    user = factory.SubFactory(UserFactory)
    role = m.GlobalRole.GLOBAL_ADMIN


class DirectoryGroupFactory(DjangoModelFactory):
    class Meta:
        model = m.DirectoryGroup
        skip_postgeneration_save = True

    display_name = factory.Sequence(lambda n: f"Group {n}")

    @factory.post_generation
    def owners(self, create: bool, extracted: list[m.User] | None, **kwargs: object) -> None:
        """``DirectoryGroupFactory(owners=[someone])``: who owns the group (rule 17)."""
        if create and extracted:
            for user in extracted:
                m.GroupOwnership.objects.create(group=self, user=user)


class GroupMembershipFactory(DjangoModelFactory):
    class Meta:
        model = m.GroupMembership

    group = factory.SubFactory(DirectoryGroupFactory)
    user = factory.SubFactory(UserFactory)


class GroupOwnershipFactory(DjangoModelFactory):
    class Meta:
        model = m.GroupOwnership

    group = factory.SubFactory(DirectoryGroupFactory)
    user = factory.SubFactory(UserFactory)


class CatalogFactory(DjangoModelFactory):
    class Meta:
        model = m.Catalog

    display_name = factory.Sequence(lambda n: f"Catalog {n}")


class CatalogRoleFactory(DjangoModelFactory):
    class Meta:
        model = m.CatalogRoleAssignment

    catalog = factory.SubFactory(CatalogFactory)
    user = factory.SubFactory(UserFactory)
    role = m.CatalogRole.OWNER


class ConnectorFactory(DjangoModelFactory):
    class Meta:
        model = m.Connector
        skip_postgeneration_save = True

    display_name = factory.Sequence(lambda n: f"Connector {n}")
    kind = "builtin"

    @factory.post_generation
    def secrets(obj: m.Connector, create: bool, extracted: dict[str, str] | None, **kwargs: Any) -> None:
        """``ConnectorFactory(secrets={"token": ...})`` stores them encrypted, as the form does."""
        if extracted:
            obj.store_secrets(extracted)
            if create:
                obj.save(update_fields=["encrypted_secrets"])


def builtin_connector() -> m.Connector:
    from governance.connectors.builtin import builtin_connector as existing

    return existing()


class ResourceFactory(DjangoModelFactory):
    """A resource backed by a real built-in directory group."""

    class Meta:
        model = m.Resource

    class Params:
        group = factory.SubFactory(DirectoryGroupFactory)

    catalog = factory.SubFactory(CatalogFactory)
    connector = factory.LazyFunction(builtin_connector)
    display_name = factory.LazyAttribute(lambda o: o.group.display_name)
    origin_id = factory.LazyAttribute(lambda o: str(o.group.pk))


class ResourceRoleFactory(DjangoModelFactory):
    class Meta:
        model = m.ResourceRole

    resource = factory.SubFactory(ResourceFactory)
    display_name = "Member"
    origin_id = "member"


class AccessPackageFactory(DjangoModelFactory):
    class Meta:
        model = m.AccessPackage

    catalog = factory.SubFactory(CatalogFactory)
    display_name = factory.Sequence(lambda n: f"Package {n}")
    description = "A package for tests."


class PackageResourceRoleFactory(DjangoModelFactory):
    class Meta:
        model = m.PackageResourceRole

    package = factory.SubFactory(AccessPackageFactory)
    resource_role = factory.SubFactory(
        ResourceRoleFactory, resource__catalog=factory.SelfAttribute("...package.catalog")
    )


class PolicyFactory(DjangoModelFactory):
    class Meta:
        model = m.AssignmentPolicy

    package = factory.SubFactory(AccessPackageFactory)
    display_name = factory.Sequence(lambda n: f"Policy {n}")
    allowed_target_scope = m.TargetScope.ALL_MEMBERS
    expiration_type = m.ExpirationType.AFTER_DAYS
    expiration_days = 30


class ApprovalStageFactory(DjangoModelFactory):
    class Meta:
        model = m.ApprovalStage

    policy = factory.SubFactory(PolicyFactory, requires_approval=True)
    order = 1
    timeout_days = 7


class StageApproverFactory(DjangoModelFactory):
    class Meta:
        model = m.StageApprover

    stage = factory.SubFactory(ApprovalStageFactory)
    kind = m.ApproverKind.USER
    user = factory.SubFactory(UserFactory)


class RequestFactory(DjangoModelFactory):
    class Meta:
        model = m.AssignmentRequest

    request_type = m.RequestType.USER_ADD
    policy = factory.SubFactory(PolicyFactory)
    package = factory.SelfAttribute("policy.package")
    target = factory.SubFactory(UserFactory)
    requestor = factory.SelfAttribute("target")
    state = m.RequestState.PENDING_APPROVAL


class ApprovalDecisionFactory(DjangoModelFactory):
    class Meta:
        model = m.ApprovalDecision

    request = factory.SubFactory(RequestFactory)
    stage_order = 1
    approver = factory.SubFactory(UserFactory)
    approver_label = factory.LazyAttribute(lambda o: o.approver.username)
    decision = m.Decision.APPROVE


class AssignmentFactory(DjangoModelFactory):
    class Meta:
        model = m.Assignment

    policy = factory.SubFactory(PolicyFactory)
    package = factory.SelfAttribute("policy.package")
    target = factory.SubFactory(UserFactory)
    state = m.AssignmentState.DELIVERED
    start_at = factory.LazyFunction(timezone.now)


class RoleGrantFactory(DjangoModelFactory):
    class Meta:
        model = m.RoleGrant

    assignment = factory.SubFactory(AssignmentFactory)
    resource_role = factory.SubFactory(
        ResourceRoleFactory, resource__catalog=factory.SelfAttribute("...assignment.package.catalog")
    )
    subject = factory.SelfAttribute("assignment.target")
    state = m.GrantState.GRANTED


class DeliveryAttemptFactory(DjangoModelFactory):
    class Meta:
        model = m.DeliveryAttempt

    grant = factory.SubFactory(RoleGrantFactory)
    operation = m.Operation.GRANT
    outcome = m.Outcome.PERMANENT
    error_code = "groupNotFound"
    message = "The group does not exist."
    started_at = factory.LazyFunction(timezone.now)


class RoleOperationFactory(DjangoModelFactory):
    class Meta:
        model = m.RoleOperation

    package = factory.SubFactory(AccessPackageFactory)
    resource_role = factory.SubFactory(ResourceRoleFactory)
    role_label = factory.LazyAttribute(lambda o: str(o.resource_role))
    kind = m.RoleOperationKind.ADD


class BulkReprocessFactory(DjangoModelFactory):
    class Meta:
        model = m.BulkReprocess

    kind = m.BulkReprocessKind.REQUESTS
    actor = factory.SubFactory(UserFactory)
    actor_label = factory.LazyAttribute(lambda o: o.actor.username)
    query = "status=attention"
    as_of = factory.LazyFunction(timezone.now)


class ExpiryReminderFactory(DjangoModelFactory):
    class Meta:
        model = m.ExpiryReminder

    assignment = factory.SubFactory(AssignmentFactory)
    days_before = 14
    end_at = factory.LazyFunction(timezone.now)


class AuditEventFactory(DjangoModelFactory):
    class Meta:
        model = m.AuditEvent

    actor_label = "system"
    action = "test.event"
    object_type = "catalog"
    object_id = factory.Faker("uuid4")
    object_repr = "Something"


class OutboundEmailFactory(DjangoModelFactory):
    class Meta:
        model = m.OutboundEmail

    kind = "request_submitted"
    recipient = factory.SubFactory(UserFactory)
    to_address = factory.LazyAttribute(lambda o: o.recipient.email)
    subject = "Hello"
    body_text = "Body\n"


class ApprovalLinkFactory(DjangoModelFactory):
    class Meta:
        model = m.ApprovalLink

    request = factory.SubFactory(RequestFactory, current_stage=1)
    approver = factory.SubFactory(UserFactory)
    stage_order = 1
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class CollaborationRestrictionFactory(DjangoModelFactory):
    class Meta:
        model = m.CollaborationRestriction

    mode = m.CollaborationMode.DENY
    domains = "blocked.example"


class ApprovalReminderFactory(DjangoModelFactory):
    class Meta:
        model = m.ApprovalReminder

    request = factory.SubFactory(RequestFactory, current_stage=1)
    approver = factory.SubFactory(UserFactory)
    stage_order = 1


class ApiClientFactory(DjangoModelFactory):
    """An application token's row (``services.api_clients.create_api_client`` also returns
    the token itself; use it when a test calls the API)."""

    class Meta:
        model = m.ApiClient

    name = factory.Sequence(lambda n: f"api-client-{n}")
    role = m.ApiClientRole.GLOBAL_ADMIN
    token_hash = factory.Sequence(lambda n: f"{n:064x}")
    token_prefix = "pcs_test"


# --- Sign-in and identity sources (issue 8) ----------------------------------------------


class ExternalIdentityFactory(DjangoModelFactory):
    class Meta:
        model = m.ExternalIdentity

    user = factory.SubFactory(UserFactory)
    provider = m.IdentityProvider.OIDC
    issuer = "https://id.portcullis.example"
    subject = factory.Sequence(lambda n: f"subject-{n}")


class DirectorySyncStateFactory(DjangoModelFactory):
    class Meta:
        model = m.DirectorySyncState

    source = factory.Sequence(lambda n: f"ldap-{n}")


class ExternalUserLifecycleFactory(DjangoModelFactory):
    class Meta:
        model = m.ExternalUserLifecycle

    organization = factory.SubFactory(ConnectedOrganizationFactory)


class ExternalUserOffboardingFactory(DjangoModelFactory):
    class Meta:
        model = m.ExternalUserOffboarding

    user = factory.SubFactory(ExternalUserFactory)
    last_assignment_ended_at = factory.LazyFunction(timezone.now)


class ClientRequestKeyFactory(DjangoModelFactory):
    """A create the API remembers by its client-request-id."""

    class Meta:
        model = m.ClientRequestKey

    client = factory.SubFactory(ApiClientFactory)
    key = factory.Faker("uuid4", cast_to=None)
    request = factory.SubFactory(RequestFactory)


class ProcessHeartbeatFactory(DjangoModelFactory):
    class Meta:
        model = m.ProcessHeartbeat

    kind = m.ProcessKind.WORKER
    hostname = factory.Sequence(lambda n: f"worker-{n}@host")
    pid = 4242
    started_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)


class PeriodicJobRunFactory(DjangoModelFactory):
    class Meta:
        model = m.PeriodicJobRun

    name = factory.Sequence(lambda n: f"job-{n}")
    task = "governance.tasks.sweep_deliveries"
    last_success_at = factory.LazyFunction(timezone.now)


class FormSubmissionFactory(DjangoModelFactory):
    class Meta:
        model = m.FormSubmission

    token = factory.Faker("uuid4", cast_to=None)
    user = factory.SubFactory(UserFactory)
    result_url = "/governance/packages/"


class PolicyQuestionFactory(DjangoModelFactory):
    class Meta:
        model = m.PolicyQuestion

    policy = factory.SubFactory(PolicyFactory)
    sequence = 1
    kind = m.QuestionKind.SHORT_TEXT
    text = factory.Sequence(lambda n: f"Question {n}?")


class RequestAnswerFactory(DjangoModelFactory):
    class Meta:
        model = m.RequestAnswer

    request = factory.SubFactory(RequestFactory)
    question_id = factory.LazyFunction(uuid.uuid4)
    question_kind = m.QuestionKind.SHORT_TEXT
    question_text = "What do you do for work?"
    value = "Payroll"
    display_value = "Payroll"


class CustomExtensionFactory(DjangoModelFactory):
    class Meta:
        model = m.CustomExtension

    catalog = factory.SubFactory(CatalogFactory)
    display_name = factory.Sequence(lambda n: f"Extension {n}")
    endpoint_url = "https://hooks.example.com/portcullis"
    secret_encrypted = factory.LazyFunction(lambda: encrypt("extension-secret"))
    stage = m.ExtensionStage.REQUEST_CREATED
    mode = m.ExtensionMode.FIRE_AND_FORGET


class PolicyExtensionFactory(DjangoModelFactory):
    class Meta:
        model = m.PolicyExtension

    policy = factory.SubFactory(PolicyFactory)
    extension = factory.SubFactory(CustomExtensionFactory, catalog=factory.SelfAttribute("..policy.package.catalog"))


class ExtensionCallFactory(DjangoModelFactory):
    class Meta:
        model = m.ExtensionCall

    request = factory.SubFactory(RequestFactory)
    extension = factory.SubFactory(CustomExtensionFactory)
    extension_name = factory.LazyAttribute(lambda o: o.extension.display_name)
    stage = m.ExtensionStage.REQUEST_CREATED
    mode = m.ExtensionMode.FIRE_AND_FORGET


class ExtensionAttemptFactory(DjangoModelFactory):
    class Meta:
        model = m.ExtensionAttempt

    call = factory.SubFactory(ExtensionCallFactory)
    outcome = "delivered"
    status_code = 200
    message = "HTTP 200 OK"


class ChatChannelFactory(DjangoModelFactory):
    class Meta:
        model = m.ChatChannel

    catalog = factory.SubFactory(CatalogFactory)
    display_name = factory.Sequence(lambda n: f"Channel {n}")
    kind = m.ChannelKind.WEBHOOK
    url_encrypted = factory.LazyFunction(lambda: encrypt("https://chat.example.com/hooks/approvals"))
    url_hint = "https://chat.example.com/…"


class ChatMessageFactory(DjangoModelFactory):
    class Meta:
        model = m.ChatMessage

    channel = factory.SubFactory(ChatChannelFactory)
    kind = "approval_needed"
    title = "Approval needed"
    body = "Someone requests something."


class PolicyReviewerFactory(DjangoModelFactory):
    class Meta:
        model = m.PolicyReviewer

    policy = factory.SubFactory(PolicyFactory)
    kind = m.ReviewerKind.MANAGER


class AccessReviewInstanceFactory(DjangoModelFactory):
    class Meta:
        model = m.AccessReviewInstance

    policy = factory.SubFactory(PolicyFactory, review_enabled=True)
    package = factory.SelfAttribute("policy.package")
    start_at = factory.LazyFunction(timezone.now)
    end_at = factory.LazyAttribute(lambda o: o.start_at + timedelta(days=14))


class InstanceReviewerFactory(DjangoModelFactory):
    class Meta:
        model = m.InstanceReviewer

    instance = factory.SubFactory(AccessReviewInstanceFactory)
    user = factory.SubFactory(UserFactory)


class AccessReviewDecisionFactory(DjangoModelFactory):
    class Meta:
        model = m.AccessReviewDecision

    instance = factory.SubFactory(AccessReviewInstanceFactory)
    assignment = factory.SubFactory(
        AssignmentFactory,
        policy=factory.SelfAttribute("..instance.policy"),
        package=factory.SelfAttribute("..instance.package"),
    )
    target = factory.SelfAttribute("assignment.target")


class ReviewLinkFactory(DjangoModelFactory):
    class Meta:
        model = m.ReviewLink

    instance = factory.SubFactory(AccessReviewInstanceFactory)
    reviewer = factory.SubFactory(UserFactory)
    expires_at = factory.SelfAttribute("instance.end_at")


class HistogramBucketFactory(DjangoModelFactory):
    class Meta:
        model = m.HistogramBucket

    name = factory.Sequence(lambda n: f"histogram_{n}")
    le = 1.0
