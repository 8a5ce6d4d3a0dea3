"""Assessment pages and API routes. mlgov/urls.py registers `api_routes` on the /api/v1/ router and
includes `api_urlpatterns` under /api/v1/ and `urlpatterns` at the root."""

from django.urls import path, re_path

from assessments import api, views

# (prefix, viewset, basename) registered on the /api/v1/ router by mlgov/urls.py
api_routes = [
    ("scorecards", api.ScorecardViewSet, "scorecard"),
    ("assessments", api.AssessmentViewSet, "assessment"),
    ("attestations", api.AttestationViewSet, "attestation"),
    ("waivers", api.WaiverViewSet, "waiver"),
    ("attestation-rules", api.AttestationRuleViewSet, "attestationrule"),
    ("maturity-goals", api.GoalViewSet, "maturitygoal"),
    ("scoring-runs", api.ScoringRunViewSet, "scoringrun"),
]

api_urlpatterns = [
    re_path(r"^projects/(?P<pk>[^/.]+)/scorecard/?$", api.ProjectScorecardView.as_view(), name="project-scorecard"),
    re_path(r"^projects/(?P<pk>[^/.]+)/assess/?$", api.ProjectAssessView.as_view(), name="project-assess"),
    re_path(r"^teams/(?P<slug>[^/.]+)/maturity/?$", api.TeamMaturityView.as_view(), name="team-maturity"),
    re_path(r"^rubrics/?$", api.RubricListView.as_view(), name="rubric-list"),
    re_path(r"^rubrics/(?P<rubric_id>[^/.]+)/?$", api.RubricView.as_view(), name="rubric-detail"),
]

urlpatterns = [
    path("maturity/", views.dashboard, name="maturity"),
    path("maturity/score/", views.score_all, name="maturity-score-all"),
    path("maturity/teams/<slug:slug>/", views.team_page, name="maturity-team"),
    path("maturity/attestations/", views.attestations_page, name="maturity-attestations"),
    path(
        "maturity/attestations/<int:pk>/verify/",
        views.attestation_action,
        {"verb": "verify"},
        name="attestation-verify",
    ),
    path(
        "maturity/attestations/<int:pk>/revoke/",
        views.attestation_action,
        {"verb": "revoke"},
        name="attestation-revoke",
    ),
    path("maturity/waivers/", views.waivers_page, name="maturity-waivers"),
    path("maturity/waivers/<int:pk>/revoke/", views.waiver_revoke, name="waiver-revoke"),
    path("maturity/goals/", views.goals_page, name="maturity-goals"),
    path("maturity/runs/", views.scoring_runs_page, name="scoring-runs"),
    path("maturity/runs/<int:pk>/", views.scoring_run_page, name="scoring-run-detail"),
    path("projects/<slug:slug>/scorecard/", views.scorecard_page, name="project-scorecard"),
    path("projects/<slug:slug>/scorecard/score/", views.score_now, name="project-score-now"),
    path("projects/<slug:slug>/scorecard/attest/", views.attest, name="project-attest"),
    path("projects/<slug:slug>/scorecard/waive/", views.waive, name="project-waive"),
]
