"""The `zhengtong` command: Django's management commands with the platform's settings.

`zhengtong serve`, `worker`, `demo`, `createadmin`, `apiclient`, `totp`, `check`, `migrate`, ... — run
`zhengtong help` for the list.
"""

import os
import shutil
import sys
from pathlib import Path

from zhengtong.config import PREFIX, ConfigError, load_config

# Commands that start the multi-process web server.
SERVING_COMMANDS = {"serve", "demo"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhengtong.settings")
    try:
        # Checked here first so a bad setting is reported plainly, not as a traceback.
        config = load_config(os.environ, default_var_dir=Path(__file__).resolve().parent.parent / "var")
    except ConfigError as error:
        print(f"zhengtong: {error}", file=sys.stderr)
        sys.exit(2)
    if len(sys.argv) > 1 and sys.argv[1] in SERVING_COMMANDS:
        _share_metrics_between_processes(config[PREFIX + "VAR_DIR"] / "prometheus")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["zhengtong", *sys.argv[1:]])


def _share_metrics_between_processes(directory: Path) -> None:
    """Server processes write metrics to files here and /metrics sums them.

    prometheus_client reads PROMETHEUS_MULTIPROC_DIR when a metric is created, so this must happen before
    Django imports the platform's modules.
    """
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
