"""The "Email this link" service, and how audit details read in the log."""

from __future__ import annotations

import pytest

from governance import models as m
from governance.errors import NotAllowed, NotFound, ValidationFailed
from governance.services import sharing
from governance.templatetags.listing import audit_details
from tests import factories as f

pytestmark = pytest.mark.django_db


class TestEmailPackageLink:
    def test_sends_one_email_per_person_through_the_outbox(self, make_package, pkg_manager) -> None:
        package = make_package(name="Developer tools")
        people = [f.UserFactory(), f.UserFactory()]
        sent = sharing.email_package_link(pkg_manager, package.pk, [p.pk for p in people], "See you there")
        assert sent == 2
        emails = m.OutboundEmail.objects.filter(kind="package_link")
        assert {e.to_address for e in emails} == {p.email for p in people}
        assert all("See you there" in e.body_text for e in emails)
        event = m.AuditEvent.objects.get(action="package.link_shared")
        assert sorted(event.data["recipients"]) == sorted(p.username for p in people)

    def test_refusals(self, make_package, pkg_manager, catalog_reader, outsider) -> None:
        package = make_package()
        person = f.UserFactory()
        before = m.OutboundEmail.objects.count(), m.AuditEvent.objects.count()
        with pytest.raises(ValidationFailed):
            sharing.email_package_link(pkg_manager, package.pk, [])
        with pytest.raises(ValidationFailed):
            sharing.email_package_link(pkg_manager, package.pk, ["not-a-uuid"])
        nameless = f.UserFactory(email="")
        with pytest.raises(ValidationFailed) as refused:
            sharing.email_package_link(pkg_manager, package.pk, [nameless.pk])
        assert refused.value.field == "recipients"
        with pytest.raises(NotAllowed):
            sharing.email_package_link(catalog_reader, package.pk, [person.pk])  # may see it, may not assign
        with pytest.raises(NotFound):
            sharing.email_package_link(outsider, package.pk, [person.pk])
        with pytest.raises(NotAllowed):
            # An application token acts for nobody: it holds a role but is not a person.
            sharing.email_package_link(f.ApiClientFactory(), package.pk, [person.pk])
        assert (m.OutboundEmail.objects.count(), m.AuditEvent.objects.count()) == before


def test_audit_details_read_as_pairs() -> None:
    assert audit_details({"changes": {"is_hidden": [False, True]}, "role": "Member"}) == (
        "is_hidden: False → True · role: Member"
    )
    assert audit_details({"domains": ["a.example", "b.example"]}) == "domains: a.example, b.example"
    assert audit_details({"changes": {"odd": "value"}}) == "odd: value"
    assert audit_details({}) == ""
