"""Every change of exchange state, as a named verb, one module per area: sharing requests, grants and consent
(sharing), subscriptions and deliveries (subscriptions), data objections (objections)."""

from zhengtong.exchange.actions.objections import *  # noqa: F403
from zhengtong.exchange.actions.sharing import *  # noqa: F403
from zhengtong.exchange.actions.subscriptions import *  # noqa: F403
