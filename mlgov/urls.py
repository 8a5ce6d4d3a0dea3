from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from assessments import urls as assessment_urls
from integrations import git_urls
from integrations import views as integration_views
from integrations.api import MlflowConnectionViewSet, SyncRunViewSet
from integrations.ci import urls as ci_urls
from mlgov import views as core_views
from mlgov.accounts.api import ApiTokenViewSet, MembershipViewSet, MeView
from mlgov.audit.api import AuditEventViewSet
from mlgov.audit.views import audit_log
from mlgov.governance import urls as governance_urls
from mlgov.inventory import api as inventory_api
from mlgov.inventory import lineage_urls
from mlgov.inventory import views as inventory_views


class OptionalSlashRouter(DefaultRouter):
    """Routes answer with and without a trailing slash (CI scripts rarely add one)."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("teams", inventory_api.TeamViewSet, basename="team")
router.register("projects", inventory_api.ProjectViewSet, basename="project")
router.register("models", inventory_api.RegisteredModelViewSet, basename="registeredmodel")
router.register("model-versions", inventory_api.ModelVersionViewSet, basename="modelversion")
router.register("datasets", inventory_api.DatasetViewSet, basename="dataset")
router.register("features", inventory_api.FeatureViewSet, basename="feature")
router.register("pipelines", inventory_api.PipelineViewSet, basename="pipeline")
router.register("pipeline-runs", inventory_api.PipelineRunViewSet, basename="pipelinerun")
router.register("experiments", inventory_api.ExperimentViewSet, basename="experiment")
router.register("runs", inventory_api.TrainingRunViewSet, basename="trainingrun")
router.register("integrations/mlflow", MlflowConnectionViewSet, basename="mlflowconnection")
router.register("sync-runs", SyncRunViewSet, basename="syncrun")
for _prefix, _viewset, _basename in (
    *git_urls.api_routes,
    *ci_urls.api_routes,
    *assessment_urls.api_routes,
    *governance_urls.api_routes,
):
    router.register(_prefix, _viewset, basename=_basename)
router.register("memberships", MembershipViewSet, basename="membership")
router.register("tokens", ApiTokenViewSet, basename="apitoken")
router.register("audit-events", AuditEventViewSet, basename="auditevent")

api_patterns = [
    path("me", MeView.as_view(), name="me"),
    path("", include(lineage_urls.api_patterns)),
    path("", include(assessment_urls.api_urlpatterns)),
    *governance_urls.api_patterns,
    path("", include(router.urls)),
]

urlpatterns = [
    path("", inventory_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("teams/", inventory_views.team_list_page, name="team-list"),
    path("teams/<slug:slug>/", inventory_views.team_page, name="team-detail"),
    path("projects/<slug:slug>/", inventory_views.project_page, name="project-detail"),
    path("models/<int:pk>/", inventory_views.model_page, name="model-detail"),
    path("model-versions/<int:pk>/", inventory_views.model_version_page, name="modelversion-detail"),
    path("integrations/", integration_views.connections_page, name="integrations"),
    path("integrations/mlflow/<slug:name>/sync/", integration_views.sync_now, name="mlflow-sync-now"),
    path("syncs/", integration_views.sync_runs_page, name="sync-runs"),
    path("syncs/<int:pk>/", integration_views.sync_run_page, name="sync-run-detail"),
    path("audit/", audit_log, name="audit-log"),
    path("pipelines/<int:pk>/", inventory_views.pipeline_page, name="pipeline-detail"),
    path("", include(git_urls.urlpatterns)),
    path("", include(lineage_urls.urlpatterns)),
    path("", include(ci_urls.urlpatterns)),
    path("", include(assessment_urls.urlpatterns)),
    path("", include(governance_urls.urlpatterns)),
    path("healthz", core_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_patterns, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler403 = "mlgov.views.permission_denied"
handler404 = "mlgov.views.not_found"
handler500 = "mlgov.views.server_error"
