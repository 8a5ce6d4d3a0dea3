"""OpenAPI description of the bearer-token scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "mlgov.accounts.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mlg_<prefix>_<secret>",
            "description": "An mlgov API token (POST /api/v1/tokens/). Read-scoped tokens may only read.",
        }
