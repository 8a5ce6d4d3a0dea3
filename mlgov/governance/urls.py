"""Governance routes: API viewsets (registered on the project router in mlgov/urls.py) and pages."""

from django.urls import path, re_path

from mlgov.governance import api, views

api_routes = [
    ("promotion-policies", api.PromotionPolicyViewSet, "promotionpolicy"),
    ("promotions", api.PromotionViewSet, "promotion"),
    ("drift-findings", api.DriftFindingViewSet, "driftfinding"),
    ("webhook-endpoints", api.WebhookEndpointViewSet, "webhookendpoint"),
    ("outbound-deliveries", api.OutboundDeliveryViewSet, "outbounddelivery"),
]

api_patterns = [
    # With or without the trailing slash, like the router's routes.
    re_path(r"^models/(?P<pk>[0-9]+)/alias-history/?$", api.AliasHistoryView.as_view(), name="model-alias-history"),
]

urlpatterns = [
    path("promotions/", views.queue_page, name="promotion-queue"),
    path("promotions/new/", views.promotion_new_page, name="promotion-new"),
    path("promotions/<int:pk>/", views.promotion_page, name="promotion-detail"),
    path("promotions/<int:pk>/<slug:verb>/", views.promotion_action, name="promotion-action"),
    path("governance/", views.dashboard_page, name="governance-dashboard"),
    path("governance/drift/", views.drift_page, name="drift-list"),
    path("governance/drift/<int:pk>/accept/", views.drift_accept_action, name="drift-accept"),
    path("governance/policies/", views.policies_page, name="policy-list"),
]
