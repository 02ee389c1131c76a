"""Issue 21, logs: one request's story is one grep, from the web request into the worker's
tasks, each delivery attempt, decision and refusal logged once, and no secret in any line.
A failed delivery attempt has a line of its own; a batch's successful ones share one line
per connector and operation that names each one's request (issue 19: a line per success
cost a fifth of the worker's time).

A request is submitted through the API, approved through the emailed link by an approver
who signed in with a password, and delivered by a real worker to a signed webhook (which
refuses the first attempt, so both kinds of delivery line are there); the
test reads every line this process and the worker wrote (JSON, as in production) and greps
them for the API tokens, the password, the approval link's token, the webhook secret and the
session cookie.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from pythonjsonlogger.json import JsonFormatter

from governance import models as m
from governance.services.api_clients import create_api_client
from portal.logs import RedactSecrets, Refusals, RequestIdFilter, logging_config
from tests import factories as f
from tests.api.conftest import EM
from tests.targets import WEBHOOK_SECRET, Receiver
from tests.workers import WorkerFactory, wait_for

pytestmark = [pytest.mark.worker]

PASSWORD = "correct-horse-battery-7421"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What this process logs, formatted exactly as settings.LOGGING does with LOG_FORMAT=json."""
    options = {k: v for k, v in logging_config("json", "INFO")["formatters"]["json"].items() if k != "()"}
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter(**options))
    for flt in (RequestIdFilter(), RedactSecrets(), Refusals()):
        handler.addFilter(flt)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _parse(text: str) -> list[dict[str, Any]]:
    lines = []
    for raw in text.splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def test_a_request_story_is_one_grep_and_no_secret_is_logged(
    make_worker: WorkerFactory,
    webhook_receiver: Receiver,
    webhook_connector: m.Connector,
    catalog: m.Catalog,
    make_package: Any,
    json_lines: io.StringIO,
) -> None:
    worker = make_worker(LOG_FORMAT="json")
    approver = f.UserFactory(username="approver-logs")
    approver.set_password(PASSWORD)
    approver.save()
    requestor = f.UserFactory(username="requestor-logs")
    package = make_package(roles=0, approvers=[approver])
    resource = f.ResourceFactory(catalog=catalog, connector=webhook_connector, origin_id="badge", display_name="Badge")
    f.PackageResourceRoleFactory(package=package, resource_role=f.ResourceRoleFactory(resource=resource))
    token = create_api_client(None, "logs-requestor", username=requestor.username).token
    webhook_receiver.fail_next = 1  # the first delivery attempt is refused (503) and retried
    api = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    # 1. The requestor submits through the API; the proxy named the call.
    submitted_id = f"submit-{uuid.uuid4().hex[:12]}"
    answer = api.post(
        f"{EM}/assignmentRequests",
        data=json.dumps(
            {"requestType": "userAdd", "assignment": {"accessPackageId": str(package.pk)}, "justification": "on call"}
        ),
        content_type="application/json",
        HTTP_X_REQUEST_ID=submitted_id,
        **auth,
    )
    assert answer.status_code == 201, answer.content
    assert answer["request-id"] == answer["X-Request-ID"] == submitted_id  # Graph's id is the log's id
    request = m.AssignmentRequest.objects.get(pk=answer.json()["id"])

    # 2. A refusal: a request the token may not see (404, DESIGN §1).
    refused_path = f"{EM}/assignmentRequests/{uuid.uuid4()}"
    assert api.get(refused_path, HTTP_X_REQUEST_ID="refused-12345678", **auth).status_code == 404

    # 3. The approver signs in with a password and decides through the emailed link.
    email = m.OutboundEmail.objects.get(request=request, recipient=approver)
    link = re.search(r"/myaccess/approvals/[0-9a-f-]+/link/[^/\s]+/", email.body_text)
    assert link is not None, email.body_text
    link_token = link.group(0).rstrip("/").rsplit("/", 1)[1]
    browser = Client()
    assert (
        browser.post("/accounts/login/", {"username": "approver-logs", "password": "wrong-" + PASSWORD}).status_code
        == 200
    )
    assert browser.post("/accounts/login/", {"username": "approver-logs", "password": PASSWORD}).status_code == 302
    approved_id = f"approve-{uuid.uuid4().hex[:12]}"
    decided = browser.post(
        link.group(0), {"decision": m.Decision.APPROVE, "justification": "ok"}, HTTP_X_REQUEST_ID=approved_id
    )
    assert decided.status_code == 200, decided.content[:500]
    outsider = Client()
    outsider.force_login(f.UserFactory())
    outsider.get(link.group(0))  # someone else's link: refused, and its token must not be logged

    def delivered() -> bool:
        request.refresh_from_db()
        return request.state == m.RequestState.DELIVERED

    wait_for(delivered, timeout=60, message=f"delivery\n{worker.log()[-3000:]}")
    wait_for(lambda: m.OutboundEmail.objects.filter(sent_at__isnull=True).count() == 0, timeout=30, message="emails")

    web_text = json_lines.getvalue()
    worker_text = worker.log()
    web, work = _parse(web_text), _parse(worker_text)
    assert web, "this process logged nothing"
    assert work, f"the worker logged no JSON line:\n{worker_text[-2000:]}"
    # Every JSON line carries a request id.
    assert all("request_id" in line for line in web + work)

    # One grep: the approval's request id is on the worker's delivery lines for this request.
    # A failed attempt has a line of its own; the successes of a batch share one line per
    # connector and operation, which names the request of each of them.
    failed = [
        line
        for line in work
        if line.get("event") == "delivery_attempt" and line.get("assignment_request") == str(request.pk)
    ]
    succeeded = [
        line
        for line in work
        if line.get("event") == "delivery_attempts" and str(request.pk) in line.get("assignment_requests", [])
    ]
    assert failed, f"the refused attempt is not logged:\n{worker_text[-2000:]}"
    assert succeeded, f"the successful attempt is not logged:\n{worker_text[-2000:]}"
    assert {line["request_id"] for line in failed + succeeded} == {approved_id}
    assert str(request.pk) in worker_text  # the grep
    # ... and the submission's id on the worker's lines for the tasks it enqueued (the email).
    assert any(line["request_id"] == submitted_id for line in work), worker_text[-2000:]
    # Each delivery attempt once: the refusal at WARNING (it was retried), the success at INFO.
    attempts = m.DeliveryAttempt.objects.filter(request=request)
    assert [(line["level"], line["outcome"], line["error_code"]) for line in failed] == [
        ("WARNING", m.Outcome.TRANSIENT, a.error_code) for a in attempts.exclude(outcome=m.Outcome.SUCCESS)
    ]
    successes = sum(line["assignment_requests"].count(str(request.pk)) for line in succeeded)
    assert successes == attempts.filter(outcome=m.Outcome.SUCCESS).count() == 1
    for line in succeeded:
        assert line["level"] == "INFO"
        assert line["count"] == len(line["assignment_requests"])  # every grant here came with a request
    # Each decision once, each refusal once, at INFO.
    decisions = [line for line in web if line.get("event") == "approval_decision"]
    assert [(d["assignment_request"], d["request_id"], d["level"]) for d in decisions] == [
        (str(request.pk), approved_id, "INFO")
    ]
    refusals = [
        line for line in web if line.get("event") == "permission_refusal" and line["request_id"] == "refused-12345678"
    ]
    assert len(refusals) == 1
    assert refusals[0]["level"] == "INFO"
    assert refusals[0]["principal"].startswith("apiclient:")

    # No secret anywhere.
    session = browser.cookies.get("sessionid")
    secrets = {
        "API token": token,
        "password": PASSWORD,
        "approval link token": link_token,
        "webhook secret": WEBHOOK_SECRET,
        "session cookie": session.value if session else "",
    }
    for name, secret in secrets.items():
        assert secret, name
        assert secret not in web_text, f"the {name} is in this process's log"
        assert secret not in worker_text, f"the {name} is in the worker's log"
