"""`zhengtong worker`: background tasks from the database queue, the audit trail's sequencer beside them, and
the periodic work that nobody asks for (the anomaly rules; the deadlines of sharing requests, data objections,
citizens' objections, correction requests and applications; the timers of running processes; collecting the
changes subscriptions follow and delivering their webhooks)."""

import threading
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django_tasks.base import Task

from zhengtong.audit.sequencer import Sequencer
from zhengtong.audit.tasks import evaluate_recent_anomalies
from zhengtong.exchange.tasks import (
    check_objection_deadlines,
    check_sharing_deadlines,
    collect_subscription_changes,
    deliver_webhooks,
)
from zhengtong.privacy.tasks import check_case_deadlines
from zhengtong.services.tasks import check_application_deadlines, fire_workflow_timers

ANOMALY_INTERVAL_SECONDS = 60.0
# Reminders and overdue notices are sent once per deadline, so checking often only makes them prompt.
DEADLINE_INTERVAL_SECONDS = 15 * 60.0
# Subscribers expect changes within a minute; both tasks are safe to run in several workers at once.
COLLECT_INTERVAL_SECONDS = 30.0
DELIVERY_INTERVAL_SECONDS = 15.0
# Process timers count in days; a minute late is on time.
TIMER_INTERVAL_SECONDS = 60.0
PERIODIC = ((evaluate_recent_anomalies, ANOMALY_INTERVAL_SECONDS, "anomalies"),
            (check_sharing_deadlines, DEADLINE_INTERVAL_SECONDS, "sharing-deadlines"),
            (check_objection_deadlines, DEADLINE_INTERVAL_SECONDS, "objection-deadlines"),
            (check_case_deadlines, DEADLINE_INTERVAL_SECONDS, "privacy-case-deadlines"),
            (check_application_deadlines, DEADLINE_INTERVAL_SECONDS, "application-deadlines"),
            (fire_workflow_timers, TIMER_INTERVAL_SECONDS, "workflow-timers"),
            (collect_subscription_changes, COLLECT_INTERVAL_SECONDS, "subscription-changes"),
            (deliver_webhooks, DELIVERY_INTERVAL_SECONDS, "webhook-deliveries"))


def _schedule(periodic_task: Task[[], Any], interval: float, stop: threading.Event) -> None:
    while not stop.is_set():
        periodic_task.enqueue()
        stop.wait(interval)


class Command(BaseCommand):
    help = ("Run background tasks (django-tasks database backend), the audit sequencer, the anomaly rules, the "
            "deadlines of sharing requests, objections, corrections and applications, process timers and "
            "subscription deliveries.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls of the task queue")
        parser.add_argument("--batch", action="store_true",
                            help="sequence the audit trail, check anomalies and deadlines, run what is queued, "
                                 "then stop")
        parser.add_argument("--no-sequencer", action="store_true",
                            help="leave audit sequencing to another worker")

    def handle(self, *args: Any, interval: float, batch: bool, no_sequencer: bool, **options: Any) -> None:
        if batch:
            if not no_sequencer:
                sequencer = Sequencer()
                while sequencer.step():
                    pass
            for periodic_task, _interval, _name in PERIODIC:
                periodic_task.enqueue()
            call_command("db_worker", interval=interval, batch=True)
            return
        stop = threading.Event()
        threads = [threading.Thread(target=_schedule, args=(periodic_task, every, stop), name=name, daemon=True)
                   for periodic_task, every, name in PERIODIC]
        if not no_sequencer:
            threads.append(threading.Thread(target=Sequencer().run, args=(stop,), name="audit-sequencer",
                                            daemon=True))
        for thread in threads:
            thread.start()
        try:
            call_command("db_worker", interval=interval)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
