"""Choice sets of the CI models, importable by path (the OpenAPI schema's enum names in settings)."""

from integrations.models import CiSource, WebhookDelivery

CiProvider = CiSource.Provider
WebhookDeliveryStatus = WebhookDelivery.Status
