"""`zhengtong worker`: runs background tasks from the database queue."""

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run background tasks (django-tasks database backend)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls of the queue")
        parser.add_argument("--batch", action="store_true", help="process what is queued, then stop")

    def handle(self, *args: Any, interval: float, batch: bool, **options: Any) -> None:
        call_command("db_worker", interval=interval, batch=batch)
