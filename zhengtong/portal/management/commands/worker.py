"""`zhengtong worker`: background tasks from the database queue, the audit trail's sequencer beside them, and
the periodic work that nobody asks for (the anomaly rules)."""

import threading
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from zhengtong.audit.sequencer import Sequencer
from zhengtong.audit.tasks import evaluate_recent_anomalies

ANOMALY_INTERVAL_SECONDS = 60.0


def _schedule_anomaly_checks(stop: threading.Event) -> None:
    while not stop.is_set():
        evaluate_recent_anomalies.enqueue()
        stop.wait(ANOMALY_INTERVAL_SECONDS)


class Command(BaseCommand):
    help = "Run background tasks (django-tasks database backend), the audit sequencer and the anomaly rules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls of the task queue")
        parser.add_argument("--batch", action="store_true",
                            help="sequence the audit trail, check anomalies, run what is queued, then stop")
        parser.add_argument("--no-sequencer", action="store_true",
                            help="leave audit sequencing to another worker")

    def handle(self, *args: Any, interval: float, batch: bool, no_sequencer: bool, **options: Any) -> None:
        if batch:
            if not no_sequencer:
                sequencer = Sequencer()
                while sequencer.step():
                    pass
            evaluate_recent_anomalies.enqueue()
            call_command("db_worker", interval=interval, batch=True)
            return
        stop = threading.Event()
        threads = [threading.Thread(target=_schedule_anomaly_checks, args=(stop,), name="anomalies", daemon=True)]
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
