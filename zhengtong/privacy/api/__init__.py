"""The privacy center's JSON API under /api/v1/privacy/: one router per area, joined here."""

from ninja import Router

from zhengtong.privacy.api.accesses import router as accesses_router
from zhengtong.privacy.api.cases import router as cases_router
from zhengtong.privacy.api.consent import router as consent_router
from zhengtong.privacy.api.notices import router as notices_router

router = Router()
router.add_router("/", notices_router)
router.add_router("/", consent_router)
router.add_router("/", accesses_router)
router.add_router("/", cases_router)
