"""Issue 21, translations: no end-user template has words left outside {% translate %} or
{% blocktranslate %}, so the .po check (test_translations) sees every word people read. The
admin portal's templates and the development mailbox stay English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import get_template

TEMPLATES = Path(settings.BASE_DIR) / "templates"
# The development mailbox, and a partial only the admin portal includes.
NOT_END_USER = {
    "myaccess/mailbox.html",
    "myaccess/mailbox_email.html",
    "myaccess/_mailbox_table.html",
    "_extension_calls.html",
}
END_USER = sorted(
    path
    for path in [
        *TEMPLATES.glob("emails/*"),
        *TEMPLATES.glob("myaccess/*.html"),
        *TEMPLATES.glob("registration/*.html"),
        *TEMPLATES.glob("*.html"),
    ]
    if str(path.relative_to(TEMPLATES)) not in NOT_END_USER
)
# Names, not words: the product's and its admin portal's, an email's first-line marker the
# sender strips, and the development mailbox's link.
NOT_WORDS = {"Portcullis", "Identity", "Governance", "Subject", "Mailbox", "development"}
READ_ATTRIBUTES = re.compile(r'\b(?:aria-label|placeholder|title|alt|data-label)="([^"]*)"')


def unmarked(source: str) -> list[str]:
    text = re.sub(r"{% blocktranslate.*?{% endblocktranslate %}", "", source, flags=re.S)
    text = re.sub(r"{% comment %}.*?{% endcomment %}|{#.*?#}", "", text, flags=re.S)
    text = re.sub(r"{%.*?%}|{{.*?}}", "", text, flags=re.S)
    found = [value for value in READ_ATTRIBUTES.findall(text) if re.search(r"[A-Za-z]{2,}", value)]
    text = re.sub(r"<[^>]*>", " ", text)
    found += [word for word in re.findall(r"[A-Za-z]{2,}", text) if word not in NOT_WORDS]
    return found


def test_the_check_finds_an_unmarked_word() -> None:
    assert unmarked('<p title="Close">{% translate "Hello" %} world</p>') == ["Close", "world"]
    marked = "<p title=\"{% translate 'Close' %}\">{% blocktranslate %}Hi {{ x }}{% endblocktranslate %}</p>"
    assert unmarked(marked) == []


@pytest.mark.parametrize("path", END_USER, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_word_people_read_is_marked_for_translation(path: Path) -> None:
    assert unmarked(path.read_text()) == []


@pytest.mark.parametrize("path", END_USER, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_end_user_template_compiles(path: Path) -> None:
    """A {% translate %} without {% load i18n %} fails here, not on a person's screen."""
    get_template(str(path.relative_to(TEMPLATES)))
