"""The `zhengtong` command: Django's management commands with the platform's settings.

`zhengtong serve`, `worker`, `demo`, `createadmin`, `apiclient`, `totp`, `check`, `migrate`, ... — run
`zhengtong help` for the list.
"""

import os
import sys
from pathlib import Path

from zhengtong.config import ConfigError, load_config


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhengtong.settings")
    try:
        # Checked here first so a bad setting is reported plainly, not as a traceback.
        load_config(os.environ, default_var_dir=Path(__file__).resolve().parent.parent / "var")
    except ConfigError as error:
        print(f"zhengtong: {error}", file=sys.stderr)
        sys.exit(2)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["zhengtong", *sys.argv[1:]])
