"""The GovStack Consent API 1.1.0 under /govstack/consent/ (being built)."""

from ninja import NinjaAPI

api = NinjaAPI(title="GovStack Consent", version="1.1.0", urls_namespace="govstack-consent", docs_url="/docs")
