"""A requestor's request history (My Access, a request) says every step in words of its own,
in the reader's language: no action falls back to its stored key ("Await extension")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import translation

from governance.machines import REQUEST
from governance.models import AuditEvent
from myaccess.explain import HIDDEN_EVENTS, _history_text

ROOT = Path(__file__).resolve().parents[2]
ACTION = re.compile(r"""["']request\.([A-Za-z_]+)["']""")


def request_actions() -> set[str]:
    """Every request audit action: the machine's transitions and the literals the code writes."""
    actions = {REQUEST.event(name) for name in REQUEST.transitions}
    for path in (ROOT / "governance").rglob("*.py"):
        if "migrations" not in path.parts:
            actions |= {f"request.{name}" for name in ACTION.findall(path.read_text())}
    # "request.reprocess_all" is written on the package, not on a request.
    return actions - HIDDEN_EVENTS - {"request.reprocess_all"}


DATA = {"stage": 2, "extension": "Ticketing", "extensions": ["Ticketing"], "start": "2026-12-24T09:00"}


def words(action: str, language: str = "en") -> tuple[str, str]:
    with translation.override(language):
        return _history_text(AuditEvent(action=action, data=DATA))


def test_the_code_writes_the_actions_this_test_knows() -> None:
    assert {"request.submitted", "request.await_extension", "request.extension_continued"} <= request_actions()


@pytest.mark.parametrize("action", sorted(request_actions()))
def test_every_request_action_has_its_own_words_in_german(action: str) -> None:
    generic = words("request.no_such_action")
    english = words(action)
    assert english != generic, f"{action} has no words on the requestor's history"
    german = words(action, "de")
    assert german[0] != english[0], f"{action}'s words are not translated"
    assert not german[1] or german[1] != english[1]


def test_an_unknown_action_is_still_shown_in_the_readers_language() -> None:
    text, _detail = words("request.no_such_action", "fr")
    assert text != "Changed by {who}"
    assert "{who}" in text
