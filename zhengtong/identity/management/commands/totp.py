"""`zhengtong totp USER`: the current second-factor code of a demo staff account.

For the demo city only: it refuses unless the account was created by the demo seed, so it can never stand in
for a real person's authenticator.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from zhengtong.identity import totp
from zhengtong.identity.models import User


class Command(BaseCommand):
    help = "Print the current TOTP code of a demo staff account."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"username: no account is called {username!r}")
        if not user.is_demo:
            raise CommandError(f"username: {username!r} is not a demo account; use its authenticator app")
        if not user.totp_secret:
            raise CommandError(f"username: {username!r} has no second factor yet")
        self.stdout.write(totp.current_code(user.totp_secret))
