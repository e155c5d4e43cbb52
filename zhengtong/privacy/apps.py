from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    name = "zhengtong.privacy"
    label = "privacy"
    verbose_name = _("Privacy center")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from zhengtong.exchange.govstack import register_personal_data_usage
        from zhengtong.privacy.api.accesses import dr_personal_data_usage

        # GovStack's myPersonalDataUsage (exchange) answers from this app's "who used my data" query, so that
        # accesses hidden until a date stay hidden there too; exchange cannot import this app.
        register_personal_data_usage(dr_personal_data_usage)
