"""`zhengtong demo`: migrate, seed the demo city 云溪市, print its logins, then serve it with a worker.

    zhengtong demo [--no-serve] [--host 127.0.0.1] [--port 8000] [--citizens N] [--businesses N] [--seed N]

Running it again adds nothing twice: the seed is reproducible and looks every row up by its natural key.
"""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from zhengtong.catalog.demo import seed_catalog
from zhengtong.exchange.demo import clients_text, seed_sharing
from zhengtong.exchange.demo_objections import seed_objections
from zhengtong.exchange.demo_proxy import seed_proxy
from zhengtong.exchange.demo_subscriptions import seed_subscriptions
from zhengtong.exchange.demo_usage import seed_usage
from zhengtong.identity.demo import DEFAULT_SEED, DemoSummary, seed_demo_city
from zhengtong.privacy.demo import seed_consent
from zhengtong.privacy.demo_accesses import seed_accesses
from zhengtong.privacy.demo_cases import seed_cases
from zhengtong.privacy.demo_notices import seed_notices
from zhengtong.registries.demo import seed_registries
from zhengtong.services.demo import seed_services

WORKER_STOP_SECONDS = 10


def _width(text: str) -> int:
    """Columns a terminal gives the text: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in ("W", "F") else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def logins_table(summary: DemoSummary) -> str:
    """The persona logins as an aligned plain-text table."""
    header = ("persona 角色", "username 用户名", "password 密码", "department 部门", "second factor 动态码")
    rows = [header] + [
        (login.label, login.username, summary.password, login.department or "—",
         login.second_factor or "none (citizens log in with the password)")
        for login in summary.logins
    ]
    widths = [max(_width(row[column]) for row in rows) for column in range(len(header))]
    lines = ["  ".join(_pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Set up the synthetic demo city 云溪市 (migrate and seed), print its logins and serve it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-serve", action="store_true", help="seed and print the logins, then stop")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--citizens", type=int, default=20000, help="how many citizens (default 20000)")
        parser.add_argument("--businesses", type=int, default=3000, help="how many businesses (default 3000)")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the same seed gives the same city")

    def handle(self, *args: Any, no_serve: bool, host: str, port: int, citizens: int, businesses: int,
               seed: int, **options: Any) -> None:
        if citizens < 0:
            raise CommandError("--citizens: must not be negative")
        if businesses < 0:
            raise CommandError("--businesses: must not be negative")
        if businesses and not citizens:
            raise CommandError("--businesses: businesses need citizens as legal representatives; "
                               "use --citizens 1 or more")
        verbosity = options.get("verbosity", 1)
        self.stdout.write("Applying database migrations ...")
        call_command("migrate", interactive=False, verbosity=max(verbosity - 1, 0), stdout=self.stdout)
        self.stdout.write("Seeding the demo city 云溪市 (Yunxi) ...")
        summary = seed_demo_city(citizens=citizens, businesses=businesses, seed=seed, progress=verbosity >= 1)
        self.stdout.write(
            f"Added {summary.divisions} divisions, {summary.departments} departments, {summary.staff} staff, "
            f"{summary.citizens} citizens, {summary.businesses} businesses, {summary.accounts} citizen login(s) "
            f"in {summary.seconds:.1f} s (seed {summary.seed}; seeding again adds nothing twice)."
        )
        self.stdout.write(seed_registries(seed=seed, progress=verbosity >= 1).describe())
        self.stdout.write(seed_catalog().describe())
        self.stdout.write(seed_notices(seed=seed).describe())
        self.stdout.write(seed_consent(seed=seed).describe())
        sharing = seed_sharing(seed=seed)
        self.stdout.write(sharing.describe())
        # Before the accesses and cases: a second run would otherwise add reads for the services' new logins.
        self.stdout.write(seed_services(seed=seed, progress=verbosity >= 1).describe())
        self.stdout.write(seed_proxy(seed=seed, base_url=f"http://{host}:{port}").describe())
        self.stdout.write(seed_subscriptions(seed=seed).describe())
        self.stdout.write(seed_objections(seed=seed).describe())
        self.stdout.write(seed_usage(seed=seed).describe())
        self.stdout.write(seed_accesses(seed=seed).describe())
        self.stdout.write(seed_cases(seed=seed).describe())
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Demo logins 演示账号") + f" (password for all: {summary.password})")
        self.stdout.write(logins_table(summary))
        self.stdout.write("")
        self.stdout.write("Staff log in with the password, then the 6-digit code that "
                          "`.venv/bin/zhengtong totp <username>` prints in the project folder; it changes every "
                          "30 seconds.")
        self.stdout.write("")
        self.stdout.write(clients_text(sharing, f"http://{host}:{port}"))
        if no_serve:
            return
        self._serve(host, port)

    def _serve(self, host: str, port: int) -> None:
        # The demo's department API (exchange/demo_proxy.py) is served by this same server, on loopback, which
        # the gateway otherwise refuses to call.
        settings.PROXY_ALLOWED_NETWORKS = [*settings.PROXY_ALLOWED_NETWORKS, "127.0.0.1/32"]
        # The worker runs background tasks; it inherits this process's environment (database, var directory).
        worker = subprocess.Popen([sys.executable, "-m", "zhengtong", "worker"])  # noqa: S603
        self.stdout.write(f"Started the background worker (pid {worker.pid}).")
        parent = os.getpid()
        try:
            call_command("serve", host=host, port=port)
        except KeyboardInterrupt:
            pass
        finally:
            # gunicorn forks its web workers inside `serve`, and each leaves through SystemExit up this same
            # stack; only the process that started the background worker stops it.
            if os.getpid() == parent:
                self._stop(worker)

    def _stop(self, worker: subprocess.Popen[bytes]) -> None:
        worker.terminate()
        try:
            worker.wait(timeout=WORKER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        self.stdout.write("Stopped the background worker.")
