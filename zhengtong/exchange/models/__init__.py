"""The exchange's data, one module per area: sharing requests, grants and consent (sharing), proxied department
APIs and their circuit breakers (proxy), usage statistics (usage), subscriptions and webhook deliveries
(subscriptions), data objections (objections)."""

from zhengtong.exchange.models.objections import *  # noqa: F403
from zhengtong.exchange.models.proxy import *  # noqa: F403
from zhengtong.exchange.models.sharing import *  # noqa: F403
from zhengtong.exchange.models.subscriptions import *  # noqa: F403
from zhengtong.exchange.models.usage import *  # noqa: F403
