"""Property-based: every operation of the OpenAPI schema, fed generated input, never answers
5xx, and every answer matches the schema (status codes, content types, bodies)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from governance import models as m
from governance.services.api_clients import create_api_client
from governance.services.requests import submit_request
from tests import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_schema_is_valid_openapi() -> None:
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


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
@schema.parametrize()
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
