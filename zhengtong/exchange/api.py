"""JSON API of sharing requests and grants, under /api/v1/sharing/."""

from ninja import Router

router = Router(tags=["sharing"])
