from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    name = "zhengtong.exchange"
    label = "exchange"
    verbose_name = _("Data sharing and exchange")
    default_auto_field = "django.db.models.BigAutoField"
