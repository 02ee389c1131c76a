"""Free text as the services store it: the one place that says what a name and a text may
hold, used by the services, the portal's forms and the API alike (DESIGN §11).

A name (of a catalog, package, policy, organization, resource, connector, API client) is one
line: it ends up in email subjects, where a line break stops the message. A text (a
description, a justification, a reason) may hold line breaks and tabs. Neither may hold what
PostgreSQL cannot store (NUL) or what is not Unicode at all (a lone surrogate, which JSON's
``\\ud800`` escape can carry).
"""

from __future__ import annotations

import re

from django.utils import formats
from django.utils.translation import gettext, gettext_noop

from governance.errors import ValidationFailed

MAX_NAME = 256
MAX_TEXT = 4000

_NUL = "\x00"
_SURROGATE = re.compile("[\ud800-\udfff]")
# Unicode's Cc category (C0, DEL, C1) and the line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A text's own line breaks and tabs are welcome; every other control character is not.
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


# What messages call a field, marked for translation: a person reads them on My Access in
# their language (issue 21). A ``what`` not listed here is shown as given.
WHAT = {
    word: word
    for word in (
        gettext_noop("justification"),
        gettext_noop("reason"),
        gettext_noop("description"),
        gettext_noop("message"),
        gettext_noop("name"),
        gettext_noop("text"),
        gettext_noop("display name"),
    )
}
_ANSWER_TO = re.compile("^answer to “(?P<question>.*)”$", re.S)


def _what(what: str) -> str:
    """``what`` in the active language."""
    if what in WHAT:
        return gettext(what)
    answer = _ANSWER_TO.match(what)
    if answer:
        return gettext("answer to “%(question)s”") % {"question": answer["question"]}
    return what


def _characters(count: int) -> str:
    return formats.number_format(count, force_grouping=True)


def unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored or compared at all, or None."""
    if _NUL in value:
        return gettext("a NUL character")
    if _SURROGATE.search(value):
        return gettext("a lone surrogate (it is not valid Unicode)")
    return None


def check_characters(value: str, field: str, *, multiline: bool, what: str = "text") -> None:
    """Refuse what a name (``multiline=False``) or a text may not hold."""
    reason = unstorable(value)
    if reason is not None:
        raise ValidationFailed(
            gettext("The %(what)s cannot contain %(reason)s.") % {"what": _what(what), "reason": reason}, field=field
        )
    if (_CONTROL_IN_TEXT if multiline else _CONTROL).search(value):
        message = (
            gettext("The %(what)s cannot contain a control character other than a line break or a tab.")
            if multiline
            else gettext("The %(what)s cannot contain a control character (such as a line break or a tab).")
        )
        raise ValidationFailed(message % {"what": _what(what)}, field=field)


def _too_long(what: str, max_length: int) -> str:
    return gettext("The %(what)s can be at most %(count)s characters.") % {
        "what": _what(what),
        "count": _characters(max_length),
    }


def clean_text(value: object, field: str, *, max_length: int = MAX_TEXT, what: str = "") -> str:
    """A description, justification or reason: stripped, at most ``max_length`` characters.
    Messages call it ``what``, by default what ``field`` names ("the description")."""
    what = what or field.replace("_", " ")
    text = str(value or "").strip()
    if len(text) > max_length:
        raise ValidationFailed(_too_long(what, max_length), field=field)
    check_characters(text, field, multiline=True, what=what)
    return text


def clean_name(value: object, field: str, *, max_length: int = MAX_NAME, what: str = "name") -> str:
    """A display name: stripped, required, one line of at most ``max_length`` characters."""
    name = str(value or "").strip()
    if not name:
        raise ValidationFailed(gettext("A %(what)s is required.") % {"what": _what(what)}, field=field)
    if len(name) > max_length:
        raise ValidationFailed(_too_long(what, max_length), field=field)
    check_characters(name, field, multiline=False, what=what)
    return name


def one_line(value: str) -> str:
    """``value`` with every control character and run of spaces turned into one space: for a
    header built from names the portal did not check (stored before it did, or synced in)."""
    return " ".join(_CONTROL.sub(" ", _SURROGATE.sub("\ufffd", value)).split())
