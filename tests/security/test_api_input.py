"""DESIGN §11: the API takes exactly the portal's limits on every field, and every malformed
input (query options, JSON depth, numbers out of range, invalid Unicode, control characters in
names) is a 400 with a Graph error, never a 500, and writes nothing.

Each payload below is its own case; the ones from issue 13 answered 500 (or were accepted)
before the fix. Some only bite on PostgreSQL (a NUL or a lone surrogate reaching a query), so
CI runs this module there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client

from governance import models as m
from governance.api.odata import encode_skiptoken
from governance.services.requests import submit_request
from governance.services.text import MAX_NAME, MAX_TEXT
from tests import factories as f
from tests.api.conftest import EM, Answer, Api, ApiMaker
from tests.conftest import PackageMaker, snapshot

pytestmark = pytest.mark.django_db


@dataclass
class World:
    admin: Api
    requestor: Api
    approver: Api
    catalog: m.Catalog
    package: m.AccessPackage
    policy: m.AssignmentPolicy
    direct_policy: m.AssignmentPolicy
    pending: m.AssignmentRequest
    organization: m.ConnectedOrganization
    group: m.DirectoryGroup
    newcomer: m.User


@pytest.fixture
def world(
    api_as: ApiMaker, catalog: m.Catalog, make_package: PackageMaker, requestor: m.User, approver: m.User,
    contoso: m.ConnectedOrganization,
) -> World:  # fmt: skip
    package = make_package(name="Developer tools", allow_custom_schedule=True)
    policy = package.policies.get()
    direct = f.PolicyFactory(package=package, allowed_target_scope=m.TargetScope.NO_ONE, display_name="Direct")
    approved = make_package(name="Production", approvers=[approver], allow_extension=True)
    pending = submit_request(f.UserFactory(username="waiting"), approved.pk, justification="on call")
    return World(
        admin=api_as(role="global_admin"),
        requestor=api_as(user=requestor),
        approver=api_as(user=approver),
        catalog=catalog,
        package=package,
        policy=policy,
        direct_policy=direct,
        pending=pending,
        organization=contoso,
        group=f.DirectoryGroupFactory(display_name="Engineers"),
        newcomer=f.UserFactory(username="newcomer"),
    )


def refused(answer: Answer, target: str | None = None) -> dict[str, Any]:
    """A Graph 400: code, message, innerError with the date and the request id."""
    assert answer.status == 400, (answer.status, answer.body)
    error = answer.error
    assert error["code"], error
    assert error["message"], error
    assert set(error["innerError"]) >= {"date", "request-id"}, error
    assert answer.headers["request-id"] == error["innerError"]["request-id"]
    if target is not None:
        assert error.get("target") == target, error
    return error


# --- Query options ---------------------------------------------------------------------------

NESTED = "(" * 467 + "displayName eq 'x'" + ")" * 467

QUERY_OPTIONS: dict[str, dict[str, str]] = {
    "$top is a Unicode digit": {"$top": "²"},
    "$top in Arabic-Indic digits": {"$top": "٣"},
    "$top of 5,000 digits": {"$top": "9" * 5000},
    "$top beyond a 32-bit integer": {"$top": str(2**31)},
    "$skiptoken beyond bigint": {"$skiptoken": encode_skiptoken(2**64)},
    "$skiptoken of 5,000 digits": {"$skiptoken": encode_skiptoken(int("9" * 4000))},
    "NUL in a $filter string": {"$filter": "displayName eq 'a\x00b'"},
    "NUL in a contains() string": {"$filter": "contains(displayName,'\x00')"},
    "467 nested parentheses in $filter": {"$filter": NESTED},
}


def get(api: Api, path: str, params: dict[str, str]) -> Answer:
    """A GET whose query string is encoded as a browser would (UTF-8, percent-escaped)."""
    url = path if path.startswith("/") else f"{EM}/{path}"
    query = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in params.items())
    return api.call("GET", f"{url}?{query}")


@pytest.mark.parametrize("params", QUERY_OPTIONS.values(), ids=QUERY_OPTIONS.keys())
def test_malformed_query_options_are_400(world: World, params: dict[str, str]) -> None:
    refused(get(world.admin, "accessPackages", params), target=next(iter(params)))


COLLECTIONS = [
    "catalogs",
    "resources",
    "accessPackages",
    "assignmentPolicies",
    "assignmentRequests",
    "assignments",
    "connectedOrganizations",
    "/v1.0/users",
    "/v1.0/groups",
]


def test_every_collection_reads_query_options_the_same_way(world: World, subtests: Any) -> None:
    for path in COLLECTIONS:
        for name, params in QUERY_OPTIONS.items():
            with subtests.test(path=path, payload=name):
                refused(get(world.admin, path, params))


def test_filters_nested_a_little_still_work(world: World) -> None:
    nested = "(" * 20 + "displayName eq 'developer tools'" + ")" * 20
    answer = get(world.admin, "accessPackages", {"$filter": nested})
    assert answer.status == 200, answer.body
    assert [p["displayName"] for p in answer.body["value"]] == ["Developer tools"]


def test_a_large_top_is_still_capped_not_refused(world: World) -> None:
    answer = get(world.admin, "accessPackages", {"$top": "999999"})
    assert answer.status == 200, answer.body


# --- Bodies ----------------------------------------------------------------------------------


def post_raw(api: Api, path: str, body: str | bytes, method: str = "post") -> Answer:
    response = getattr(api.client, method)(
        f"{EM}/{path}", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.token}"
    )
    return Answer(response.status_code, json.loads(response.content) if response.content else None, response.headers)


def deep(depth: int, leaf: str = '"x"') -> str:
    return "[" * depth + leaf + "]" * depth


def test_a_json_body_nested_100000_deep_is_400(world: World) -> None:
    before = snapshot()
    refused(post_raw(world.admin, "catalogs", deep(100_000)))
    assert snapshot() == before


def test_a_json_object_nested_100000_deep_is_400(world: World) -> None:
    refused(post_raw(world.admin, "catalogs", '{"a":' * 100_000 + "1" + "}" * 100_000))


def test_json_nested_past_the_limit_inside_a_real_body_is_400(world: World) -> None:
    body = f'{{"displayName": "Sales", "description": {deep(64)}}}'
    error = refused(post_raw(world.admin, "catalogs", body))
    assert "nested" in error["message"]


def test_json_nested_within_the_limit_is_read(world: World) -> None:
    """63 levels inside the body's object: parsed, then refused for what it is (not a string)."""
    body = f'{{"displayName": "Sales", "description": {deep(62)}}}'
    error = refused(post_raw(world.admin, "catalogs", body), target="description")
    assert "must be a string" in error["message"]


def test_a_body_past_the_upload_limit_is_413_unread(world: World, settings: Any) -> None:
    """DRF's parser read any body whole; ours stops at Django's DATA_UPLOAD_MAX_MEMORY_SIZE."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    answer = post_raw(world.admin, "catalogs", json.dumps({"displayName": "Sales", "description": "d" * 20_000}))
    assert answer.status == 413, answer.body
    assert answer.error["code"] == "requestEntityTooLarge"
    assert not m.Catalog.objects.filter(display_name="Sales").exists()


def test_a_number_of_5000_digits_in_a_body_is_400(world: World) -> None:
    refused(post_raw(world.admin, "catalogs", '{"displayName": ' + "9" * 5000 + "}"))


def test_invalid_utf8_in_a_body_is_400(world: World) -> None:
    refused(post_raw(world.admin, "catalogs", b'{"displayName": "\xff\xfe"}'))


def _user_add(world: World, **extra: Any) -> Answer:
    return world.requestor.post(
        "assignmentRequests",
        {
            "requestType": "userAdd",
            "assignment": {"accessPackageId": str(world.package.pk), "assignmentPolicyId": str(world.policy.pk)},
            **extra,
        },
    )


def _admin_add(world: World, **extra: Any) -> Answer:
    return world.admin.post(
        "assignmentRequests",
        {
            "requestType": "adminAdd",
            "assignment": {
                "targetId": str(world.newcomer.pk),
                "assignmentPolicyId": str(world.direct_policy.pk),
                "accessPackageId": str(world.package.pk),
            },
            **extra,
        },
    )


def _policy(world: World, **extra: Any) -> Answer:
    return world.admin.post(
        "assignmentPolicies",
        {
            "displayName": "Contractors",
            "allowedTargetScope": "allMemberUsers",
            "accessPackage": {"id": str(world.package.pk)},
            **extra,
        },
    )


def _stage(duration: str) -> dict[str, Any]:
    return {
        "requestApprovalSettings": {
            "isApprovalRequiredForAdd": True,
            "stages": [
                {
                    "durationBeforeAutomaticDenial": duration,
                    "primaryApprovers": [{"@odata.type": "#microsoft.graph.requestorManager"}],
                }
            ],
        }
    }


def _schedule(duration: str) -> dict[str, Any]:
    return {"schedule": {"expiration": {"type": "afterDuration", "duration": duration}}}


BODIES: dict[str, tuple[Callable[[World], Answer], str | None]] = {
    "lone surrogate in a request's justification": (lambda w: _user_add(w, justification="x\ud800"), "justification"),
    "lone surrogate in an adminAdd justification": (lambda w: _admin_add(w, justification="\udfff"), "justification"),
    "lone surrogate in a catalog's name": (lambda w: w.admin.post("catalogs", {"displayName": "x\ud800"}), None),
    "lone surrogate in a property name": (lambda w: w.admin.post("catalogs", {"displayName": "S", "\ud800": 1}), None),
    "lone surrogate in an approval's justification": (
        lambda w: w.approver.patch(
            f"accessPackageAssignmentApprovals/{w.pending.pk}/stages/{w.pending.policy.stages.get().pk}",
            {"reviewResult": "Approve", "justification": "\ud800"},
        ),
        "justification",
    ),
    "2,000,000-character justification": (lambda w: _user_add(w, justification="x" * 2_000_000), "justification"),
    "P999999999D as a request's schedule": (
        lambda w: _user_add(w, **_schedule("P999999999D")),
        "schedule.expiration.duration",
    ),
    "PT99999999999H as a request's schedule": (
        lambda w: _user_add(w, **_schedule("PT99999999999H")),
        "schedule.expiration.duration",
    ),
    "P999999999D as an adminAdd schedule": (
        lambda w: _admin_add(w, **_schedule("P999999999D")),
        "schedule.expiration.duration",
    ),
    "a schedule of 5,000 digits": (lambda w: _user_add(w, **_schedule(f"P{'9' * 5000}D")), None),
    "a duration in Arabic-Indic digits": (lambda w: _user_add(w, **_schedule("P٣D")), None),
    "a start at the end of time plus a duration": (
        lambda w: _user_add(w, schedule={"startDateTime": "9999-12-31T23:00:00Z", "expiration": {"duration": "P2D"}}),
        None,
    ),
    "a start before year 1 in UTC": (
        lambda w: _user_add(w, schedule={"startDateTime": "0001-01-01T00:00:00+23:00"}),
        None,
    ),
    "an end past year 9999 in UTC": (
        lambda w: _user_add(w, schedule={"expiration": {"endDateTime": "9999-12-31T23:59:59-23:00"}}),
        None,
    ),
    "P999999999D as a policy's expiration": (
        lambda w: _policy(w, expiration={"type": "afterDuration", "duration": "P999999999D"}),
        None,
    ),
    "PT99999999999H as a policy's expiration": (
        lambda w: _policy(w, expiration={"type": "afterDuration", "duration": "PT99999999999H"}),
        None,
    ),
    "a policy expiration of 5,000 digits": (
        lambda w: _policy(w, expiration={"type": "afterDuration", "duration": f"PT{'9' * 5000}H"}),
        None,
    ),
    "P999999999D before automatic denial": (lambda w: _policy(w, **_stage("P999999999D")), None),
    "a stage duration of 5,000 digits": (lambda w: _policy(w, **_stage(f"P{'9' * 5000}D")), None),
    "257-character policy displayName": (lambda w: _policy(w, displayName="p" * 257), "displayName"),
    "a NUL in a resource's originId": (
        lambda w: w.admin.post(
            "resourceRequests",
            {"requestType": "adminRemove", "resource": {"originId": "a\x00"}, "catalog": {"id": str(w.catalog.pk)}},
        ),
        "resource.originId",
    ),
    "a NUL in a role's originId": (
        lambda w: w.admin.post(
            f"accessPackages/{w.package.pk}/resourceRoleScopes",
            {"role": {"originId": "\x00", "resource": {"originId": "x"}}},
        ),
        "role.originId",
    ),
}


@pytest.mark.parametrize("case", BODIES.values(), ids=BODIES.keys())
def test_malformed_bodies_are_400_and_write_nothing(world: World, case: tuple[Callable[[World], Answer], str]) -> None:
    call, target = case
    before = snapshot()
    refused(call(world), target)
    assert snapshot() == before


# --- The portal's limits, field by field -------------------------------------------------------

Field = Callable[[World, str], Answer]

NAMES: dict[str, Field] = {
    "catalog displayName": lambda w, v: w.admin.post("catalogs", {"displayName": v}),
    "catalog displayName (PATCH)": lambda w, v: w.admin.patch(f"catalogs/{w.catalog.pk}", {"displayName": v}),
    "package displayName": lambda w, v: w.admin.post(
        "accessPackages", {"displayName": v, "catalog": {"id": str(w.catalog.pk)}}
    ),
    "package displayName (PATCH)": lambda w, v: w.admin.patch(f"accessPackages/{w.package.pk}", {"displayName": v}),
    "policy displayName": lambda w, v: _policy(w, displayName=v),
    "policy displayName (PATCH)": lambda w, v: w.admin.patch(f"assignmentPolicies/{w.policy.pk}", {"displayName": v}),
    "organization displayName": lambda w, v: w.admin.post(
        "connectedOrganizations",
        {"displayName": v, "identitySources": [{"domainName": "fabrikam.example"}]},
    ),
    "organization displayName (PATCH)": lambda w, v: w.admin.patch(
        f"connectedOrganizations/{w.organization.pk}", {"displayName": v}
    ),
    "resource displayName": lambda w, v: w.admin.post(
        "resourceRequests",
        {
            "requestType": "adminAdd",
            "resource": {"originId": str(w.group.pk), "displayName": v},
            "catalog": {"id": str(w.catalog.pk)},
        },
    ),
}

TEXTS: dict[str, Field] = {
    "catalog description": lambda w, v: w.admin.post("catalogs", {"displayName": "Sales", "description": v}),
    "package description": lambda w, v: w.admin.patch(f"accessPackages/{w.package.pk}", {"description": v}),
    "policy description": lambda w, v: _policy(w, description=v),
    "organization description": lambda w, v: w.admin.patch(
        f"connectedOrganizations/{w.organization.pk}", {"description": v}
    ),
    "resource description": lambda w, v: w.admin.post(
        "resourceRequests",
        {
            "requestType": "adminAdd",
            "resource": {"originId": str(w.group.pk), "description": v},
            "catalog": {"id": str(w.catalog.pk)},
        },
    ),
    "userAdd justification": lambda w, v: _user_add(w, justification=v),
    "adminAdd justification": lambda w, v: _admin_add(w, justification=v),
    "approval justification": lambda w, v: w.approver.patch(
        f"accessPackageAssignmentApprovals/{w.pending.pk}/stages/{w.pending.policy.stages.get().pk}",
        {"reviewResult": "Deny", "justification": v},
    ),
}


def _property(case: str) -> str:
    return case.split(" (")[0].split()[-1]


@pytest.mark.parametrize("case", NAMES)
def test_a_name_past_the_portal_limit_is_400_and_at_it_taken(world: World, case: str) -> None:
    before = snapshot()
    error = refused(NAMES[case](world, "n" * (MAX_NAME + 1)), target=_property(case))
    assert f"at most {MAX_NAME}" in error["message"]
    assert snapshot() == before
    answer = NAMES[case](world, "n" * MAX_NAME)
    assert answer.status in {200, 201, 202, 204}, answer.body


@pytest.mark.parametrize("case", TEXTS)
def test_a_text_past_the_portal_limit_is_400_and_at_it_taken(world: World, case: str) -> None:
    before = snapshot()
    error = refused(TEXTS[case](world, "t" * (MAX_TEXT + 1)), target=_property(case))
    assert f"at most {MAX_TEXT:,}" in error["message"]
    assert snapshot() == before
    answer = TEXTS[case](world, "t" * MAX_TEXT)
    assert answer.status in {200, 201, 202, 204}, answer.body


# A carriage return or newline in a name stopped every email about it (a header cannot hold
# one); the rest are as invisible and as unwelcome in a name.
CONTROL_CHARACTERS = {
    "CR": "\r",
    "LF": "\n",
    "CRLF header injection": "\r\nBcc: attacker@example.com",
    "tab": "\t",
    "ESC": "\x1b",
    "DEL": "\x7f",
    "C1 NEL": "\x85",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
}


@pytest.mark.parametrize("char", CONTROL_CHARACTERS.values(), ids=CONTROL_CHARACTERS.keys())
def test_a_control_character_in_any_name_is_400(world: World, char: str, subtests: Any) -> None:
    for case, call in NAMES.items():
        with subtests.test(field=case):
            before = snapshot()
            error = refused(call(world, f"Tools{char}Admin"), target=_property(case))
            assert "control character" in error["message"]
            assert snapshot() == before


@pytest.mark.parametrize("char", ["\x1b", "\x07", "\x7f", "\x9b", "\x0b"], ids=["ESC", "BEL", "DEL", "CSI", "VT"])
def test_a_control_character_in_any_text_is_400(world: World, char: str, subtests: Any) -> None:
    for case, call in TEXTS.items():
        with subtests.test(field=case):
            error = refused(call(world, f"be{char}cause"), target=_property(case))
            assert "control character" in error["message"]


def test_every_text_may_have_lines_and_tabs(world: World, subtests: Any) -> None:
    for case, call in TEXTS.items():
        with subtests.test(field=case):
            answer = call(world, "First line\r\nSecond\tline\u2028third\n")
            assert answer.status in {200, 201, 202, 204}, answer.body


def test_a_clean_name_with_emoji_and_joiners_is_taken(world: World) -> None:
    answer = world.admin.post("catalogs", {"displayName": "Family 👩‍👩‍👧‍👦 ﷺ"})
    assert answer.status == 201, answer.body


# --- The schema states the limits --------------------------------------------------------------


def test_the_schema_states_every_writable_text_limit(client: Client) -> None:
    document = client.get("/api/schema/?format=json").json()
    schema = document["components"]["schemas"]
    expected = {
        ("CatalogInput", "displayName"): MAX_NAME,
        ("CatalogInput", "description"): MAX_TEXT,
        ("AccessPackageInput", "displayName"): MAX_NAME,
        ("AccessPackageInput", "description"): MAX_TEXT,
        ("AssignmentPolicyInput", "displayName"): MAX_NAME,
        ("AssignmentPolicyInput", "description"): MAX_TEXT,
        ("ConnectedOrganizationInput", "displayName"): MAX_NAME,
        ("ConnectedOrganizationInput", "description"): MAX_TEXT,
        ("ResourceRequestResource", "displayName"): MAX_NAME,
        ("ResourceRequestResource", "description"): MAX_TEXT,
        ("AssignmentRequestInput", "justification"): MAX_TEXT,
        ("PatchedApprovalStageInput", "justification"): MAX_TEXT,
    }
    found = {key: schema[key[0]]["properties"][key[1]].get("maxLength") for key in expected}
    assert found == expected
    # Every other string a client writes, in any request body, has a bound too.
    unbounded = [
        f"{name}.{prop}"
        for name in _request_components(document)
        for prop, spec in schema[name].get("properties", {}).items()
        if spec.get("type") == "string" and "maxLength" not in spec and spec.get("format") not in {"uuid", "date-time"}
    ]
    assert not unbounded


def _request_components(document: dict[str, Any]) -> set[str]:
    """The components a request body refers to, directly or nested."""
    seen: set[str] = set()
    pending: list[Any] = [
        operation.get("requestBody", {}) for path in document["paths"].values() for operation in path.values()
    ]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/") and (name := ref.rsplit("/", 1)[1]) not in seen:
                seen.add(name)
                pending.append(document["components"]["schemas"][name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return seen
