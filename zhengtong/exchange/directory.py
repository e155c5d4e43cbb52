"""The GovStack Information Mediator directory services API under /govstack/im/ (being built)."""

from ninja import NinjaAPI

api = NinjaAPI(title="GovStack Information Mediator directory services", version="1.0", urls_namespace="govstack-im",
               docs_url="/docs")
