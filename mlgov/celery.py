"""Celery("mlgov"). Without CELERY_BROKER_URL / REDIS_URL, tasks run eagerly in-process."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlgov.settings")

app = Celery("mlgov")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
