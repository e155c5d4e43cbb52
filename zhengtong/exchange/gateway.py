"""The gateway: department systems read registry records through the one door, under /api/v1/gateway/."""

from ninja import Router

router = Router(tags=["gateway"])
