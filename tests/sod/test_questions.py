"""Rule 15, requestor information: a policy's questions (short text, long text, multiple
choice; required; ordered), answered on the request form, kept immutable with the request
and shown on its pages, to approvers and in the approval email; Graph's questions and
answers, with Microsoft's policy Example 4 and request Examples 3 and 6 sent verbatim."""

from __future__ import annotations

import copy
import re

import pytest

from governance import models as m
from governance.errors import ValidationFailed
from governance.services import policies, requests
from governance.services.questions import AnswerSpec, ChoiceSpec, QuestionSpec
from tests import factories as f
from tests.conftest import snapshot
from tests.myaccess.conftest import content, signed_in

pytestmark = pytest.mark.django_db

COUNTRY = QuestionSpec(
    text="What country are you working from?",
    kind=m.QuestionKind.MULTIPLE_CHOICE,
    is_required=True,
    choices=[ChoiceSpec("KE", "Kenya"), ChoiceSpec("JP", "Japan")],
)
WORK = QuestionSpec(text="What do you do for work?", kind=m.QuestionKind.LONG_TEXT, is_required=True)
BADGE = QuestionSpec(text="Badge number", kind=m.QuestionKind.SHORT_TEXT, regex_pattern="[0-9]{4}")


@pytest.fixture
def asking(admin, approver, make_package) -> m.AccessPackage:
    """A package whose one policy asks three questions and needs `approver`."""
    package = make_package(name="Payroll", approvers=[approver])
    policy = package.policies.get()
    spec = policies.spec_of(policy)
    spec.questions = copy.deepcopy([COUNTRY, WORK, BADGE])
    policies.save_policy(admin, package.pk, spec, policy_id=policy.pk)
    return package


def questions_of(package: m.AccessPackage) -> list[m.PolicyQuestion]:
    return list(m.PolicyQuestion.objects.filter(policy__package=package).order_by("sequence"))


def answered(package: m.AccessPackage, **values: str) -> list[AnswerSpec]:
    country, work, badge = questions_of(package)
    given = {"country": country, "work": work, "badge": badge}
    return [AnswerSpec(given[name].pk, value) for name, value in values.items()]


class TestRule:
    def test_answers_are_kept_in_order_with_the_words_asked(self, requestor, asking) -> None:
        made = requests.submit_request(
            requestor, asking.pk, answers=answered(asking, work="Payroll clerk", country="KE", badge="1234")
        )
        kept = list(made.answers.order_by("sequence"))
        assert [(a.question_text, a.value, a.display_value) for a in kept] == [
            ("What country are you working from?", "KE", "Kenya"),
            ("What do you do for work?", "Payroll clerk", "Payroll clerk"),
            ("Badge number", "1234", "1234"),
        ]

    def test_a_required_question_unanswered_refuses_the_request(self, requestor, asking) -> None:
        before = snapshot()
        with pytest.raises(ValidationFailed, match="Answer the question “What do you do for work\\?”"):
            requests.submit_request(requestor, asking.pk, answers=answered(asking, country="KE", work="  "))
        assert snapshot() == before

    @pytest.mark.parametrize(
        ("values", "message"),
        [
            ({"country": "FR", "work": "x"}, "Choose one of the options"),
            ({"country": "KE", "work": "x", "badge": "12ab"}, "not in the expected format"),
            ({"country": "KE", "work": "x" * 4001}, "at most 4,000 characters"),
            ({"country": "KE", "work": "x", "badge": "12\n34"}, "one line|control character"),
        ],
    )
    def test_bad_answers_are_refused(self, requestor, asking, values, message) -> None:
        with pytest.raises(ValidationFailed, match=message):
            requests.submit_request(requestor, asking.pk, answers=answered(asking, **values))

    def test_answers_to_questions_the_policy_does_not_ask_are_refused(self, requestor, asking) -> None:
        stray = AnswerSpec(f.PolicyFactory().pk, "x")
        with pytest.raises(ValidationFailed, match="does not ask"):
            requests.submit_request(requestor, asking.pk, answers=[*answered(asking, country="KE", work="x"), stray])

    def test_answers_are_immutable_and_survive_editing_the_questions(self, admin, requestor, asking) -> None:
        made = requests.submit_request(requestor, asking.pk, answers=answered(asking, country="JP", work="Clerk"))
        answer = made.answers.first()
        answer.value = "changed"
        with pytest.raises(ValueError, match="immutable"):
            answer.save()
        policy = asking.policies.get()
        spec = policies.spec_of(policy)
        spec.questions[0].text = "Where do you work from?"
        spec.questions = spec.questions[:1]
        policies.save_policy(admin, asking.pk, spec, policy_id=policy.pk)
        assert [q.text for q in questions_of_policy(policy)] == ["Where do you work from?"]
        assert list(made.answers.values_list("question_text", flat=True)) == [
            "What country are you working from?",
            "What do you do for work?",
        ]

    def test_bad_questions_are_refused(self, admin, asking) -> None:
        policy = asking.policies.get()
        for question, message in [
            (QuestionSpec(text="Pick", kind=m.QuestionKind.MULTIPLE_CHOICE), "at least one option"),
            (QuestionSpec(text="", kind=m.QuestionKind.SHORT_TEXT), "required"),
            (QuestionSpec(text="Code", regex_pattern="("), "pattern is not valid"),
            (
                QuestionSpec(
                    text="Pick",
                    kind=m.QuestionKind.MULTIPLE_CHOICE,
                    choices=[ChoiceSpec("a", "A"), ChoiceSpec("a", "B")],
                ),
                "same value",
            ),
        ]:
            spec = policies.spec_of(policy)
            spec.questions = [question]
            with pytest.raises(ValidationFailed, match=message):
                policies.save_policy(admin, asking.pk, spec, policy_id=policy.pk)


def questions_of_policy(policy: m.AssignmentPolicy) -> list[m.PolicyQuestion]:
    return list(policy.questions.order_by("sequence"))


class TestWhereAnswersShow:
    def test_requestor_admin_approver_and_email_all_see_them(self, admin, requestor, approver, asking) -> None:
        made = requests.submit_request(
            requestor, asking.pk, answers=answered(asking, country="KE", work="Runs the payroll")
        )
        for who, url in [
            (requestor, f"/myaccess/requests/{made.pk}/"),
            (admin, f"/governance/requests/{made.pk}/"),
            (approver, f"/myaccess/approvals/{made.pk}/"),
        ]:
            page = content(signed_in(who).get(url))
            assert "What country are you working from?" in page, who
            assert "Kenya" in page, who
            assert "Runs the payroll" in page, who
        email = m.OutboundEmail.objects.get(kind="approval_needed", recipient=approver)
        assert "What country are you working from?: Kenya" in email.body_text
        assert "Runs the payroll" in email.body_html


class TestPortal:
    def test_policy_form_adds_orders_edits_and_removes_questions(self, admin, make_package) -> None:
        package = make_package(name="Payroll")
        policy = package.policies.get()
        client = signed_in(admin)
        url = f"/governance/packages/{package.pk}/policies/{policy.pk}/"
        page = content(client.get(url))
        assert "Question 1" in page
        assert "Question 2" in page
        form = {
            "display_name": "Staff",
            "allowed_target_scope": m.TargetScope.ALL_MEMBERS,
            "expiration_type": m.ExpirationType.AFTER_DAYS,
            "expiration_days": "30",
            "enabled": "on",
            "question1_text": "What do you do for work?",
            "question1_kind": m.QuestionKind.LONG_TEXT,
            "question1_required": "on",
            "question2_text": "Country",
            "question2_kind": m.QuestionKind.MULTIPLE_CHOICE,
            "question2_choices": "KE|Kenya\nJapan\n",
        }
        response = client.post(url, form)
        assert response.status_code == 302, content(response)
        first, second = questions_of_policy(policy)
        assert (first.text, first.kind, first.is_required) == ("What do you do for work?", "longText", True)
        assert second.choices == [
            {"value": "KE", "text": "Kenya", "localizations": []},
            {"value": "Japan", "text": "Japan", "localizations": []},
        ]
        page = content(client.get(url))
        assert f'value="{first.pk}"' in page
        assert "KE|Kenya" in page
        # Edit: the first question changes its words and keeps its id; the second goes.
        edited = {**form, "question1_id": str(first.pk), "question1_text": "Your job?", "question2_text": ""}
        assert client.post(url, edited).status_code == 302
        [kept] = questions_of_policy(policy)
        assert (kept.pk, kept.text) == (first.pk, "Your job?")

    def test_a_choice_question_without_options_is_a_form_error(self, admin, make_package) -> None:
        package = make_package(name="Payroll")
        policy = package.policies.get()
        response = signed_in(admin).post(
            f"/governance/packages/{package.pk}/policies/{policy.pk}/",
            {
                "display_name": "Staff",
                "allowed_target_scope": m.TargetScope.ALL_MEMBERS,
                "expiration_type": m.ExpirationType.AFTER_DAYS,
                "expiration_days": "30",
                "question1_text": "Country",
                "question1_kind": m.QuestionKind.MULTIPLE_CHOICE,
            },
        )
        assert response.status_code == 200
        assert "Question 1: give at least one option to choose from." in content(response)
        assert not policy.questions.exists()

    def test_my_access_asks_and_refuses_a_missing_required_answer(self, requestor, asking) -> None:
        country, work, badge = questions_of(asking)
        client = signed_in(requestor)
        url = f"/myaccess/packages/{asking.pk}/request/"
        page = content(client.get(url))
        assert "What country are you working from? (required)" in page
        assert "Kenya" in page
        assert "Badge number" in page
        refused = client.post(url, {f"answer_{country.pk}": "KE"})
        assert "Answer the question “What do you do for work?”" in content(refused)
        assert not m.AssignmentRequest.objects.exists()
        done = client.post(url, {f"answer_{country.pk}": "JP", f"answer_{work.pk}": "Clerk", f"answer_{badge.pk}": ""})
        assert done.status_code == 302, re.findall(r"class=\"error[^>]*>([^<]*)", content(done))
        made = m.AssignmentRequest.objects.get()
        assert [a.display_value for a in made.answers.order_by("sequence")] == ["Japan", "Clerk"]


class TestGraph:
    def example_4(self, package: m.AccessPackage, approver: m.User) -> dict:
        """Microsoft's policy Example 4, verbatim but for the ids."""
        return {
            "displayName": "A Policy With Questions",
            "description": "",
            "allowedTargetScope": "allMemberUsers",
            "expiration": {"type": "noExpiration"},
            "requestorSettings": {
                "enableTargetsToSelfAddAccess": "true",
                "enableTargetsToSelfUpdateAccess": "true",
                "enableTargetsToSelfRemoveAccess": "true",
            },
            "requestApprovalSettings": {
                "isApprovalRequiredForAdd": "true",
                "isApprovalRequiredForUpdate": "true",
                "stages": [
                    {
                        "durationBeforeAutomaticDenial": "P7D",
                        "isApproverJustificationRequired": "false",
                        "isEscalationEnabled": "false",
                        "fallbackPrimaryApprovers": [],
                        "escalationApprovers": [],
                        "fallbackEscalationApprovers": [],
                        "primaryApprovers": [
                            {"@odata.type": "#microsoft.graph.singleUser", "userId": str(approver.pk)}
                        ],
                    }
                ],
            },
            "questions": [
                {
                    "@odata.type": "#microsoft.graph.accessPackageMultipleChoiceQuestion",
                    "sequence": "1",
                    "isRequired": "true",
                    "isAnswerEditable": "true",
                    "text": "What country are you working from?",
                    "isMultipleSelectionAllowed": "false",
                    "choices": [
                        {
                            "@odata.type": "microsoft.graph.accessPackageAnswerChoice",
                            "actualValue": "KE",
                            "text": "Kenya",
                        },
                        {
                            "@odata.type": "microsoft.graph.accessPackageAnswerChoice",
                            "actualValue": "US",
                            "text": "United States",
                        },
                        {
                            "@odata.type": "microsoft.graph.accessPackageAnswerChoice",
                            "actualValue": "GY",
                            "text": "Guyana",
                        },
                        {
                            "@odata.type": "microsoft.graph.accessPackageAnswerChoice",
                            "actualValue": "BD",
                            "text": "Bangladesh",
                        },
                        {
                            "@odata.type": "microsoft.graph.accessPackageAnswerChoice",
                            "actualValue": "JP",
                            "text": "Japan",
                        },
                    ],
                },
                {
                    "@odata.type": "#microsoft.graph.accessPackageTextInputQuestion",
                    "sequence": "2",
                    "isRequired": "true",
                    "isAnswerEditable": "true",
                    "text": "What do you do for work?",
                    "localizations": [{"languageCode": "fr-CA", "text": "Que fais-tu comme travail?"}],
                    "isSingleLineQuestion": "false",
                    "regexPattern": "[a-zA-Z]+[a-zA-Z\\s]*",
                },
            ],
            "accessPackage": {"id": str(package.pk)},
        }

    def test_policy_example_4_verbatim(self, admin_api, approver, catalog) -> None:
        package = f.AccessPackageFactory(catalog=catalog, display_name="Questions")
        answer = admin_api.post("assignmentPolicies", self.example_4(package, approver))
        assert answer.status == 201, answer.body
        assert answer.body["displayName"] == "A Policy With Questions"
        assert answer.body["allowedTargetScope"] == "allMemberUsers"
        country, work = answer.body["questions"]
        assert country["@odata.type"] == "#microsoft.graph.accessPackageMultipleChoiceQuestion"
        assert (country["sequence"], country["isRequired"], country["isMultipleSelectionAllowed"]) == (1, True, False)
        assert [c["actualValue"] for c in country["choices"]] == ["KE", "US", "GY", "BD", "JP"]
        assert work["@odata.type"] == "#microsoft.graph.accessPackageTextInputQuestion"
        assert work["isSingleLineQuestion"] is False
        assert work["regexPattern"] == "[a-zA-Z]+[a-zA-Z\\s]*"
        assert work["localizations"] == [{"languageCode": "fr-CA", "text": "Que fais-tu comme travail?"}]
        again = admin_api.get(f"assignmentPolicies/{answer.body['id']}").body
        assert again["questions"] == answer.body["questions"]
        # A PATCH without questions keeps them, with their ids.
        patched = admin_api.patch(f"assignmentPolicies/{answer.body['id']}", {"description": "Now described"})
        assert patched.status == 204  # as Graph answers a PATCH (issue 16)
        again = admin_api.get(f"assignmentPolicies/{answer.body['id']}").body
        assert [q["id"] for q in again["questions"]] == [country["id"], work["id"]]

    @pytest.mark.parametrize(
        ("question", "message"),
        [
            ({"@odata.type": "#microsoft.graph.accessPackageQuestion", "text": "x"}, "accessPackageTextInputQuestion"),
            (
                {
                    "@odata.type": "#microsoft.graph.accessPackageMultipleChoiceQuestion",
                    "text": "x",
                    "isMultipleSelectionAllowed": True,
                    "choices": [{"actualValue": "a"}],
                },
                "isMultipleSelectionAllowed",
            ),
            (
                {"@odata.type": "#microsoft.graph.accessPackageTextInputQuestion", "text": "x", "sequence": "one"},
                "sequence",
            ),
            ({"@odata.type": "#microsoft.graph.accessPackageTextInputQuestion"}, "'text' is required"),
            ("text", "lists questions"),
        ],
    )
    def test_bad_questions_are_400(self, admin_api, approver, catalog, question, message) -> None:
        package = f.AccessPackageFactory(catalog=catalog)
        body = {**self.example_4(package, approver), "questions": [question]}
        before = snapshot()
        answer = admin_api.post("assignmentPolicies", body)
        assert answer.status == 400, answer.body
        assert message in answer.error["message"]
        assert snapshot() == before

    def test_request_examples_3_and_6_verbatim(self, admin, admin_api, api_as, requestor, catalog, deliver) -> None:
        """Example 3 (a user requests, answering) then Example 6 (an administrator updates
        the answers): the policy offers the values Microsoft's examples answer with."""
        package = f.AccessPackageFactory(catalog=catalog, display_name="New hire")
        f.PackageResourceRoleFactory(package=package)
        policy = admin_api.post(
            "assignmentPolicies",
            {
                "displayName": "Staff with questions",
                "allowedTargetScope": "allMemberUsers",
                "expiration": {"type": "noExpiration"},
                "questions": [
                    {
                        "@odata.type": "#microsoft.graph.accessPackageMultipleChoiceQuestion",
                        "sequence": 1,
                        "isRequired": True,
                        "text": "Which answer?",
                        "choices": [
                            {"actualValue": "MultipleChoiceAnswerValue", "text": "The first answer"},
                            {"actualValue": "UpdatedAnswerValue", "text": "The updated answer"},
                        ],
                    },
                    {
                        "@odata.type": "#microsoft.graph.accessPackageTextInputQuestion",
                        "sequence": 2,
                        "isRequired": True,
                        "text": "Tell us more",
                        "isSingleLineQuestion": False,
                    },
                ],
                "accessPackage": {"id": str(package.pk)},
            },
        )
        assert policy.status == 201, policy.body
        choice_id, text_id = (q["id"] for q in policy.body["questions"])
        example_3 = {
            "@odata.type": "#microsoft.graph.accessPackageAssignmentRequest",
            "requestType": "userAdd",
            "answers": [
                {
                    "@odata.type": "#microsoft.graph.accessPackageAnswerString",
                    "displayValue": "This is the answer to a multiple choice question",
                    "value": "MultipleChoiceAnswerValue",
                    "answeredQuestion": {
                        "@odata.type": "#microsoft.graph.accessPackageMultipleChoiceQuestion",
                        "id": choice_id,
                    },
                },
                {
                    "@odata.type": "#microsoft.graph.accessPackageAnswerString",
                    "value": "This is my answer to a text input question.",
                    "displayValue": "This is my answer.",
                    "answeredQuestion": {
                        "@odata.type": "#microsoft.graph.accessPackageTextInputQuestion",
                        "id": text_id,
                    },
                },
            ],
            "assignment": {"accessPackageId": str(package.pk)},
        }
        made = api_as(user=requestor).post("assignmentRequests", example_3)
        assert made.status == 201, made.body
        assert made.body["requestType"] == "userAdd"
        first, second = made.body["answers"]
        assert first["@odata.type"] == "#microsoft.graph.accessPackageAnswerString"
        assert (first["value"], first["displayValue"]) == (
            "MultipleChoiceAnswerValue",
            "This is the answer to a multiple choice question",
        )
        assert first["answeredQuestion"]["id"] == choice_id
        assert first["answeredQuestion"]["@odata.type"] == "#microsoft.graph.accessPackageMultipleChoiceQuestion"
        assert (second["value"], second["displayValue"]) == (
            "This is my answer to a text input question.",
            "This is my answer.",
        )
        deliver()
        assignment = m.Assignment.objects.get(package=package, target=requestor)

        example_6 = {
            "@odata.type": "#microsoft.graph.accessPackageAssignmentRequest",
            "id": made.body["id"],
            "requestType": "adminUpdate",
            "answers": [
                {
                    "@odata.type": "#microsoft.graph.accessPackageAnswerString",
                    "value": "UpdatedAnswerValue",
                    "answeredQuestion": {
                        "@odata.type": "#microsoft.graph.accessPackageMultipleChoiceQuestion",
                        "id": choice_id,
                    },
                },
                {
                    "@odata.type": "#microsoft.graph.accessPackageAnswerString",
                    "value": "My updated answer.",
                    "displayValue": "This is my updated answer to the question.",
                    "answeredQuestion": {
                        "@odata.type": "#microsoft.graph.accessPackageTextInputQuestion",
                        "id": text_id,
                    },
                },
            ],
            "assignment": {"id": str(assignment.pk)},
        }
        updated = admin_api.post("assignmentRequests", example_6)
        assert updated.status == 201, updated.body
        assert updated.body["requestType"] == "adminUpdate"
        assert updated.body["id"] != made.body["id"]
        assert [(a["value"], a["displayValue"]) for a in updated.body["answers"]] == [
            ("UpdatedAnswerValue", "The updated answer"),
            ("My updated answer.", "This is my updated answer to the question."),
        ]
        assignment.refresh_from_db()
        assert assignment.end_at is None  # answers only: the schedule stays
        # The original request keeps what was answered then (rule 15).
        original = admin_api.get(f"assignmentRequests/{made.body['id']}").body
        assert [a["value"] for a in original["answers"]] == [
            "MultipleChoiceAnswerValue",
            "This is my answer to a text input question.",
        ]

    def test_answers_missing_or_wrong_are_400(self, api_as, requestor, approver, admin_api, catalog) -> None:
        package = f.AccessPackageFactory(catalog=catalog)
        created = admin_api.post("assignmentPolicies", self.example_4(package, approver))
        country_id = created.body["questions"][0]["id"]
        mine = api_as(user=requestor)
        body = {"requestType": "userAdd", "assignment": {"accessPackageId": str(package.pk)}}
        missing = mine.post("assignmentRequests", body)
        assert missing.status == 400
        assert re.search("Answer the question", missing.error["message"])
        wrong = mine.post(
            "assignmentRequests",
            {
                **body,
                "answers": [
                    {"value": "FR", "answeredQuestion": {"id": country_id}},
                    {"value": "Clerk", "answeredQuestion": {"id": created.body["questions"][1]["id"]}},
                ],
            },
        )
        assert wrong.status == 400
        assert "Choose one of the options" in wrong.error["message"]
        for bad in (
            [1],
            [{"value": "KE"}],
            [{"@odata.type": "#microsoft.graph.other", "answeredQuestion": {"id": country_id}}],
        ):
            answer = mine.post("assignmentRequests", {**body, "answers": bad})
            assert answer.status == 400, (bad, answer.body)
        assert not m.AssignmentRequest.objects.exists()
