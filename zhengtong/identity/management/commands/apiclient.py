"""`zhengtong apiclient create|list|revoke`: credentials for department systems."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from zhengtong.core.errors import DomainError
from zhengtong.identity import actions
from zhengtong.identity.models import ApiClient, Department


class Command(BaseCommand):
    help = "Manage API clients of department systems."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        create = sub.add_parser("create", help="issue a credential; it is printed once")
        create.add_argument("--department", required=True, help="department code")
        create.add_argument("--name", required=True, help="name of the calling system")
        sub.add_parser("list", help="list clients")
        revoke = sub.add_parser("revoke", help="revoke a client's credential")
        revoke.add_argument("key_id")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        if verb == "create":
            department = Department.objects.filter(code=options["department"]).first()
            if department is None:
                raise CommandError(f"--department: no department has the code {options['department']!r}")
            try:
                issued = actions.create_api_client(None, department=department, name=options["name"])
            except DomainError as error:
                raise CommandError(error.message) from None
            self.stdout.write(f"API client {issued.client.name} of {department.name} ({department.code})")
            self.stdout.write("Credential (shown once, store it now):")
            self.stdout.write(issued.credential)
            self.stdout.write(f"Use it as: Authorization: Bearer {issued.credential}")
        elif verb == "list":
            for client in ApiClient.objects.select_related("department"):
                state = "revoked" if client.revoked_at else "active"
                used = client.last_used_at.isoformat() if client.last_used_at else "never used"
                self.stdout.write(f"{client.key_id}  {client.department.code}  {client.name}  {state}  {used}")
        else:
            revoked = ApiClient.objects.filter(key_id=options["key_id"]).first()
            if revoked is None:
                raise CommandError(f"key_id: no API client has the key id {options['key_id']!r}")
            actions.revoke_api_client(None, revoked)
            self.stdout.write(f"Revoked {revoked.name} ({revoked.key_id})")
