"""Form tokens: how long the portal remembers that a form was sent (views/outcomes.py).

A token row only has to outlive a reload of the result page; the beat job
``purge-form-submissions`` deletes older ones so the table stays small.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from governance.models import ClientRequestKey, FormSubmission

# Long enough to cover a reload of the result page; short enough to keep the table small.
SUBMISSION_MEMORY = timedelta(days=1)


def purge_form_submissions(now: datetime | None = None) -> int:
    """Forget the tokens of forms sent more than :data:`SUBMISSION_MEMORY` ago."""
    cutoff = (now or timezone.now()) - SUBMISSION_MEMORY
    deleted, _ = FormSubmission.objects.filter(created_at__lt=cutoff).delete()
    # The API's client-request-id answers a retry for as long as a form token does.
    keys, _ = ClientRequestKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted + keys
