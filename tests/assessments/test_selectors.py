"""The read interface other apps use: the overall level of each project's latest assessment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assessments.selectors import project_maturity_level, project_maturity_levels
from tests import factories

pytestmark = pytest.mark.django_db


def test_levels_of_latest_assessments_in_one_query(django_assert_num_queries):
    projects = factories.ProjectFactory.create_batch(5)
    earlier = timezone.now() - timedelta(days=3)
    for i, project in enumerate(projects[:4]):
        factories.AssessmentFactory(project=project, level=0, is_latest=False, computed_at=earlier)
        factories.AssessmentFactory(project=project, level=i + 1)
    factories.AssessmentFactory(project=projects[0], level=4, rubric_id="google-mlops")  # another rubric
    with django_assert_num_queries(1):
        levels = project_maturity_levels(project_ids=[p.pk for p in projects])
    assert levels == {p.pk: i + 1 for i, p in enumerate(projects[:4])}  # never assessed: absent
    assert project_maturity_levels(project_ids=[projects[0].pk], rubric_id="google-mlops") == {projects[0].pk: 4}


def test_one_project_level_or_none():
    assessed, never = factories.ProjectFactory.create_batch(2)
    factories.AssessmentFactory(project=assessed, level=3)
    assert project_maturity_level(project_id=assessed.pk) == 3
    assert project_maturity_level(project_id=never.pk) is None
    assert project_maturity_levels(project_ids=[]) == {}


def test_the_scorecard_detail_joins_what_the_rubric_says_at_the_snapshots_version():
    from assessments.models import Assessment
    from assessments.rubric import get_rubric
    from assessments.selectors import scorecard_detail
    from assessments.services import projects_score

    project = factories.ProjectFactory()
    projects_score(actor="cli", trigger="cli")
    assessment = Assessment.objects.get(project=project)
    stored = assessment.scorecard["dimensions"][0]["criteria"][0]
    assert "title" not in stored  # the rubric's words are not copied into every snapshot
    assert "guidance" not in assessment.scorecard["next_steps"][0]
    detail = scorecard_detail(assessment)
    first = detail["dimensions"][0]["criteria"][0]
    rubric = get_rubric("azure-mlops")
    assert first["title"] == rubric.criterion(first["id"]).title
    assert first["guidance"] == rubric.criterion(first["id"]).guidance
    assert (first["dimension_name"], first["attestation"], first["waiver"]) == ("People", None, None)
    assert detail["next_steps"][0]["guidance"]
    Assessment.objects.filter(pk=assessment.pk).update(rubric_version="1999.1")
    assessment.refresh_from_db()
    old = scorecard_detail(assessment)["dimensions"][0]["criteria"][0]
    assert (old["title"], old["guidance"], old["status"]) == (old["id"], "", stored["status"])
