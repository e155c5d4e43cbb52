from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "zhengtong.audit"
    label = "audit"
    verbose_name = _("Audit trail")

    def ready(self) -> None:
        from zhengtong.audit.actions import record_core_action
        from zhengtong.core.signals import action_performed

        action_performed.connect(record_core_action, dispatch_uid="audit.record_core_action")
