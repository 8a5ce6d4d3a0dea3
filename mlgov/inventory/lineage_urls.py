"""Lineage routes: the API (under /api/v1/) and the pages."""

from django.urls import path, re_path

from mlgov.inventory import lineage_api, lineage_views

api_patterns = [
    re_path(r"^lineage/?$", lineage_api.LineageIngestView.as_view(), name="lineage-ingest"),
    re_path(r"^lineage/impact/?$", lineage_api.LineageImpactView.as_view(), name="lineage-impact"),
    re_path(r"^lineage/export/?$", lineage_api.LineageExportView.as_view(), name="lineage-export"),
    re_path(
        r"^lineage/facets/(?P<name>[A-Za-z0-9_.-]{1,100})/?$",
        lineage_api.LineageFacetSchemaView.as_view(),
        name="lineage-facet-schema",
    ),
    re_path(
        r"^lineage/(?P<kind>[a-z]{1,20})/(?P<ident>[^/]{1,400})/?$",
        lineage_api.LineageGraphView.as_view(),
        name="lineage-graph",
    ),
]

urlpatterns = [
    path("datasets/<int:pk>/", lineage_views.dataset_page, name="dataset-detail"),
    path("datasets/<int:pk>/impact/", lineage_views.impact_page, name="dataset-impact"),
]
