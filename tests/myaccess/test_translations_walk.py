# ruff: noqa: RUF001 (French typography: the translations use the right single quotation mark)
"""Issue 21, translations, end to end: each person reads pages and emails in their own
language and time zone, whoever's click wrote them. A German requestor asks, a French
approver in Tokyo decides from the emailed link, delivery and an access review follow."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone, translation

from governance import models as m
from governance.errors import ValidationFailed
from governance.services import approvals, requests, reviews, separation, text
from governance.templatetags import portal as portal_tags
from tests import factories as f
from tests.myaccess.conftest import approval_link, content, path_of, signed_in

pytestmark = pytest.mark.django_db

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def german(value: datetime) -> str:
    """Django's German short date and time (d.m.Y H:i), in Berlin."""
    return f"{timezone.localtime(value, BERLIN):%d.%m.%Y %H:%M}"


def french(value: datetime) -> str:
    """Django's French short date and time (d/m/Y H:i), in Tokyo."""
    return f"{timezone.localtime(value, TOKYO):%d/%m/%Y %H:%M}"


def email(kind: str, recipient: m.User) -> m.OutboundEmail:
    return m.OutboundEmail.objects.filter(kind=kind, recipient=recipient).order_by("-created_at").first()


@pytest.fixture
def people(requestor: m.User, approver: m.User) -> tuple[m.User, m.User]:
    requestor.preferred_language, requestor.time_zone, requestor.manager = "de", "Europe/Berlin", approver
    requestor.save()
    approver.preferred_language, approver.time_zone = "fr", "Asia/Tokyo"
    approver.save()
    return requestor, approver


def test_a_german_requestor_and_a_french_approver_each_read_their_own_language(
    people: tuple[m.User, m.User], developer_tools: m.AccessPackage, deliver
) -> None:
    requestor, approver = people
    de = signed_in(requestor)

    # The request form and its answer, in German, whatever the browser says.
    form = content(de.get(reverse("myaccess:request_form", args=[developer_tools.pk]), HTTP_ACCEPT_LANGUAGE="fr"))
    assert "<h1>Zugriff anfordern: Developer tools</h1>" in form
    assert "Geschäftliche Begründung (erforderlich)" in form
    assert ">Absenden</button>" in form
    refused = content(de.post(reverse("myaccess:request_form", args=[developer_tools.pk]), {"specific_period": "no"}))
    assert "Prüfen Sie die unten markierten Felder." in refused or "Begründung ist erforderlich" in refused
    answer = de.post(
        reverse("myaccess:request_form", args=[developer_tools.pk]),
        {"justification": "Bereitschaftsdienst", "specific_period": "no"},
        follow=True,
    )
    page = content(answer)
    request = m.AssignmentRequest.objects.get(target=requestor, package=developer_tools)
    assert "Ihre Anfrage für Developer tools wurde gesendet." in page  # the flash message
    assert "Anfrage gesendet: So geht es weiter" in page
    assert f"Wartet auf die Genehmigung durch <strong>{approver}</strong>." in page
    assert ">Genehmigung ausstehend</span>" in page  # the state label
    assert f"{german(request.created_at)}</time>" in page
    assert f"Eingereicht von {requestor}" in page  # the history

    # The requestor's email in German, the approver's in French, each in their own zone.
    submitted = email("request_submitted", requestor)
    assert submitted.subject == "Ihre Anfrage für Developer tools wurde gesendet"
    assert f"Entscheidet bis {german(request.stage_due_at)} " in submitted.body_text
    needed = email("approval_needed", approver)
    assert needed.subject == f"Approbation requise : {requestor} demande Developer tools"
    assert f"Bonjour {approver}," in needed.body_text
    assert f"d’ici le {french(request.stage_due_at)} JST ;" in needed.body_text
    assert '<html lang="fr">' in needed.body_html
    assert "Examiner et décider" in needed.body_html

    # The approver opens the emailed link: the page is French, its times in Tokyo.
    fr = signed_in(approver)
    link = path_of(approval_link(approver, request))
    shown = content(fr.get(link, HTTP_ACCEPT_LANGUAGE="de"))
    assert '<html lang="fr">' in shown
    assert f"<h1>{requestor} demande Developer tools</h1>" in shown
    assert f"Vous, {approver}, êtes approbateur de cette demande." in shown
    assert "<dt>Justification métier</dt>" in shown
    assert ">En attente d’approbation</span>" in shown
    assert f"{french(request.created_at)}</time>" in shown
    assert "Ce lien est à vous seul et ne fonctionne qu’une fois, jusqu’au" in shown
    assert ">Approuver</button>" in shown
    done = content(fr.post(link, {"decision": "Approve", "stage": "1", "justification": "d’accord"}))
    assert "<h1>Vous avez approuvé cette demande</h1>" in done
    assert "a été approuvée par vous le" in done
    # The same link again: refused, in French.
    again = fr.get(link)
    assert again.status_code == 410
    assert "<h1>Ce lien a déjà été utilisé</h1>" in content(again)
    assert "vous avez approuvé cette demande le" in content(again)

    # Told in German that it was approved, then delivered.
    assert email("request_approved", requestor).subject == "Ihre Anfrage für Developer tools wurde genehmigt"
    deliver()
    request.refresh_from_db()
    delivered = email("request_delivered", requestor)
    assert delivered.subject == "Sie haben jetzt Zugriff auf Developer tools"
    assert delivered.body_text.startswith(f"Hallo {requestor},")
    assert "wurde bereitgestellt." in delivered.body_text
    end = request.assignment.end_at
    assert f"Er endet am {german(end)} {timezone.localtime(end, BERLIN).tzname()}." in delivered.body_text
    assert "In Meine Zugriffe ansehen" in delivered.body_html

    # My Access in German: the access, its state and why it is there.
    mine = content(de.get("/myaccess/access/"))
    assert "<h1>Meine Zugriffe</h1>" in mine
    assert ">Bereitgestellt</span>" in mine
    assert "Warum habe ich das?" in mine
    why = content(de.get(f"/myaccess/access/{request.assignment_id}/?why=1"))
    policy = request.policy
    assert f"{german(request.created_at)}</time> über die Richtlinie {policy} angefordert." in why
    groups = sorted(g.resource_role.resource.display_name for g in request.assignment.grants.all())
    assert f"Mitglied der Gruppe {groups[0]}: nur über Developer tools erhalten." in why
    assert f"Wenn dieser Zugriff endet, verlieren Sie {groups[0]} und {groups[1]}." in why
    assert "Die Richtlinie verlängert ihn ab heute höchstens für 180 Tage." in why
    history = content(de.get(f"/myaccess/requests/{request.pk}/"))
    assert f"Genehmigt (Stufe 1) von {approver}" in history
    assert "<dt>Abgeschlossen am</dt>" in history


def test_an_access_review_reaches_the_reviewer_in_their_language(
    people: tuple[m.User, m.User], developer_tools: m.AccessPackage, deliver
) -> None:
    requestor, approver = people  # the approver is the requestor's manager: they review
    policy = developer_tools.policies.get()
    f.AssignmentFactory(package=developer_tools, policy=policy, target=requestor, state=m.AssignmentState.DELIVERED)
    reviews.save_settings(
        policy,
        reviews.ReviewSpec(
            enabled=True,
            start_at=timezone.now() + timedelta(days=1),
            recurrence=m.ReviewRecurrence.QUARTERLY,
            reviewers=[(m.ReviewerKind.MANAGER, None, False)],
            expiration_behavior=m.ExpirationBehavior.REMOVE,
        ),
        None,
    )
    policy.refresh_from_db()
    with time_machine.travel(policy.review_next_at + timedelta(minutes=1), tick=False):
        assert reviews.start_due_instances() == 1
    instance = m.AccessReviewInstance.objects.get(policy=policy)

    started = email("review_started", approver)
    assert started.subject == (
        f"Révision d’accès de Developer tools : 1 personne à examiner d’ici le {french(instance.end_at)} JST"
    )
    assert "a commencé : veuillez confirmer si la 1 personne que vous examinez" in started.body_text
    assert "Sans décision, l’accès est retiré." in started.body_text  # the policy's behaviour, lazily translated
    assert "Examiner les accès" in started.body_html
    link = re.search(r"https?://\S+/myaccess/reviews/\S+/link/\S+/", started.body_text)
    assert link, started.body_text

    fr = signed_in(approver)
    page = content(fr.get(path_of(link.group(0))))
    assert "<h1>Révision d’accès de Developer tools</h1>" in page
    assert "examinez l’accès de ces personnes jusqu’au <time" in page
    assert f"{french(instance.end_at)}</time>" in page
    assert ">Non examiné</td>" in page  # the decision's label
    row = instance.decisions.get(target=requestor)
    done = content(fr.post(path_of(link.group(0)), {"one": f"{row.pk}:Deny", "justification": "a changé d’équipe"}))
    assert f"<h1>Vous avez refusé l’accès de {requestor}</h1>" in done

    # The list under My Access > Access reviews is French too; the German requestor's is German.
    listing = content(fr.get("/myaccess/reviews/?show=all"))
    assert "<h1>Révisions d’accès</h1>" in listing
    assert ">Refusée</td>" in listing or "Refusée" in listing
    assert "<h1>Zugriffsüberprüfungen</h1>" in content(signed_in(requestor).get("/myaccess/reviews/"))


def test_without_any_setting_the_site_language_and_zone_stay(requestor: m.User, developer_tools) -> None:
    """English stays English, byte for byte: ISO-like times in the site's zone."""
    client = signed_in(requestor)
    answer = client.post(
        reverse("myaccess:request_form", args=[developer_tools.pk]),
        {"justification": "On call", "specific_period": "no"},
        follow=True,
    )
    page = content(answer)
    request = m.AssignmentRequest.objects.get(target=requestor)
    assert '<html lang="en' in page
    assert "Request submitted: what happens next" in page
    assert ">Pending approval</span>" in page
    assert f"{timezone.localtime(request.created_at):%Y-%m-%d %H:%M}</time>" in page
    submitted = email("request_submitted", requestor)
    assert submitted.subject == "Your request for Developer tools was submitted"


def test_refusals_reach_each_person_in_their_language(
    people: tuple[m.User, m.User], developer_tools: m.AccessPackage, admin: m.User, make_package
) -> None:
    """What the services refuse with is what people read: separation of duties for the German
    requestor, the closed approval window for the French approver, and the time-out's reason."""
    requestor, approver = people
    payments = make_package(name="Finance payments")
    separation.add_incompatible_package(admin, payments.pk, developer_tools.pk)
    f.AssignmentFactory(target=requestor, package=payments, policy=payments.policies.get())
    de = signed_in(requestor)
    refused = content(de.post(reverse("myaccess:request_form", args=[developer_tools.pk]), {"justification": "x"}))
    assert "Sie haben Finance payments, was sich nicht mit Developer tools kombinieren lässt." in refused
    m.Assignment.objects.filter(target=requestor, package=payments).delete()

    request = requests.submit_request(requestor, developer_tools.pk, justification="Bereitschaft")
    fr = signed_in(approver)
    with time_machine.travel(request.stage_due_at + timedelta(minutes=1)):
        late = content(fr.get(f"/myaccess/approvals/{request.pk}/"))
        assert (
            f"Le délai de décision de l’étape 1 de cette demande a pris fin le {french(request.stage_due_at)} JST"
            in late
        )
        assert approvals.time_out_due_requests() == 1
    timed_out = email("request_timed_out", requestor)
    assert timed_out.subject == "Ihre Anfrage für Developer tools ist ohne Entscheidung abgelaufen"
    page = content(de.get(f"/myaccess/requests/{request.pk}/"))
    assert "Abgebrochen. Genehmigungsfrist abgelaufen: Niemand hat innerhalb der Frist der Stufe entschieden." in page
    assert "Abgebrochen: Genehmigungsfrist abgelaufen" in page  # the history line


def test_a_link_opened_without_signing_in_speaks_its_owners_language(
    people: tuple[m.User, m.User], developer_tools: m.AccessPackage, settings, client
) -> None:
    """Where links need no sign-in, the page is in the language of the person it was sent to."""
    settings.APPROVAL_LINK_REQUIRES_LOGIN = False
    requestor, approver = people
    request = requests.submit_request(requestor, developer_tools.pk, justification="Bereitschaft")
    page = content(client.get(path_of(approval_link(approver, request)), HTTP_ACCEPT_LANGUAGE="de"))
    assert '<html lang="fr">' in page
    assert f"<h1>{requestor} demande Developer tools</h1>" in page
    assert f"{french(request.created_at)}</time>" in page


def test_text_refusals_are_in_the_readers_language(
    people: tuple[m.User, m.User], developer_tools: m.AccessPackage
) -> None:
    """The free-text checks (services/text.py) are what a person meets on the request form."""
    requestor, _approver = people
    de = signed_in(requestor)
    page = content(de.post(reverse("myaccess:request_form", args=[developer_tools.pk]), {"justification": "a\x01b"}))
    assert "Das Feld „Text“ darf außer Zeilenumbrüchen und Tabulatoren keine Steuerzeichen enthalten." in page
    assert not m.AssignmentRequest.objects.filter(target=requestor).exists()
    with translation.override("fr"), pytest.raises(ValidationFailed) as refused:
        text.clean_text("a\x00b", "justification")
    assert refused.value.message == "Le champ « justification » ne peut pas contenir un caractère NUL."
    with translation.override("de"), pytest.raises(ValidationFailed) as too_long:
        text.clean_text("x" * 4001, "justification")
    assert too_long.value.message == "Das Feld „Begründung“ darf höchstens 4.000 Zeichen lang sein."
    # English stays as it was.
    with translation.override("en"), pytest.raises(ValidationFailed) as english:
        text.clean_text("x" * 4001, "justification")
    assert english.value.message == "The justification can be at most 4,000 characters."
    with translation.override("en"), pytest.raises(ValidationFailed) as answer:
        text.clean_name("", "questions", what="answer to “Which team?”")
    assert answer.value.message == "A answer to “Which team?” is required."
    with translation.override("de"), pytest.raises(ValidationFailed) as answer:
        text.clean_name("", "questions", what="answer to “Which team?”")
    assert answer.value.message == "Das Feld „Antwort auf „Which team?““ ist erforderlich."


@pytest.mark.parametrize(
    ("language", "stored", "shown"),
    [
        ("de", "Has not signed in for 30 days.", "Hat sich seit 30 Tagen nicht angemeldet."),
        ("fr", "Has not signed in for 1 days.", "Ne s’est pas connecté depuis 1 jour."),
        ("de", "Signed in within the last 30 days.", "Hat sich in den letzten 30 Tagen angemeldet."),
        ("de", "The account is disabled.", "Das Konto ist deaktiviert."),
        ("en", "Has not signed in for 30 days.", "Has not signed in for 30 days."),
    ],
)
def test_a_stored_recommendation_reason_is_shown_in_the_readers_language(language: str, stored: str, shown: str):
    with translation.override(language):
        assert portal_tags.stored_reason(stored) == shown
