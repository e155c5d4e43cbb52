"""The staff roles the platform ships, as Django groups with their permissions.

Group names are stable codes; `ROLE_LABELS` gives the words people read.
"""

from django.utils.translation import gettext_lazy as _

WINDOW_STAFF = "window_staff"
APPROVER = "approver"
DATA_OFFICER = "data_officer"
GOVERNANCE_OFFICER = "governance_officer"
AUDITOR = "auditor"
LEADER = "leader"
PLATFORM_ADMIN = "platform_admin"

ROLE_LABELS = {
    WINDOW_STAFF: _("window staff"),
    APPROVER: _("approver"),
    DATA_OFFICER: _("department data officer"),
    GOVERNANCE_OFFICER: _("data governance officer"),
    AUDITOR: _("auditor"),
    LEADER: _("leader"),
    PLATFORM_ADMIN: _("platform administrator"),
}

# Permission codenames ("app_label.codename") each role holds.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    WINDOW_STAFF: [
        "identity.view_citizen",
        "identity.add_citizen",
        "identity.view_business",
        "identity.add_business",
        "registries.view_record",
    ],
    APPROVER: [
        "identity.view_citizen",
        "identity.view_business",
        "identity.reveal_personal_data",
        "registries.view_record",
    ],
    DATA_OFFICER: [
        "registries.view_registry",
        "registries.add_registry",
        "registries.change_registry",
        "registries.add_record",
        "registries.change_record",
        "registries.delete_record",
        "registries.import_record",
        "registries.view_record",
        "catalog.view_resource",
        "catalog.add_resource",
        "catalog.change_resource",
        "catalog.view_rightsregistration",
        "catalog.add_rightsregistration",
        "identity.view_department",
        "identity.view_apiclient",
        "identity.add_apiclient",
        "identity.change_apiclient",
        "exchange.view_sharingrequest",
        "exchange.add_sharingrequest",
        "exchange.answer_sharingrequest",
        "exchange.view_dataobjection", "exchange.add_dataobjection", "exchange.answer_dataobjection",
        "exchange.view_subscription", "exchange.add_subscription", "exchange.change_subscription",
        "exchange.view_grant",
        "exchange.change_grant",
        "exchange.view_usage",
    ],
    GOVERNANCE_OFFICER: [
        "registries.view_registry",
        "catalog.view_resource",
        "catalog.change_resource",
        "catalog.view_rightsregistration",
        "catalog.change_rightsregistration",
        "identity.view_department",
        "identity.view_apiclient",
        "exchange.view_sharingrequest",
        "exchange.check_sharingrequest",
        "exchange.view_dataobjection", "exchange.settle_dataobjection",
        "exchange.view_subscription", "exchange.change_subscription",
        "exchange.view_grant",
        "exchange.add_grant",
        "exchange.change_grant",
        "exchange.view_consentrecord",
        "exchange.view_usage",
        "exchange.add_consentrecord",
        "exchange.change_consentrecord",
        "privacy.view_dataagreement", "privacy.change_dataagreement", "privacy.view_consent",
        "privacy.publish_noticeversion",
        "privacy.answer_objection",
    ],
    AUDITOR: [
        "audit.view_auditentry",
        "privacy.add_hiddenaccess", "privacy.view_hiddenaccess",
        "audit.export_auditentry",
        "audit.view_anomalyalert",
        "audit.change_anomalyalert",
        "identity.view_staffprofile",
        "identity.view_trainingrecord",
    ],
    LEADER: [
        "catalog.view_resource",
        "services.supervise_worktask",
        "identity.view_department",
        "identity.view_staffprofile",
    ],
    PLATFORM_ADMIN: [
        "registries.view_registry",
        "registries.add_registry",
        "registries.change_registry",
        "registries.rotate_keys",
        "catalog.view_resource",
        "identity.view_department",
        "identity.add_department",
        "identity.view_staffprofile",
        "identity.add_staffprofile",
        "identity.change_staffprofile",
        "identity.view_trainingrecord",
        "identity.add_trainingrecord",
        "identity.view_apiclient",
        "identity.add_apiclient",
        "identity.change_apiclient",
        "audit.view_auditentry",
        "core.view_calendarday",
        "core.add_calendarday",
        "core.change_calendarday",
        "core.view_officialcalendaryear",
        "core.add_officialcalendaryear",
        "core.change_officialcalendaryear",
        # Service items are defined for the whole platform by its operators (政务服务管理), who also see
        # each department's workload (and so may make leaders, who do).
        "services.define_serviceitem",
        "services.supervise_worktask",
    ],
}

REVEAL_PERSONAL_DATA = "identity.reveal_personal_data"
