"""The online services' JSON API under /api/v1/services/: one router per area, joined here."""

from ninja import Router

from zhengtong.services.api.applications import router as applications_router
from zhengtong.services.api.items import router as items_router
from zhengtong.services.api.tasks import router as tasks_router

router = Router()
router.add_router("/", items_router)
router.add_router("/", applications_router)
router.add_router("/", tasks_router)
