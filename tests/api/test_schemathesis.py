"""Property-based: every operation of the OpenAPI schema, fed generated input, never answers
5xx, and every answer matches the schema (status codes, content types, bodies).

Generated strings take any Unicode character a request can carry, NUL included; hooks add
what the generator cannot reach (DESIGN §11): lone surrogates (JSON's \\ud800 escape), JSON
nested past the API's limit, numbers in Unicode digits or thousands of digits, names with
control characters, texts at and past the portal's limits, and the query options that once
answered 500.
The schema's own validity is tests/api/test_openapi_schema.py.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from governance import models as m
from governance.services.api_clients import create_api_client
from governance.services.requests import submit_request
from tests import factories as f
from tests.fuzz.strategies import (
    CONTROL_IN_NAMES,
    DEEP_JSON,
    DURATIONS,
    HUGE_NUMBERS,
    LONE_SURROGATES,
    OVERLONG,
    QUERY_OPTIONS,
    UNICODE_DIGITS,
)

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(autouse=True)
def _keep_the_test_transaction() -> Iterator[None]:
    """As Django's test client does: the test's transaction must survive each WSGI call."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(db: None) -> str:
    catalog = f.CatalogFactory(display_name="Engineering")
    approver = f.UserFactory(username="approver")
    requestor = f.UserFactory(username="requestor", manager=approver)
    policy = f.PolicyFactory(
        package__catalog=catalog, allowed_target_scope=m.TargetScope.ALL_MEMBERS, requires_approval=True
    )
    stage = f.ApprovalStageFactory(policy=policy)
    f.StageApproverFactory(stage=stage, user=approver)
    f.PackageResourceRoleFactory(package=policy.package, resource_role__resource__catalog=catalog)
    f.AssignmentFactory(policy=policy)
    submit_request(requestor, policy.package_id, policy_id=policy.pk)
    f.OrganizationDomainFactory()
    return create_api_client(None, "fuzzer", role="global_admin").token


@pytest.fixture
def narrow_token(token: str) -> str:
    """A reader of another catalog: most objects are 404 to it and every change is refused."""
    f.CatalogFactory(display_name="Finance")
    return create_api_client(None, "narrow-fuzzer", role="catalog_reader", catalog_name="Finance").token


# Loaded when the module is collected (the schema needs no database).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
# Schemathesis 4's defaults, said out loud: NUL in strings, and every character UTF-8 encodes.
schema.config.generation.update(allow_x00=True, codec="utf-8")
# The narrow token's test is about its refusals, which generated requests meet at once. The
# coverage phase's boundary values (~44 of ~49 requests per operation) are the wide token's
# test's business: here they only asked the same 403 and 404 again.
# The same schema, loaded from the text already fetched (not generated again), with a config of its own.
narrow_schema = schemathesis.openapi.from_dict(copy.deepcopy(schema.raw_schema))
narrow_schema.app, narrow_schema.location = schema.app, schema.location
narrow_schema.config.generation.update(allow_x00=True, codec="utf-8")
narrow_schema.config.phases.update(phases=["examples", "fuzzing"])

ODD_VALUES = st.one_of(LONE_SURROGATES, CONTROL_IN_NAMES, UNICODE_DIGITS, HUGE_NUMBERS, DURATIONS, OVERLONG, DEEP_JSON)


def _positions(body: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where a value sits in a JSON body: every property and item, nested ones too."""
    items = body.items() if isinstance(body, dict) else enumerate(body) if isinstance(body, list) else ()
    for key, value in items:
        yield (*path, key)
        yield from _positions(value, (*path, key))


def _with(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


@narrow_schema.hook
@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """Now and then one value of the generated body becomes one of the odd ones."""
    positions = list(_positions(body))
    if not positions:
        return st.just(body)
    odd = st.tuples(st.sampled_from(positions), ODD_VALUES).map(lambda change: _with(body, *change))
    return st.one_of(st.just(body), odd)


@narrow_schema.hook
@schema.hook
def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    """Now and then the query string carries one of the options that once answered 500."""
    return st.one_of(st.just(query), QUERY_OPTIONS.map(lambda odd: {**(query or {}), **odd}))


@pytest.mark.fuzz
@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI must not flicker
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_answers_match_the_schema(case: Any, token: str, settings: Any) -> None:
    call_and_check(case, token, settings)


@pytest.mark.fuzz
@narrow_schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_a_narrow_token_gets_documented_refusals(case: Any, narrow_token: str, settings: Any) -> None:
    """The 403s and 404s a narrower client meets are in the schema too, never a 500."""
    call_and_check(case, narrow_token, settings)


def call_and_check(case: Any, token: str, settings: Any) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_token": "100000/minute"}}
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    case.validate_response(
        response,
        checks=[
            schemathesis.checks.not_a_server_error,
            schemathesis.checks.status_code_conformance,
            schemathesis.checks.content_type_conformance,
            schemathesis.checks.response_schema_conformance,
        ],
    )
