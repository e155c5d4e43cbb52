"""The exchange's JSON API under /api/v1/: one router per area, joined here."""

from ninja import Router

from zhengtong.exchange.api.objections import router as objections_router
from zhengtong.exchange.api.sharing import router as sharing_router
from zhengtong.exchange.api.subscriptions import router as subscriptions_router
from zhengtong.exchange.api.usage import router as usage_router

router = Router()
router.add_router("/", sharing_router)
router.add_router("/", usage_router)
router.add_router("/", subscriptions_router)
router.add_router("/", objections_router)
