"""The privacy center's tests use the exchange's fixtures: a small city, the persons registry, grants, clients."""

from zhengtong.exchange.tests.conftest import *  # noqa: F403
