"""(being built)"""

from ninja import NinjaAPI

api = NinjaAPI(title="GovStack Registration", version="0.1.1", urls_namespace="govstack-registration")
