from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    name = "zhengtong.exchange"
    label = "exchange"
    verbose_name = _("Data sharing and exchange")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from zhengtong.exchange.writes import client_may
        from zhengtong.identity.actions import register_client_permission_checker

        # What an API client may write follows its department's grants, which identity cannot see.
        register_client_permission_checker(client_may)
