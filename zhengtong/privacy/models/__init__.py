"""The citizen's side of data protection, one module per area: data agreements and consent (consent), privacy
notices and their acceptance (notices), accesses hidden until a date (accesses), objections and correction
requests (cases)."""

from zhengtong.privacy.models.accesses import *  # noqa: F403
from zhengtong.privacy.models.cases import *  # noqa: F403
from zhengtong.privacy.models.consent import *  # noqa: F403
from zhengtong.privacy.models.notices import *  # noqa: F403
