from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    name = "zhengtong.identity"
    label = "identity"
    verbose_name = _("Identity and access")

    def ready(self) -> None:
        from zhengtong.identity import signals  # noqa: F401  (connects the role-grant guard)
