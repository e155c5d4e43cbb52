"""The privacy center's tests use the exchange's fixtures: a small city, the persons registry, grants, clients.

`import *` skips names with an underscore, so the autouse fixtures (own key files, English messages) are named.
"""

from zhengtong.exchange.tests.conftest import *  # noqa: F403
from zhengtong.exchange.tests.conftest import _english_messages, _own_keys  # noqa: F401
