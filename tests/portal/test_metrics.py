"""`/metrics` (DESIGN §9): Prometheus text, loopback only, figures read from the database."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from governance import models as m
from governance.services import metrics, requests
from tests import factories as f

pytestmark = pytest.mark.django_db


def scrape(address: str = "127.0.0.1") -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client(REMOTE_ADDR=address).get("/metrics")
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


class TestRestriction:
    @pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.7", "2001:db8::1", "not-an-ip"])
    def test_anyone_else_gets_the_404_page(self, address: str) -> None:
        response = Client(REMOTE_ADDR=address).get("/metrics")
        assert response.status_code == 404
        assert b"portcullis_" not in response.content

    def test_a_signed_in_administrator_from_elsewhere_gets_404_too(self, admin: m.User) -> None:
        client = Client(REMOTE_ADDR="10.1.2.3")
        client.force_login(admin)
        assert client.get("/metrics").status_code == 404

    def test_loopback_v4_and_v6_by_default(self) -> None:
        assert scrape("127.0.0.1")
        assert scrape("::1")

    def test_allowed_networks_come_from_settings(self, settings: Any) -> None:
        settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "not a network"]
        assert scrape("10.1.2.3")
        assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 404

    def test_a_forwarded_header_is_not_trusted(self) -> None:
        response = Client(REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="127.0.0.1").get("/metrics")
        assert response.status_code == 404


class TestValues:
    def test_an_idle_installation(self) -> None:
        samples = scrape()
        assert samples[("portcullis_grants_pending", (("operation", "grant"),))] == 0
        assert samples[("portcullis_grants_pending", (("operation", "revoke"),))] == 0
        assert samples[("portcullis_grants_oldest_pending_age_seconds", ())] == 0
        assert samples[("portcullis_time_to_access_seconds_count", ())] == 0
        assert samples[("portcullis_outbox_depth", ())] == 0

    def test_after_a_real_delivery(self, make_package: Any, deliver: Any, catalog: m.Catalog) -> None:
        package = make_package(roles=1)
        people = [f.UserFactory() for _ in range(3)]
        submitted = timezone.now()
        with time_machine.travel(submitted, tick=False):
            made = [requests.submit_request(person, package.pk) for person in people]
        # A package whose role points at a group that does not exist: its grant fails.
        broken = make_package(roles=0)
        role = f.ResourceRoleFactory(resource__catalog=catalog, resource__origin_id=str(uuid.uuid4()))
        f.PackageResourceRoleFactory(package=broken, resource_role=role)
        with time_machine.travel(submitted, tick=False):
            requests.submit_request(f.UserFactory(), broken.pk)

        with time_machine.travel(submitted + timedelta(seconds=90), tick=False):
            before = scrape()
            assert before[("portcullis_grants_pending", (("operation", "grant"),))] == 4
            assert before[("portcullis_grants_oldest_pending_age_seconds", ())] == pytest.approx(90, abs=1)
            assert before[("portcullis_time_to_access_seconds_count", ())] == 0
        with time_machine.travel(submitted + timedelta(seconds=0.4), tick=False):
            deliver()

        assert {r.state for r in m.AssignmentRequest.objects.filter(pk__in=[r.pk for r in made])} == {"delivered"}
        after = scrape()
        assert after[("portcullis_grants_pending", (("operation", "grant"),))] == 0
        assert after[("portcullis_grants_oldest_pending_age_seconds", ())] == 0
        # Three requests gave access, each 0.4 s after it was submitted; the failed one is not counted.
        assert after[("portcullis_time_to_access_seconds_count", ())] == 3
        assert after[("portcullis_time_to_access_seconds_sum", ())] == pytest.approx(1.2)
        assert after[("portcullis_time_to_access_seconds_bucket", (("le", "0.25"),))] == 0
        assert after[("portcullis_time_to_access_seconds_bucket", (("le", "0.5"),))] == 3
        assert after[("portcullis_time_to_access_seconds_bucket", (("le", "+Inf"),))] == 3
        connector = role.resource.connector
        label = (("connector", connector.display_name), ("kind", connector.kind))
        assert after[("portcullis_delivery_attempts_total", (*label, ("outcome", "permanent")))] == 1
        assert after[("portcullis_delivery_attempts_total", (*label, ("outcome", "success")))] == 3
        # Emails written by the delivery (the "access granted" ones) wait in the outbox.
        assert after[("portcullis_outbox_depth", ())] == m.OutboundEmail.objects.filter(sent_at=None).count() > 0

    def test_observations_accumulate_in_the_right_buckets(self) -> None:
        metrics.observe("t", (1.0, 2.0), [0.5, 1.5, 1.5, 9.0])
        metrics.observe("t", (1.0, 2.0), [2.0])
        histogram = metrics.read_histogram("t", (1.0, 2.0))
        assert histogram.cumulative == [1, 4, 5]
        assert histogram.total == pytest.approx(14.5)
        assert histogram.quantile(0.5) == 2.0
        assert histogram.quantile(1.0) == float("inf")

    def test_beat_jobs_last_success(self, monkeypatch: pytest.MonkeyPatch) -> None:
        at = timezone.now().replace(microsecond=0)
        monkeypatch.setattr(metrics, "beat_last_successes", lambda: {"expire-assignments": at, "check-drift": None})
        samples = scrape()
        key = ("portcullis_beat_job_last_success_timestamp_seconds", (("job", "expire-assignments"),))
        assert samples[key] == at.timestamp()
        assert not [k for k in samples if k[1] == (("job", "check-drift"),)]

    def test_every_beat_job_is_known_even_before_any_ran(self) -> None:
        from django.conf import settings

        assert set(metrics.beat_last_successes()) >= set(settings.CELERY_BEAT_SCHEDULE)
