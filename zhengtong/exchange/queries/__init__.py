"""Reads of exchange state that carry rules, one module per area: sharing requests and grants (sharing), usage
statistics (usage), data objections (objections)."""

from zhengtong.exchange.queries.objections import *  # noqa: F403
from zhengtong.exchange.queries.sharing import *  # noqa: F403
from zhengtong.exchange.queries.usage import *  # noqa: F403
