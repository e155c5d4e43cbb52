from django.apps import AppConfig
from django.db.models.signals import post_delete
from django.utils.translation import gettext_lazy as _


class RegistriesConfig(AppConfig):
    name = "zhengtong.registries"
    label = "registries"
    verbose_name = _("registries")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from zhengtong.registries import importing
        from zhengtong.registries.models import ImportJob

        # A deleted import job takes its files with it (rejected rows, progress, an upload still there).
        post_delete.connect(importing.remove_job_files, sender=ImportJob, dispatch_uid="registries.import_job_files")
