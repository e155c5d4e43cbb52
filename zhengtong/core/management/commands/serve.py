"""`zhengtong serve`: the production server (gunicorn), not Django's development server."""

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from gunicorn.app.base import BaseApplication


class PlatformServer(BaseApplication):
    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from zhengtong.wsgi import application

        return application


class Command(BaseCommand):
    help = "Serve the platform with gunicorn."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=min(4, (os.cpu_count() or 1) * 2))
        parser.add_argument("--threads", type=int, default=4)

    def handle(self, *args: Any, host: str, port: int, workers: int, threads: int, **options: Any) -> None:
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            raise CommandError("start the server with the `zhengtong serve` command, which prepares the shared "
                               "metrics directory before Django loads")
        self.stdout.write(f"Serving Zhengtong on http://{host}:{port}/ with {workers} workers")
        PlatformServer({
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": 60,
            "accesslog": None,  # requests are logged as JSON by RequestIdMiddleware
            "child_exit": _mark_process_dead,
        }).run()


def _mark_process_dead(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
