"""Every URL pattern, discovered from the resolver: GET changes nothing and never answers 500;
POST without a CSRF token is refused; the API refuses a session cookie.

The patterns are not listed here: a new URL is walked automatically. Its path parameters are
filled with real objects from ``world``; a parameter nobody knows how to fill fails the test
with the pattern's name, so whoever adds the URL also says what it takes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern

from governance import models as m
from governance.services import notifications, reviews
from governance.services.api_clients import create_api_client
from tests import factories as f

pytestmark = pytest.mark.django_db

# Writes a GET may make: the session (messages, login), django-axes' bookkeeping, and an
# API token's "last used" time (authentication bookkeeping, no state of the domain).
WRITABLE_TABLES = ("django_session", "axes_")
BOOKKEEPING = re.compile(
    r'^UPDATE "governance_apiclient" SET "last_used_at" = %s WHERE "governance_apiclient"."id" = %s$'
)
API_PREFIX = "/v1.0/"


@dataclass
class Route:
    name: str  # "namespace:name", or the route itself when the pattern has no name
    parts: list[Any]  # the RoutePattern / RegexPattern of each level, outermost first
    callback: Any

    @property
    def label(self) -> str:
        return f"{self.name} ({''.join(str(p) for p in self.parts)})"


def discover() -> list[Route]:
    def walk(patterns: list[Any], parts: list[Any], namespace: str | None) -> Iterator[Route]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = namespace
                if entry.namespace:
                    inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
                yield from walk(entry.url_patterns, [*parts, entry.pattern], inner)
            elif isinstance(entry, URLPattern):
                route = "".join(str(p) for p in [*parts, entry.pattern])
                name = entry.name or route
                yield Route(f"{namespace}:{name}" if namespace else name, [*parts, entry.pattern], entry.callback)

    return list(walk(get_resolver().url_patterns, [], None))


# --- Filling parameters -----------------------------------------------------------------

# (name prefix, parameter) -> the world's object; the longest matching prefix wins.
PARAMETERS: dict[str, dict[str, str]] = {
    "connectors:": {"pk": "connector"},
    "api_clients:": {"pk": "api_client"},
    "identity:lifecycle": {"pk": "organization"},
    "governance:catalog_": {"pk": "catalog", "role_pk": "catalog_role", "resource_pk": "resource"},
    "governance:package_": {"pk": "package", "role_pk": "resource_role", "instance_pk": "review_instance"},
    "governance:policy_": {"pk": "package", "policy_pk": "policy"},
    "governance:assignment_create": {"pk": "package"},
    "governance:request_": {"pk": "request"},
    "governance:assignment_": {"pk": "assignment"},
    "governance:organization_": {"pk": "organization"},
    "governance:person_": {"pk": "user"},
    "governance:resource_": {"pk": "resource"},
    "governance:bulk_reprocess_": {"pk": "bulk_reprocess"},
    "governance:incompatible_": {"pk": "package", "other_pk": "package", "group_pk": "group"},
    "governance:extension_": {"pk": "catalog", "extension_pk": "extension"},
    "governance:chat_channel_": {"pk": "catalog", "channel_pk": "chat_channel"},
    "myaccess:": {
        "package_id": "package",
        "assignment_id": "assignment",
        "request_id": "request",
        "email_id": "email",
        "token": "approval_token",
        "instance_id": "review_instance",
    },
    "myaccess:review_link": {"instance_id": "review_instance", "token": "review_token"},
    "api-catalog": {"pk": "catalog"},
    "api-resource": {"pk": "resource"},
    "api-package": {"pk": "package"},
    "api-scope": {"pk": "package", "scope_id": "scope"},
    "api-policy": {"pk": "policy"},
    "api-request": {"pk": "request", "on": "target"},
    "api-assignment": {"pk": "assignment", "on": "target"},
    "api-approval": {"pk": "request", "stage_id": "stage", "on": "approver"},
    "api-organization": {"pk": "organization"},
    "api-review": {
        "definition_id": "policy",
        "instance_id": "review_instance",
        "pk": "review_decision",
        "on": "reviewer",
    },
    "api-user": {"pk": "user"},
    "api-group": {"pk": "group"},
    "api-incompatible": {"pk": "package", "other": "package", "group": "group"},
    "api-packages-incompatible-with": {"pk": "package"},
    # Catch-alls: any path at all.
    "admin:": {"app_label": "governance", "url": "nothing-here/"},
    "v1.0/": {"path": "nothing/here"},
}


def value_for(route: Route, parameter: str, world: dict[str, Any]) -> str | None:
    model = admin_model(route)
    if parameter in ("object_id", "id") and model is not None:
        first = model._default_manager.order_by("pk").first()
        return None if first is None else str(first.pk)
    if route.name == "admin:view_on_site":
        catalog_type = ContentType.objects.get_for_model(m.Catalog)
        return {"content_type_id": str(catalog_type.pk), "object_id": str(world["catalog"].pk)}.get(parameter)
    prefixes = sorted((p for p in PARAMETERS if route.name.startswith(p)), key=len, reverse=True)
    for prefix in prefixes:
        key = PARAMETERS[prefix].get(parameter)
        if key is not None:
            value = world.get(key, key)
            return str(getattr(value, "pk", value))
    return None


def admin_model(route: Route) -> Any:
    """The model of a Django admin page, from its route ("django-admin/governance/catalog/...")."""
    if not route.name.startswith("admin:"):
        return None
    for model in admin.site._registry:
        if any(str(part) == f"{model._meta.app_label}/{model._meta.model_name}/" for part in route.parts):
            return model
    return None


ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<parameter>[^>]+)>")


def regex_fill(regex: str, fill: Any) -> str:
    """Replace each (?P<name>...) group (balanced parentheses) by its value, then unescape."""
    out, i = [], 0
    while i < len(regex):
        if regex.startswith("(?P<", i):
            end_name = regex.index(">", i)
            name = regex[i + 4 : end_name]
            depth, j = 1, end_name + 1
            while depth:
                if regex[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(regex[j], 0)
                j += 1
            out.append(fill(name))
            i = j
        else:
            out.append(regex[i])
            i += 1
    text = "".join(out).removeprefix("^").removesuffix("$")
    return re.sub(r"\\(.)", r"\1", text)


class Unfillable(Exception):
    pass


def url_for(route: Route, world: dict[str, Any]) -> str:
    def fill(parameter: str) -> str:
        value = value_for(route, parameter, world)
        if value is None:
            raise Unfillable(f"{route.label}: no value for <{parameter}>; add it to PARAMETERS")
        return value

    path = ""
    for part in route.parts:
        if isinstance(part, RoutePattern):
            path += ROUTE_PARAMETER.sub(lambda match: fill(match["parameter"]), str(part))
        elif isinstance(part, RegexPattern):
            path += regex_fill(part.regex.pattern, fill)
        else:  # pragma: no cover - LocalePrefixPattern and friends are not used here
            raise Unfillable(f"{route.label}: unknown pattern type {type(part).__name__}")
    url = "/" + path
    if resolve(url).func is not route.callback:
        raise Unfillable(f"{route.label}: {url} resolves to another view")
    return url


# --- The objects every parameter points at ------------------------------------------------


@pytest.fixture
def world(admin, requestor, catalog, contoso, make_package) -> dict[str, Any]:
    admin.is_staff = admin.is_superuser = True  # the Django admin's pages render too
    admin.save()
    package = make_package(approvers=[admin])
    policy = package.policies.get()
    stage = policy.stages.get()
    scope = m.PackageResourceRole.objects.filter(package=package).select_related("resource_role__resource").get()
    request = f.RequestFactory(policy=policy, target=requestor, current_stage=1)
    assignment = f.AssignmentFactory(policy=policy, target=admin)
    grant = f.RoleGrantFactory(assignment=assignment, resource_role=scope.resource_role, state=m.GrantState.FAILED)
    f.DeliveryAttemptFactory(grant=grant)
    f.ApprovalDecisionFactory(request=f.RequestFactory(policy=policy, state=m.RequestState.DENIED))
    f.RoleOperationFactory(package=package, resource_role=scope.resource_role)
    f.ExpiryReminderFactory(assignment=assignment)
    f.AuditEventFactory()
    review_decision = f.AccessReviewDecisionFactory(instance__policy=policy, instance__package=package)
    review = review_decision.instance
    Group.objects.create(name="Helpdesk")
    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        fields = {field.name for field in model._meta.fields}
        extra = {"failures_since_start": 1} if "failures_since_start" in fields else {}
        model.objects.create(username="somebody", ip_address="192.0.2.1", user_agent="test", path_info="/", **extra)
    return {
        "admin": admin,
        "catalog": catalog,
        "catalog_role": f.CatalogRoleFactory(catalog=catalog, user=f.UserFactory()),
        "package": package,
        "policy": policy,
        "stage": stage,
        "scope": scope,
        "resource_role": scope.resource_role,
        "resource": scope.resource_role.resource,
        "request": request,
        "assignment": assignment,
        "connector": f.ConnectorFactory(),
        "organization": contoso,
        "bulk_reprocess": f.BulkReprocessFactory(actor=admin),
        "api_client": f.ApiClientFactory(),
        "user": requestor,
        "group": f.DirectoryGroupFactory(),
        "extension": f.CustomExtensionFactory(catalog=catalog),
        "chat_channel": f.ChatChannelFactory(catalog=catalog),
        "email": f.OutboundEmailFactory(recipient=admin, body_html='<p style="color:red">Hello</p>'),
        "approval_token": notifications.issue_link(request, admin),
        "review_instance": review,
        "review_decision": review_decision,
        "review_token": reviews.issue_link(review, admin),
        # The API's global administrator: the walk sends it along to every URL as admin.
        "bearer": "Bearer " + create_api_client(None, "url-walk", role="global_admin").token,
        "target": "target",
        "approver": "approver",
        "reviewer": "reviewer",
    }


@pytest.fixture
def urls(world) -> list[tuple[Route, str]]:
    found, problems = [], []
    for route in discover():
        try:
            found.append((route, url_for(route, world)))
        except Unfillable as exc:
            problems.append(str(exc))
    assert not problems, "URL patterns the walk cannot fill:\n" + "\n".join(problems)
    return found


# --- Watching the database ------------------------------------------------------------------

WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?([\w.]+)"?', re.IGNORECASE)


class WriteRecorder:
    """Notes every INSERT/UPDATE/DELETE outside the session and axes tables."""

    def __init__(self) -> None:
        self.current = ""
        self.writes: list[str] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        match = WRITE.match(sql)
        if match and not match[1].startswith(WRITABLE_TABLES) and not BOOKKEEPING.match(sql.strip()):
            self.writes.append(f"{self.current}: {sql[:160]}")
        return execute(sql, params, many, context)


def fetch(client: Client, method: str, url: str, **extra: Any) -> tuple[int, str]:
    """The status, or the exception a view raised (which a server would answer 500)."""
    try:
        response = getattr(client, method)(url, **extra)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)  # a CSV download fails while streaming
    except Exception as exc:  # noqa: BLE001 - any exception is the finding
        return 500, f"{type(exc).__name__}: {exc}"
    return response.status_code, ""


def walk(
    client: Client, method: str, urls: list[tuple[Route, str]], **extra: Any
) -> tuple[dict[str, int], list[str], list[str]]:
    recorder = WriteRecorder()
    statuses: dict[str, int] = {}
    errors: list[str] = []
    with connection.execute_wrapper(recorder):
        for route, url in urls:
            recorder.current = f"{method.upper()} {url}"
            status, error = fetch(client, method, url, **extra)
            statuses[url] = status
            if status == 500:
                errors.append(f"{method.upper()} {route.label} -> 500 {error}")
    return statuses, errors, recorder.writes


def test_every_pattern_is_walked(urls):
    names = {route.name for route, _ in urls}
    # Each area is present: a resolver change that hid one would shrink the walk silently.
    for expected in ("governance:dashboard", "myaccess:approval_link", "api-request-cancel", "admin:index", "login"):
        assert expected in names
    assert len(urls) > 150


def test_get_as_global_admin_changes_nothing_and_never_fails(client, world, urls, settings):
    settings.DEBUG = True  # the development mailbox's pages answer too
    client.force_login(world["admin"])
    statuses, errors, writes = walk(client, "get", urls, HTTP_AUTHORIZATION=world["bearer"])
    assert not errors, "\n".join(errors)
    assert not writes, "GET changed the database:\n" + "\n".join(writes)
    # The walk reached the pages, not a wall of redirects and 404s.
    reached = [url for url, status in statuses.items() if status == 200]
    assert len(reached) > len(urls) // 2, statuses


@pytest.mark.parametrize("kind", ["real", "junk", "nul"])
def test_get_with_action_and_junk_parameters_changes_nothing_and_never_fails(client, world, urls, settings, kind):
    """The parameters the views read, with real ids and with junk: still read-only, still no 500."""
    settings.DEBUG = True
    client.force_login(world["admin"])
    real = {
        "ids": [str(world["request"].pk), str(world["assignment"].pk)],
        "enabled": "0",
        "decision": "approve",
        "justification": "walk",
        "confirm": "1",
        "kind": "ldap",
        "status": "all",
        "view": "history",
        "resource": str(world["resource"].pk),
        "catalog": str(world["catalog"].pk),
        "policy": str(world["policy"].pk),
        "submitted": "1",
        "next": "/",
        "name": "users",
    }
    junk = {
        "page": "-1x",
        "sort": "')--",
        "state": "nope",
        "q": "a\x00b",
        "to": "\x00",
        "start": "2026-13-45",
        "ids": "not-a-uuid",
        "catalog": "not-a-uuid",
        "resource": "00000000-0000-0000-0000-000000000000",
        "error": "access_denied",
        "$filter": "id eq '",
        "$top": "-5",
    }
    params = {"real": real, "junk": junk, "nul": dict.fromkeys({*real, *junk}, "x\x00y")}[kind]
    _, errors, writes = walk(client, "get", urls, data=params, HTTP_AUTHORIZATION=world["bearer"])
    assert not errors, "\n".join(errors)
    assert not writes, "GET changed the database:\n" + "\n".join(writes)


def test_get_anonymously_changes_nothing_and_never_fails(client, world, urls):
    statuses, errors, writes = walk(client, "get", urls)
    assert not errors, "\n".join(errors)
    assert not writes, "GET changed the database:\n" + "\n".join(writes)
    # Nothing of the portal is shown to a stranger (sign-in, health and the API docs excepted;
    # /metrics answers the test client only because it calls from loopback: tests/portal/test_metrics.py).
    public = {"/accounts/login/", "/django-admin/login/", "/healthz", "/api/schema/", "/api/docs/", "/metrics"}
    shown = [
        url
        for url, status in statuses.items()
        if status == 200 and url not in public and not url.startswith(API_PREFIX)
    ]
    assert not shown, shown


def test_post_without_csrf_token_is_refused(world, urls):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["admin"])
    statuses, errors, writes = walk(client, "post", urls, data={})
    assert not errors, "\n".join(errors)
    assert not writes, "POST without a CSRF token changed the database:\n" + "\n".join(writes)
    # 403 from the CSRF check; 405 only from views that accept no POST at all.
    accepted = {
        url: status for url, status in statuses.items() if not url.startswith(API_PREFIX) and status not in (403, 405)
    }
    assert not accepted, accepted


def test_api_refuses_a_session_cookie(world, urls):
    """/v1.0/ authenticates bearer tokens only: a signed-in browser's cookie cannot act there."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["admin"])
    api = [(route, url) for route, url in urls if url.startswith(API_PREFIX)]
    assert api
    for method in ("post", "patch", "delete"):
        statuses, errors, writes = walk(client, method, api, data="{}", content_type="application/json")
        assert not errors, "\n".join(errors)
        assert not writes, f"{method.upper()} with only a session cookie changed the database:\n" + "\n".join(writes)
        allowed = {url: status for url, status in statuses.items() if status not in (401, 403, 404, 405)}
        assert not allowed, allowed


def test_the_recorder_sees_writes(client, world):
    """The walk's watcher is not blind: a real change through a view is noted."""
    client.force_login(world["admin"])
    recorder = WriteRecorder()
    with connection.execute_wrapper(recorder):
        package, policy = world["package"], world["policy"]
        response = client.post(f"/governance/packages/{package.pk}/policies/{policy.pk}/enabled/", {"enabled": "0"})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert not policy.enabled
    assert any("governance_assignmentpolicy" in write for write in recorder.writes), recorder.writes
