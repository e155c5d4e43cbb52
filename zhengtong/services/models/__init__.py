"""Online services, one module per area: service items and their materials (items), processes and decision
tables (definitions), applications with their materials and clock pauses (applications), staff tasks and their
comments (tasks), notifications to applicants and staff (notifications)."""

from zhengtong.services.models.applications import *  # noqa: F403
from zhengtong.services.models.definitions import *  # noqa: F403
from zhengtong.services.models.items import *  # noqa: F403
from zhengtong.services.models.notifications import *  # noqa: F403
from zhengtong.services.models.tasks import *  # noqa: F403
