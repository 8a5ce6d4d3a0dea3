"""Routes for Git repositories: the API viewset (registered on /api/v1/ by mlgov/urls.py) and pages."""

from django.urls import path

from integrations import git_views
from integrations.git_api import GitRepositoryViewSet

# (prefix, viewset, basename) registered on the /api/v1/ router by mlgov/urls.py
api_routes: list = [("repositories", GitRepositoryViewSet, "gitrepository")]
urlpatterns: list = [
    path("repositories/", git_views.repository_list_page, name="repository-list"),
    path("repositories/<slug:name>/", git_views.repository_page, name="repository-detail"),
    path("repositories/<slug:name>/sync/", git_views.repository_sync_now, name="repository-sync-now"),
]
