"""Where tests find the GovStack specs: they live in the team's workspace beside the checkout (../shared/specs),
not in the repository. ZHENGTONG_SPECS_DIR names another place, e.g. for a checkout cloned elsewhere."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
CANDIDATES = (os.environ.get("ZHENGTONG_SPECS_DIR", ""), str(REPOSITORY.parent / "shared/specs"), "/work/shared/specs")


def specs_dir() -> Path:
    for candidate in CANDIDATES:
        if candidate and Path(candidate, "govstack").is_dir():
            return Path(candidate)
    raise FileNotFoundError(f"No GovStack specs in any of {[c for c in CANDIDATES if c]}; set ZHENGTONG_SPECS_DIR.")


def govstack_spec(relative: str) -> dict[str, Any]:
    """The parsed OpenAPI document at specs/govstack/<relative> (JSON, or YAML; some JSON specs are indented
    with tabs, which YAML refuses)."""
    with (specs_dir() / "govstack" / relative).open(encoding="utf-8") as stream:
        if relative.endswith(".json"):
            return json.load(stream)
        return yaml.safe_load(stream)
