"""The Celery application: `celery -A portal worker` and `celery -A portal beat`."""

import os

from celery import Celery

from portal import heartbeats, logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The web request's id rides in each task's headers, and is on every line the task logs.
logs.connect_celery_signals()
# Workers and beat write heartbeats, and beat jobs' runs are recorded (System health).
heartbeats.connect_celery_signals()
