"""Issue 21, translations: the end-user side in the person's language (their setting, then
the browser's Accept-Language), dates in their format and time zone, emails too; German and
French ship complete."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zoneinfo
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from governance import models as m
from governance.services import requests
from tests.myaccess.conftest import signed_in

ROOT = Path(django_settings.BASE_DIR)
SHIPPED = ("de", "fr")


@pytest.mark.django_db
def test_a_german_requestor_sees_german_pages_and_gets_german_emails(
    requestor: m.User, approver: m.User, developer_tools: m.AccessPackage
) -> None:
    requestor.preferred_language = "de"
    requestor.time_zone = "Europe/Berlin"
    requestor.save()
    client = signed_in(requestor)
    # Whatever the browser says: the person's own setting wins.
    home = client.get("/myaccess/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="de">' in home
    assert "<h1>Zugriff anfordern</h1>" in home
    assert "Meine Anfragen" in home
    assert "Abmelden" in home

    request = requests.submit_request(requestor, developer_tools.pk, justification="Bereitschaft")
    page = client.get("/myaccess/requests/").content.decode()
    assert "<h1>Meine Anfragen</h1>" in page
    created = timezone.localtime(request.created_at, zoneinfo.ZoneInfo("Europe/Berlin"))
    assert f"{created:%d.%m.%Y %H:%M}" in page  # German date format, Berlin time

    mine = m.OutboundEmail.objects.get(kind="request_submitted", recipient=requestor)
    assert mine.subject == "Ihre Anfrage für Developer tools wurde gesendet"
    assert mine.body_text.startswith(f"Hallo {requestor},")
    assert "wartet auf die Genehmigung durch" in mine.body_text
    due = timezone.localtime(request.stage_due_at, zoneinfo.ZoneInfo("Europe/Berlin"))
    assert f"Entscheidet bis {due:%d.%m.%Y %H:%M} CET niemand" in mine.body_text
    assert '<html lang="de">' in mine.body_html
    assert "Geschäftliche Begründung" in mine.body_html
    assert "Oder kopieren Sie diesen Link" in mine.body_html
    # The approver set nothing: their email stays in the site's language.
    theirs = m.OutboundEmail.objects.get(kind="approval_needed", recipient=approver)
    assert theirs.subject.startswith("Approval needed")


@pytest.mark.django_db
def test_without_a_setting_the_browser_language_decides(requestor: m.User) -> None:
    client = signed_in(requestor)
    french = client.get("/myaccess/requests/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.5").content.decode()
    assert "<h1>Mes demandes</h1>" in french
    english = client.get("/myaccess/requests/", HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()
    assert "<h1>My requests</h1>" in english


@pytest.mark.django_db
def test_a_person_chooses_language_and_time_zone_in_settings(requestor: m.User) -> None:
    client = signed_in(requestor)
    assert client.get("/myaccess/settings/").status_code == 200
    answer = client.post("/myaccess/settings/", {"preferred_language": "fr", "time_zone": "Europe/Paris"})
    assert answer.status_code == 302
    requestor.refresh_from_db()
    assert (requestor.preferred_language, requestor.time_zone) == ("fr", "Europe/Paris")
    assert "Vos paramètres sont enregistrés." in client.get("/myaccess/settings/").content.decode()
    refused = client.post("/myaccess/settings/", {"preferred_language": "xx", "time_zone": "Mars/Olympus"})
    assert refused.status_code == 200
    requestor.refresh_from_db()
    assert requestor.preferred_language == "fr"


def test_no_shipped_language_string_is_untranslated(tmp_path: Path) -> None:
    """`make messages` run on a copy of the code finds nothing the shipped .po files lack,
    every message of theirs is translated (none fuzzy), and the .mo files are compiled from them."""
    if shutil.which("msgfmt") is None or shutil.which("xgettext") is None:
        from tests.conftest import need

        need(False, "this test needs gettext (bin/system-deps installs it)")
    copy = tmp_path / "portcullis"
    copy.mkdir()
    for name in ("governance", "myaccess", "portal", "templates", "locale"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    (copy / "static").mkdir()
    env_python = sys.executable
    done = subprocess.run(
        [env_python, "manage.py", "makemessages", *(f"-l{lang}" for lang in SHIPPED), "--no-obsolete", "--no-location"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": str(Path(env_python).parent) + ":/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "portal.settings"},
    )
    assert done.returncode == 0, done.stderr
    for lang in SHIPPED:
        fresh = copy / "locale" / lang / "LC_MESSAGES" / "django.po"
        stats = subprocess.run(
            ["msgfmt", "--statistics", "--check-format", "-o", str(tmp_path / f"{lang}.mo"), str(fresh)],
            capture_output=True,
            text=True,
        )
        assert stats.returncode == 0, stats.stderr
        assert re.fullmatch(r"\d+ translated messages?\.\n", stats.stderr), f"{lang}: {stats.stderr}"
        shipped = ROOT / "locale" / lang / "LC_MESSAGES"
        compiled = subprocess.run(
            ["msgfmt", "--check-format", "-o", str(tmp_path / f"{lang}-shipped.mo"), str(shipped / "django.po")],
            capture_output=True,
        )
        assert compiled.returncode == 0
        assert (tmp_path / f"{lang}-shipped.mo").read_bytes() == (shipped / "django.mo").read_bytes(), (
            f"locale/{lang}/LC_MESSAGES/django.mo is older than its .po: run make messages"
        )


@pytest.mark.django_db
def test_a_french_approver_gets_a_french_email_and_decides_on_french_pages(
    requestor: m.User, approver: m.User, developer_tools: m.AccessPackage
) -> None:
    approver.preferred_language = "fr"
    approver.save()
    request = requests.submit_request(requestor, developer_tools.pk, justification="astreinte")
    email = m.OutboundEmail.objects.get(kind="approval_needed", recipient=approver)
    assert email.subject == f"Approbation requise : {requestor} demande Developer tools"
    assert f"Bonjour {approver}," in email.body_text
    assert "Justification métier: astreinte" in email.body_text
    assert "Examiner et décider" in email.body_html
    client = signed_in(approver)
    listing = client.get("/myaccess/approvals/").content.decode()
    assert "<h1>Approbations</h1>" in listing
    assert "Examiner</a>" in listing
    page = client.get(f"/myaccess/approvals/{request.pk}/").content.decode()
    assert f"<h1>{requestor} demande Developer tools</h1>" in page
    assert ">Approuver</button>" in page
    assert ">Refuser</button>" in page
