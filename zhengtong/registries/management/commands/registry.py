"""`zhengtong registry rotate-keys|rewrap-keys`: the operator's key management for registry encryption."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from zhengtong.core.crypto import DecryptionFailed
from zhengtong.core.errors import DomainError
from zhengtong.registries import actions, keys
from zhengtong.registries.models import Registry


class Command(BaseCommand):
    help = "Rotate registry data keys, or re-wrap them after the key-encryption key changed."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        rotate = sub.add_parser("rotate-keys", help="a new data key per registry; every sealed value is re-sealed")
        which = rotate.add_mutually_exclusive_group(required=True)
        which.add_argument("--registry", help="registry code")
        which.add_argument("--all", action="store_true", help="every registry")
        rewrap = sub.add_parser(
            "rewrap-keys",
            help="after changing ZHENGTONG_KEY_ENCRYPTION_KEY or var/keys/key-encryption.key: wrap every key that "
                 "the previous key-encryption key wrapped under the current one",
        )
        rewrap.add_argument("--previous-key-file", required=True, type=Path,
                            help="file holding the previous key-encryption key (64 hex digits or base64)")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        if verb == "rotate-keys":
            registries = Registry.objects.all() if options["all"] else Registry.objects.filter(code=options["registry"])
            if not registries.exists():
                raise CommandError(f"--registry: no registry has the code {options['registry']!r}")
            for registry in registries:
                try:
                    count = actions.rotate_data_key(None, registry)
                except DomainError as error:
                    raise CommandError(error.message) from None
                self.stdout.write(f"{registry.code}: new data key; {count} records re-sealed")
            return
        try:
            previous = keys.read_key_material(options["previous_key_file"].read_text())
        except (OSError, ValueError) as error:
            raise CommandError(f"--previous-key-file: {error}") from None
        try:
            moved = actions.rewrap_keys(previous)
        except DecryptionFailed:
            raise CommandError("--previous-key-file: this key does not open the keys it claims to wrap") from None
        self.stdout.write(f"{moved} keys re-wrapped under the current key-encryption key")
