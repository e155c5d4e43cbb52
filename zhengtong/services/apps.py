from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServicesConfig(AppConfig):
    name = "zhengtong.services"
    label = "services"
    verbose_name = _("Online services")
    default_auto_field = "django.db.models.BigAutoField"
