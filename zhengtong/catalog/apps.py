from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "zhengtong.catalog"
    label = "catalog"
    verbose_name = _("Data resource catalog")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from zhengtong.catalog.actions import on_registry_defined
        from zhengtong.registries.signals import registry_defined

        # Every registry is a catalog resource: its items follow the registry's schema.
        registry_defined.connect(on_registry_defined, dispatch_uid="catalog.on_registry_defined")
