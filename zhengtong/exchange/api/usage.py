"""usage API (being built)."""

from ninja import Router

router = Router(tags=["usage"])
