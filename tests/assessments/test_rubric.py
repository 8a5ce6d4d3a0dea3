"""Rubrics as data: the shipped files load, bad files are refused with the reason, and docs/rubric.md is
generated from them and current."""

from __future__ import annotations

import copy
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from assessments.docs import rubric_markdown
from assessments.rubric import RUBRICS_DIR, RubricError, available_rubrics, get_rubric, load_rubric, parse_rubric

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rubric.md"


def test_the_shipped_rubrics():
    rubrics = available_rubrics()
    assert set(rubrics) == {"azure-mlops", "google-mlops"}
    azure = rubrics["azure-mlops"]
    assert azure.level_numbers == (0, 1, 2, 3, 4)
    assert [d.id for d in azure.dimensions] == ["people", "model_creation", "model_release", "application_integration"]
    assert all([dl.level for dl in d.levels] == [1, 2, 3, 4] for d in azure.dimensions)
    assert len(azure.digest) == 64
    assert azure.version
    assert {c.method for c in azure.criteria} == {"detected", "attested", "either"}
    assert rubrics["google-mlops"].level_numbers == (0, 1, 2)
    with pytest.raises(RubricError, match="unknown rubric 'nope'"):
        get_rubric("nope")


def test_the_level_4_release_criteria_read_governance_evidence():
    azure = get_rubric("azure-mlops")
    assert azure.criterion("release.governed-promotions").detector == "governed_promotion"
    assert azure.criterion("release.governed-aliases").detector == "governed_aliases"
    assert all(
        azure.criterion(c).method == "either" for c in ("release.governed-promotions", "release.governed-aliases")
    )


def _azure() -> dict:
    return yaml.safe_load((RUBRICS_DIR / "azure-mlops.yaml").read_text())


def _first_criterion(data: dict) -> dict:
    return data["dimensions"][0]["levels"][1]["criteria"][0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: _first_criterion(d).update(detector="no_such_detector"), "unknown detector 'no_such_detector'"),
        (lambda d: _first_criterion(d).update(method="guessed"), "method must be one of"),
        (lambda d: _first_criterion(d).update(method="attested"), "an attested criterion names no detector"),
        (lambda d: _first_criterion(d).pop("detector"), "must name a detector"),
        (lambda d: _first_criterion(d).update(id="creation.experiments-tracked"), "must be a unique identifier"),
        (lambda d: _first_criterion(d).pop("guidance"), "guidance: must be a non-empty string"),
        (lambda d: _first_criterion(d).update(fresh_days=0), "fresh_days: must be a positive integer"),
        (lambda d: d["levels"].pop(2), "consecutive and ascending"),
        (lambda d: d["dimensions"][0]["levels"].update({7: {}}), "are not levels above the baseline"),
        (lambda d: d["dimensions"][1].update(id="people"), "must be a unique identifier"),
        (lambda d: d.update(id="Bad Id"), "lowercase letters"),
        (lambda d: d.pop("version"), "version: must be a non-empty string"),
        (lambda d: d.update(dimensions=[]), "dimensions: a non-empty list"),
    ],
)
def test_a_bad_rubric_is_refused_with_the_reason(change, message):
    data = copy.deepcopy(_azure())
    change(data)
    with pytest.raises(RubricError, match=message):
        parse_rubric(data)


def test_the_file_name_must_match_the_id_and_the_yaml_must_parse(tmp_path):
    (tmp_path / "other.yaml").write_text((RUBRICS_DIR / "azure-mlops.yaml").read_text())
    with pytest.raises(RubricError, match=r"must be named azure-mlops\.yaml"):
        load_rubric(tmp_path / "other.yaml")
    (tmp_path / "broken.yaml").write_text("id: [unclosed\n")
    with pytest.raises(RubricError, match="not valid YAML"):
        load_rubric(tmp_path / "broken.yaml")


def test_docs_rubric_md_is_generated_from_the_yaml_and_current():
    expected = rubric_markdown(available_rubrics().values())
    assert DOCS.read_text() == expected, "docs/rubric.md is stale: run `python manage.py rubric_docs --write`"
    for rubric in available_rubrics().values():
        for criterion in rubric.criteria:
            assert f"`{criterion.id}`" in expected
            if criterion.detector:
                assert f"`{criterion.detector}`" in expected
    for kind in ("promotion.governed", "alias.governed", "git.signal.ci_config", "mlflow.run.tracked"):
        assert f"`{kind}`" in expected


def test_the_command_checks_and_prints(settings, tmp_path):
    out = StringIO()
    call_command("rubric_docs", "--check", stdout=out)
    assert "is current" in out.getvalue()
    settings.BASE_DIR = tmp_path
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "rubric.md").write_text("stale\n")
    with pytest.raises(CommandError, match="out of date"):
        call_command("rubric_docs", "--check")
    call_command("rubric_docs", "--write", stdout=StringIO())
    call_command("rubric_docs", "--check", stdout=StringIO())
