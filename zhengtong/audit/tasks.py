"""Background work of the audit app, run by `zhengtong worker`."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tasks import task

from zhengtong.audit import anomalies

RECENT = dt.timedelta(hours=2)


@task()
def evaluate_recent_anomalies() -> int:
    """Run the anomaly rules over the last two hours; returns how many alerts are new. Alerts already raised
    are not raised again, so overlapping runs are harmless."""
    now = timezone.now()
    return anomalies.evaluate_anomalies(now - RECENT, now)
