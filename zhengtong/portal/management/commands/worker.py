"""`zhengtong worker`: background tasks from the database queue, and the audit trail's sequencer beside them."""

import threading
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from zhengtong.audit.sequencer import Sequencer


class Command(BaseCommand):
    help = "Run background tasks (django-tasks database backend) and the audit sequencer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls of the task queue")
        parser.add_argument("--batch", action="store_true",
                            help="sequence what is in the audit trail and run what is queued, then stop")
        parser.add_argument("--no-sequencer", action="store_true",
                            help="leave audit sequencing to another worker")

    def handle(self, *args: Any, interval: float, batch: bool, no_sequencer: bool, **options: Any) -> None:
        if batch:
            if not no_sequencer:
                sequencer = Sequencer()
                while sequencer.step():
                    pass
            call_command("db_worker", interval=interval, batch=True)
            return
        stop = threading.Event()
        thread = None
        if not no_sequencer:
            thread = threading.Thread(target=Sequencer().run, args=(stop,), name="audit-sequencer", daemon=True)
            thread.start()
        try:
            call_command("db_worker", interval=interval)
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=10)
