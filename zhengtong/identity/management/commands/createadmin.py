"""`zhengtong createadmin`: a platform administrator, who enrols a second factor at first login."""

import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from zhengtong.core.errors import DomainError
from zhengtong.identity import actions
from zhengtong.identity.models import Department


class Command(BaseCommand):
    help = "Create a platform administrator. The password comes from a prompt or ZHENGTONG_ADMIN_PASSWORD_FILE."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--name", default="", help="full name")
        parser.add_argument("--department", required=True, help="code of the department the admin belongs to")
        parser.add_argument("--password-file", help="read the password from this file instead of a prompt")

    def handle(self, *args: Any, username: str, name: str, department: str, password_file: str | None,
               **options: Any) -> None:
        home = Department.objects.filter(code=department).first()
        if home is None:
            raise CommandError(f"--department: no department has the code {department!r}")
        if password_file:
            with open(os.path.expanduser(password_file)) as handle:
                password = handle.read().strip()
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("password: the two entries differ")
        try:
            user = actions.create_admin(username=username, password=password, department=home, full_name=name)
        except DomainError as error:
            raise CommandError("; ".join(f"{d.field}: {d.reason}" for d in error.details) or error.message) from None
        self.stdout.write(self.style.SUCCESS(
            f"Created administrator {user.username}. At first login they set up their authenticator app."))
