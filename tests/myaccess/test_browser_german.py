"""Issue 21, translations, in a real browser: a German person's My Access is German from the
menu to the request it submits, says so in <html lang>, and passes axe-core on every page."""

from __future__ import annotations

import re

import pytest

from governance import models as m
from tests import factories as f
from tests.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_german_persons_my_access_is_german_and_accessible(page, requestor, approver, make_package):
    requestor.preferred_language = "de"
    requestor.time_zone = "Europe/Berlin"
    requestor.save()
    make_package(name="Team wiki", approvers=[approver], description="Die Wissensbasis des Teams.")
    delivered = make_package(name="Build dashboards")
    f.AssignmentFactory(
        package=delivered, policy=delivered.policies.get(), target=requestor, state=m.AssignmentState.DELIVERED
    )
    sign_in(page, "requestor")  # the sign-in page follows the browser (English); then the person's setting

    page.goto("/myaccess/")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_role("heading", level=1, name="Zugriff anfordern").is_visible()
    menu = page.get_by_role("navigation", name="Menü")
    for label in ("Meine Zugriffe", "Meine Anfragen", "Genehmigungen", "Zugriffsüberprüfungen", "Einstellungen"):
        assert menu.get_by_role("link", name=label).is_visible()

    page.get_by_role("link", name="Team wiki").click()
    page.get_by_role("link", name="Anfordern", exact=True).click()
    page.get_by_label("Geschäftliche Begründung").fill("Für die Bereitschaft")
    page.get_by_role("button", name="Absenden").click()
    page.wait_for_url(re.compile(r"/myaccess/requests/"))
    assert page.get_by_text("Anfrage gesendet: So geht es weiter").is_visible()
    assert page.get_by_text("Genehmigung ausstehend").first.is_visible()
    assert page.get_by_role("heading", name="Verlauf").is_visible()

    page.goto("/myaccess/access/")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_role("heading", level=1, name="Meine Zugriffe").is_visible()
    assert page.get_by_role("table", name="Meine Zugriffe").get_by_text("Bereitgestellt").is_visible()
    page.get_by_role("link", name="Warum habe ich das?").click()
    assert page.get_by_role("heading", name="Warum habe ich das?").is_visible()
    assert page.get_by_role("button", name="Meinen Zugriff entfernen").is_visible()

    page.goto("/myaccess/reviews/")
    assert page.get_by_text("Niemand wartet auf Ihre Überprüfung.").is_visible()
