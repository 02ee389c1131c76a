"""The unmodified msgraph-sdk reads a policy's questions and a request's answers as the typed
objects Graph defines, without losing a value."""

from __future__ import annotations

import os
from typing import Any

import pytest
from msgraph.generated.models.access_package_answer_string import AccessPackageAnswerString
from msgraph.generated.models.access_package_multiple_choice_question import AccessPackageMultipleChoiceQuestion
from msgraph.generated.models.access_package_text_input_question import AccessPackageTextInputQuestion

from governance import models as m
from governance.services import policies, requests
from governance.services.api_clients import create_api_client
from governance.services.questions import AnswerSpec, ChoiceSpec, QuestionSpec
from tests import factories as f
from tests.api.graph import graph_call

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.django_db(transaction=True),
]


def test_sdk_reads_questions_and_answers(live_server: Any) -> None:
    admin = f.UserFactory(username="admin")
    f.DirectoryRoleFactory(user=admin, role=m.GlobalRole.GLOBAL_ADMIN)
    requestor = f.UserFactory(username="requestor")
    policy = f.PolicyFactory(allowed_target_scope=m.TargetScope.ALL_MEMBERS)
    spec = policies.spec_of(policy)
    spec.questions = [
        QuestionSpec(
            text="Country?",
            kind=m.QuestionKind.MULTIPLE_CHOICE,
            is_required=True,
            choices=[ChoiceSpec("KE", "Kenya"), ChoiceSpec("JP", "Japan")],
        ),
        QuestionSpec(text="Your job?", kind=m.QuestionKind.LONG_TEXT, regex_pattern="[a-zA-Z ]+"),
    ]
    policies.save_policy(admin, policy.package_id, spec, policy_id=policy.pk)
    country, job = policy.questions.order_by("sequence")
    made = requests.submit_request(
        requestor, policy.package_id, answers=[AnswerSpec(country.pk, "JP"), AnswerSpec(job.pk, "Payroll clerk")]
    )
    token = create_api_client(None, "sdk-questions", role="global_admin").token
    em = lambda c: c.identity_governance.entitlement_management  # noqa: E731

    read = graph_call(
        live_server.url,
        token,
        lambda c: em(c).assignment_policies.by_access_package_assignment_policy_id(str(policy.pk)).get(),
    )
    first, second = read.questions
    assert isinstance(first, AccessPackageMultipleChoiceQuestion)
    assert (first.id, first.text, first.sequence, first.is_required) == (str(country.pk), "Country?", 1, True)
    assert [(c.actual_value, c.text) for c in first.choices] == [("KE", "Kenya"), ("JP", "Japan")]
    assert isinstance(second, AccessPackageTextInputQuestion)
    assert (second.is_single_line_question, second.regex_pattern) == (False, "[a-zA-Z ]+")

    got = graph_call(
        live_server.url,
        token,
        lambda c: em(c).assignment_requests.by_access_package_assignment_request_id(str(made.pk)).get(),
    )
    answer, text = got.answers
    assert isinstance(answer, AccessPackageAnswerString)
    assert (answer.value, answer.display_value, answer.answered_question.id) == ("JP", "Japan", str(country.pk))
    assert isinstance(answer.answered_question, AccessPackageMultipleChoiceQuestion)
    assert (text.value, text.display_value) == ("Payroll clerk", "Payroll clerk")
