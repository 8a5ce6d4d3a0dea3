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
