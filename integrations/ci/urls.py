"""Routes for CI: webhook endpoints under /hooks/, and API viewsets (mounted by mlgov/urls.py)."""

from django.urls import re_path

from integrations.ci import webhooks
from integrations.ci.api import CiSourceViewSet, WebhookDeliveryViewSet

# (prefix, viewset, basename) registered on the /api/v1/ router by mlgov/urls.py
api_routes: list = [
    ("ci-sources", CiSourceViewSet, "cisource"),
    ("webhook-deliveries", WebhookDeliveryViewSet, "webhookdelivery"),
]
# Mounted at the site root. The trailing slash is optional: a redirect would lose the POST body.
urlpatterns: list = [
    re_path(r"^hooks/github/?$", webhooks.github_webhook, name="hook-github"),
    re_path(r"^hooks/gitlab/?$", webhooks.gitlab_webhook, name="hook-gitlab"),
    re_path(r"^hooks/jenkins/?$", webhooks.jenkins_webhook, name="hook-jenkins"),
]
