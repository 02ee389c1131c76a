"""Requestor information (rule 15): a policy's questions, and the answers a request carries.

Questions are saved with their policy (:func:`save_questions`, from ``save_policy``);
answers are checked against the policy (:func:`check_answers`) and written once with the
request (:func:`record_answers`). An answer is never changed afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.utils.translation import gettext as _

from governance.errors import ValidationFailed
from governance.ids import is_uuid
from governance.models import AssignmentPolicy, AssignmentRequest, PolicyQuestion, QuestionKind, RequestAnswer
from governance.services.text import MAX_TEXT, clean_name, clean_text

MAX_QUESTIONS = 20
MAX_CHOICES = 50
MAX_QUESTION = 1000
MAX_SHORT_ANSWER = 256


@dataclass
class ChoiceSpec:
    value: str
    text: str
    localizations: list[dict[str, str]] = field(default_factory=list)


@dataclass
class QuestionSpec:
    """One question as the form or the API hands it over; order is the list's."""

    text: str
    kind: str = QuestionKind.SHORT_TEXT
    is_required: bool = False
    choices: list[ChoiceSpec] = field(default_factory=list)
    id: UUID | str | None = None
    is_answer_editable: bool = True
    regex_pattern: str = ""
    localizations: list[dict[str, str]] = field(default_factory=list)


@dataclass
class AnswerSpec:
    question_id: UUID | str
    value: str
    display_value: str | None = None


def validate_questions(questions: Sequence[QuestionSpec]) -> list[QuestionSpec]:
    if len(questions) > MAX_QUESTIONS:
        raise ValidationFailed(f"A policy can ask at most {MAX_QUESTIONS} questions.", field="questions")
    for number, question in enumerate(questions, start=1):
        where = f"Question {number}"
        question.text = clean_name(
            question.text, "questions", max_length=MAX_QUESTION, what=f"text of question {number}"
        )
        if question.kind not in QuestionKind.values:
            raise ValidationFailed(f"{where}: choose short text, long text or multiple choice.", field="questions")
        if question.id is not None and not is_uuid(question.id):
            raise ValidationFailed(f"{where}: the id is not a valid id.", field="questions")
        if question.kind == QuestionKind.MULTIPLE_CHOICE:
            question.regex_pattern = ""
            if not question.choices:
                raise ValidationFailed(f"{where}: give at least one option to choose from.", field="questions")
            if len(question.choices) > MAX_CHOICES:
                raise ValidationFailed(f"{where}: at most {MAX_CHOICES} options.", field="questions")
            for choice in question.choices:
                choice.text = clean_name(choice.text, "questions", what=f"option of question {number}")
                choice.value = clean_name(choice.value or choice.text, "questions", what=f"value of question {number}")
            values = [c.value for c in question.choices]
            if len(set(values)) != len(values):
                raise ValidationFailed(f"{where}: two options have the same value.", field="questions")
        else:
            question.choices = []
            question.regex_pattern = (question.regex_pattern or "").strip()
            if len(question.regex_pattern) > 500:
                raise ValidationFailed(f"{where}: the pattern can be at most 500 characters.", field="questions")
            if question.regex_pattern:
                try:
                    re.compile(question.regex_pattern)
                except re.error as exc:
                    raise ValidationFailed(f"{where}: the pattern is not valid ({exc}).", field="questions") from None
    ids = [str(q.id) for q in questions if q.id]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("Two questions have the same id.", field="questions")
    return list(questions)


def save_questions(policy: AssignmentPolicy, questions: Sequence[QuestionSpec]) -> bool:
    """Make ``questions`` the policy's, keeping the ids of those that name one (so answers
    already given still point at them); whether anything changed."""
    existing = {str(q.pk): q for q in policy.questions.all()}
    before = [spec_of_question(q) for q in existing.values()]
    kept: set[str] = set()
    for sequence, spec in enumerate(questions, start=1):
        values: dict[str, Any] = {
            "sequence": sequence,
            "kind": spec.kind,
            "text": spec.text,
            "is_required": spec.is_required,
            "is_answer_editable": spec.is_answer_editable,
            "choices": [{"value": c.value, "text": c.text, "localizations": c.localizations} for c in spec.choices],
            "regex_pattern": spec.regex_pattern,
            "localizations": spec.localizations,
        }
        question = existing.get(str(spec.id)) if spec.id else None
        if question is None:
            question = PolicyQuestion.objects.create(policy=policy, **values)
        else:
            for name, value in values.items():
                setattr(question, name, value)
            question.save()
        kept.add(str(question.pk))
    policy.questions.exclude(pk__in=kept).delete()
    after = [spec_of_question(q) for q in policy.questions.order_by("sequence")]
    return before != after


def spec_of_question(question: PolicyQuestion) -> QuestionSpec:
    return QuestionSpec(
        id=question.pk,
        text=question.text,
        kind=question.kind,
        is_required=question.is_required,
        is_answer_editable=question.is_answer_editable,
        choices=[ChoiceSpec(c["value"], c["text"], c.get("localizations") or []) for c in question.choices],
        regex_pattern=question.regex_pattern,
        localizations=list(question.localizations or []),
    )


def _clean_answer(question: PolicyQuestion, number: int, answer: AnswerSpec) -> tuple[str, str]:
    """The value and the words to show for one answer, or a refusal naming the question."""
    name = f"answer_{question.pk}"
    limit = MAX_SHORT_ANSWER if question.kind == QuestionKind.SHORT_TEXT else MAX_TEXT
    value = clean_text(answer.value, name, max_length=limit, what=f"answer to “{question.text}”")
    display = clean_text(answer.display_value or "", name, max_length=MAX_TEXT, what=f"answer to “{question.text}”")
    if not value:
        return "", ""
    if question.kind == QuestionKind.SHORT_TEXT and "\n" in value:
        raise ValidationFailed(_("The answer to “%(question)s” is one line.") % {"question": question.text}, field=name)
    if question.is_choice:
        label = question.choice_text(value)
        if label is None:
            raise ValidationFailed(
                _("Choose one of the options for “%(question)s”.") % {"question": question.text}, field=name
            )
        return value, display or label
    if question.regex_pattern and not re.fullmatch(question.regex_pattern, value):
        raise ValidationFailed(
            _("The answer to “%(question)s” is not in the expected format.") % {"question": question.text}, field=name
        )
    return value, display or value


def check_answers(
    policy: AssignmentPolicy,
    answers: Sequence[AnswerSpec],
    *,
    previous: Sequence[RequestAnswer] = (),
    admin_update: bool = False,
) -> list[RequestAnswer]:
    """Rule 15: every required question answered, every answer to a question the policy
    asks, choices among the options. Unsaved answers, in the policy's order. With
    ``previous`` (an administrator's update), unanswered questions keep their answers and
    a question whose answer is not editable keeps it."""
    questions = list(policy.questions.order_by("sequence"))
    by_id = {str(q.pk): q for q in questions}
    given: dict[str, AnswerSpec] = {}
    for sent in answers:
        key = str(sent.question_id)
        if key not in by_id:
            raise ValidationFailed("An answer names a question this policy does not ask.", field="answers")
        if key in given:
            raise ValidationFailed("A question is answered twice.", field="answers")
        given[key] = sent
    earlier = {str(a.question_id): a for a in previous}
    made: list[RequestAnswer] = []
    for number, question in enumerate(questions, start=1):
        key = str(question.pk)
        answer = given.get(key)
        if admin_update and key in earlier:
            old = earlier[key]
            if answer is None or (not question.is_answer_editable and answer.value != old.value):
                if answer is not None:
                    raise ValidationFailed(f"The answer to “{question.text}” cannot be changed.", field="answers")
                made.append(_copy(old, question))
                continue
        value, display = _clean_answer(question, number, answer) if answer is not None else ("", "")
        if not value:
            if question.is_required:
                raise ValidationFailed(
                    _("Answer the question “%(question)s”.") % {"question": question.text}, field=f"answer_{key}"
                )
            continue
        made.append(
            RequestAnswer(
                question_id=question.pk,
                question_kind=question.kind,
                question_text=question.text,
                sequence=question.sequence,
                value=value,
                display_value=display,
            )
        )
    return made


def _copy(old: RequestAnswer, question: PolicyQuestion) -> RequestAnswer:
    return RequestAnswer(
        question_id=old.question_id,
        question_kind=old.question_kind,
        question_text=old.question_text,
        sequence=question.sequence,
        value=old.value,
        display_value=old.display_value,
    )


def record_answers(request: AssignmentRequest, answers: Sequence[RequestAnswer]) -> None:
    """Written once, with the request (in its transaction)."""
    for answer in answers:
        answer.request = request
    RequestAnswer.objects.bulk_create(answers)
