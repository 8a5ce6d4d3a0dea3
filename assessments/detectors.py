"""Detectors: named tests over a project's evidence records, and the catalogue of evidence kinds they read.

Pure Python: no Django. A detector is a conjunction of clauses; a clause is a choice of alternatives,
each an evidence kind with a minimum count. A clause holds when, for one of its alternatives, the records
of that kind add up to at least its minimum; a detector holds when every clause holds. Detectors are
therefore *monotone*: more evidence never turns a met detector unmet (tests/assessments hold this as a
property). Adding a detector is one entry in `DETECTORS`; a new evidence kind is one entry in
`EVIDENCE_KINDS`, and a producer for it (assessments/evidence.py, or a provider through hooks.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from assessments.contracts import Evidence


@dataclass(frozen=True)
class EvidenceKind:
    kind: str
    producer: str  # who produces it: "mlflow", "git", "ci", "mlgov", "governance"
    description: str
    fields: str  # what source, link, observed_at, count and facts hold


@dataclass(frozen=True)
class Alternative:
    kind: str
    min_count: int = 1


@dataclass(frozen=True)
class Clause:
    label: str  # what the clause asks for, in words ("tests for the scoring code")
    alternatives: tuple[Alternative, ...]


@dataclass(frozen=True)
class Detector:
    name: str
    description: str
    clauses: tuple[Clause, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.kind for c in self.clauses for a in c.alternatives))


@dataclass(frozen=True)
class Detection:
    met: bool
    evidence: tuple[Evidence, ...]  # the records that met the clauses, newest first
    reason: str


def _k(kind: str, producer: str, description: str, fields: str) -> EvidenceKind:
    return EvidenceKind(kind, producer, description, fields)


_RUN = "source `mlflow:<connection>`; link: the newest such run (MLflow UI, else its API record); count: runs"
_SIGNAL = "source `git:<repository>`; link: the first file at the scanned commit; count: files; facts: paths"
_PIPE = "source `repo:<host/path>`; link: the pipeline's page; count: pipelines; facts: names"
_CIRUN = "source `repo:<host/path>`; link: the newest such run on the CI system; count: runs"

_GIT_SIGNALS = {
    "training_code": "training code is under version control",
    "scoring_code": "a scoring or inference entry point is under version control",
    "test_file": "test files exist",
    "scoring_test": "a test touches the scoring code",
    "ci_config": "CI configuration exists (GitHub Actions, GitLab CI, Jenkinsfile)",
    "data_versioning": "data is versioned (DVC)",
    "feature_store": "a feature store is defined (Feast)",
    "feature_view": "feature views are defined",
    "data_validation": "data validation suites or libraries are used",
    "monitoring": "monitoring is configured (Prometheus rules, dashboards, drift libraries)",
    "dockerfile": "the model is packaged in a container image",
    "infrastructure": "infrastructure is code (Terraform, Helm, Kubernetes manifests...)",
    "dependency_lock": "dependencies are pinned by a lock file",
}
_PIPELINE_KINDS = ("data", "training", "evaluation", "deployment", "ci")
_JOB_KINDS = ("test", "train", "evaluate", "deploy", "data")

EVIDENCE_KINDS: dict[str, EvidenceKind] = {
    k.kind: k
    for k in (
        _k("mlflow.run.tracked", "mlflow", "Training runs that logged params or metrics (experiments tracked).", _RUN),
        _k("mlflow.run.commit", "mlflow", "Training runs tagged with `mlflow.source.git.commit`.", _RUN),
        _k("mlflow.run.dataset", "mlflow", "Training runs whose inputs name a dataset and its digest.", _RUN),
        _k(
            "mlflow.run.automated",
            "mlflow",
            "Training runs launched by a CI job or service account (`MLGOV_SERVICE_USER_REGEX`) or as an MLflow JOB.",
            _RUN,
        ),
        _k(
            "mlflow.run.recurring",
            "mlflow",
            "Automated training recurs: the weeks (7-day windows back from now) of the last 13 that saw an "
            "automated run.",
            "source `mlflow:<connection>`; link: the newest automated run; count: weeks with an automated run",
        ),
        _k(
            "mlflow.run.monitoring",
            "mlflow",
            "Runs that record production or monitoring metrics: their experiment or run name says "
            "monitor, drift or production.",
            _RUN,
        ),
        _k("mlflow.model.version", "mlflow", "Registered model versions (ready, not removed).", _RUN),
        _k(
            "mlflow.alias.traced",
            "mlflow",
            "Aliases (deployed versions) whose version carries its training commit and whose run names its dataset.",
            "source `mlflow:<connection>`; link: the version's page; count: aliases; facts: alias names",
        ),
        _k(
            "mlflow.alias.ci_trained",
            "mlflow",
            "Aliases whose version was trained by a CI run (the run's commit matched a CI run).",
            "source `mlflow:<connection>`; link: the version's page; count: aliases",
        ),
        *(
            _k(f"git.signal.{kind}", "git", f"In a repository of the project, {text} (`{kind}` signal).", _SIGNAL)
            for kind, text in _GIT_SIGNALS.items()
        ),
        _k(
            "git.activity.committers",
            "git",
            "People who committed to the project's repositories in the last 26 weeks.",
            "source `git:<repository>`; link: the head commit; count: committers",
        ),
        *(
            _k(f"ci.pipeline.{kind}", "ci", f"CI pipelines of kind `{kind}` (from their jobs).", _PIPE)
            for kind in _PIPELINE_KINDS
        ),
        *(_k(f"ci.job.{kind}", "ci", f"CI pipelines with a `{kind}` job.", _PIPE) for kind in _JOB_KINDS),
        _k(
            "ci.pipeline.scheduled_training",
            "ci",
            "Training pipelines (or pipelines with a train job) that run on a schedule (cron).",
            _PIPE,
        ),
        _k(
            "ci.pipeline.auto_deploy",
            "ci",
            "Deployment pipelines (or pipelines with a deploy job) triggered by a push, a merge or a tag.",
            _PIPE,
        ),
        _k("ci.run.succeeded", "ci", "CI runs that succeeded.", _CIRUN),
        _k(
            "ci.run.deployed",
            "ci",
            "Successful runs of deployment pipelines that were not started by hand.",
            _CIRUN,
        ),
        _k("ci.run.trained", "ci", "Successful CI runs linked to the training runs of their commit.", _CIRUN),
        _k(
            "ci.run.tested",
            "ci",
            "CI runs with a JUnit report attached: tests ran and none failed.",
            _CIRUN + "; facts: tests",
        ),
        _k(
            "lineage.dataset.produced",
            "lineage",
            "Datasets the project's training runs consumed that a data pipeline produced or derived (OpenLineage "
            "jobs reported to mlgov): the data arrives through an automated pipeline.",
            "source: the producing job's lineage source (`openlineage:<namespace>`); link: the newest such "
            "dataset's page; observed_at: when the pipeline last produced it; count: datasets; facts: datasets",
        ),
        _k(
            "mlgov.team.maintainer",
            "mlgov",
            "The project's team has at least one maintainer in mlgov.",
            "source `mlgov`; link: the team's page; count: maintainers",
        ),
        _k(
            "promotion.governed",
            "governance",
            "Model promotions of the project that went through approval with policy gates and were applied.",
            "source `mlgov:governance`; link: the newest such promotion request; observed_at: when it was "
            "applied; count: promotions; facts: {model, version, alias, gates: [gate names]}",
        ),
        _k(
            "alias.governed",
            "governance",
            "Every alias change of the project's models (last 90 days) came from an approved promotion: no "
            "drift found. Produced only when that holds.",
            "source `mlgov:governance`; link: the project's promotions; observed_at: when it was last checked; "
            "count: aliases checked",
        ),
    )
}


def _alt(kind: str, min_count: int = 1) -> Alternative:
    if kind not in EVIDENCE_KINDS:  # pragma: no cover - caught at import by the tests
        raise ValueError(f"unknown evidence kind {kind!r}")
    return Alternative(kind, min_count)


def _clause(label: str, *alternatives: str | tuple[str, int]) -> Clause:
    return Clause(label, tuple(_alt(*a) if isinstance(a, tuple) else _alt(a) for a in alternatives))


def _detector(name: str, description: str, *clauses: Clause) -> Detector:
    return Detector(name, description, clauses)


_MONITORING = _clause("production or monitoring metrics", "git.signal.monitoring", "mlflow.run.monitoring")

DETECTORS: dict[str, Detector] = {
    d.name: d
    for d in (
        _detector(
            "team_has_maintainer",
            "The project's team names a maintainer.",
            _clause("a maintainer in the team", "mlgov.team.maintainer"),
        ),
        _detector(
            "data_pipeline",
            "Data arrives through an automated pipeline: a data pipeline or job in CI, versioned data stages (DVC), "
            "or a data pipeline that reported producing the training data (OpenLineage).",
            _clause(
                "a data pipeline",
                "ci.pipeline.data",
                "ci.job.data",
                "git.signal.data_versioning",
                "lineage.dataset.produced",
            ),
        ),
        _detector(
            "training_as_jobs",
            "Experiment code has become a repeatable job: training code in Git, run by CI or a service account.",
            _clause("training code in Git", "git.signal.training_code"),
            _clause("training run as a job", "mlflow.run.automated", "ci.job.train", "ci.pipeline.training"),
        ),
        _detector(
            "experiments_tracked",
            "Experiments are tracked: runs log params and metrics.",
            _clause("tracked runs", "mlflow.run.tracked"),
        ),
        _detector(
            "training_code_versioned",
            "Training code is versioned: it is in Git and runs record the commit they trained from.",
            _clause("training code in Git", "git.signal.training_code"),
            _clause("runs that record their commit", "mlflow.run.commit"),
        ),
        _detector(
            "models_versioned",
            "Models are versioned in a registry.",
            _clause("registered model versions", "mlflow.model.version"),
        ),
        _detector(
            "managed_compute",
            "Training runs on managed compute: launched by CI or a service account, not from a laptop.",
            _clause("automated training runs", "mlflow.run.automated", "ci.run.trained"),
        ),
        _detector(
            "scoring_script_versioned",
            "The scoring (inference) script is under version control.",
            _clause("scoring code in Git", "git.signal.scoring_code"),
        ),
        _detector(
            "scoring_script_tested",
            "The scoring script has tests.",
            _clause("tests of the scoring code", "git.signal.scoring_test"),
        ),
        _detector(
            "unit_tests",
            "The code has unit tests.",
            _clause("test files", "git.signal.test_file"),
        ),
        _detector(
            "app_ci",
            "Releases of the application are automated: CI is configured and runs.",
            _clause("CI configuration", "git.signal.ci_config"),
            _clause("successful CI runs", "ci.run.succeeded"),
        ),
        _detector(
            "deploy_pipeline",
            "A pipeline deploys the model on merge or tag (engineers integrate it automatically).",
            _clause("an automatic deployment pipeline", "ci.pipeline.auto_deploy"),
        ),
        _detector(
            "automated_release",
            "Model releases go out through a CI/CD pipeline, started by a merge or a tag, and it has run.",
            _clause("an automatic deployment pipeline", "ci.pipeline.auto_deploy"),
            _clause("successful automatic deployments", "ci.run.deployed"),
        ),
        _detector(
            "release_traceable",
            "Deployed models trace back to their code and data: the aliased version has its commit and dataset.",
            _clause("aliased versions with commit and dataset", "mlflow.alias.traced"),
        ),
        _detector(
            "release_tests",
            "Each release is tested: CI runs report passing tests, and the scoring code has tests.",
            _clause("CI runs with passing test reports", "ci.run.tested"),
            _clause("tests of the scoring code", "git.signal.scoring_test"),
        ),
        _detector(
            "packaged_for_integration",
            "The model is packaged for the application: a container image or infrastructure as code.",
            _clause(
                "a container image or infrastructure as code", "git.signal.dockerfile", "git.signal.infrastructure"
            ),
        ),
        _detector(
            "production_metrics",
            "Post-deployment metrics are gathered: monitoring is configured or monitoring runs are logged.",
            _MONITORING,
        ),
        _detector(
            "automatic_retraining",
            "Retraining starts automatically: a scheduled training pipeline, or automated training in at least 3 "
            "of the last 13 weeks, with production metrics to act on.",
            _clause(
                "scheduled or recurring training",
                "ci.pipeline.scheduled_training",
                ("mlflow.run.recurring", 3),
            ),
            _MONITORING,
        ),
        _detector(
            "continuous_training",
            "Training runs continuously: a scheduled training pipeline, or automated training in at least 3 of "
            "the last 13 weeks.",
            _clause(
                "scheduled or recurring training",
                "ci.pipeline.scheduled_training",
                ("mlflow.run.recurring", 3),
            ),
        ),
        _detector(
            "orchestrated_training",
            "Training is an orchestrated pipeline: a training pipeline or job in CI, or automated training runs.",
            _clause("a training pipeline", "ci.pipeline.training", "ci.job.train", "mlflow.run.automated"),
        ),
        _detector(
            "data_validation",
            "Data is validated before training (Great Expectations, pandera, TFDV, Soda...).",
            _clause("data validation", "git.signal.data_validation"),
        ),
        _detector(
            "model_validation",
            "Models are evaluated by a pipeline before release.",
            _clause("an evaluation pipeline or job", "ci.pipeline.evaluation", "ci.job.evaluate"),
        ),
        _detector(
            "feature_store",
            "Features come from a feature store.",
            _clause("a feature store", "git.signal.feature_store", "git.signal.feature_view"),
        ),
        _detector(
            "governed_promotion",
            "Promotions go through approval with policy gates (mlgov governance).",
            _clause("governed promotions", "promotion.governed"),
        ),
        _detector(
            "governed_aliases",
            "Aliases change only through approved promotions (mlgov governance finds no drift).",
            _clause("aliases changed only by promotions", "alias.governed"),
        ),
    )
}


def index_records(records: Iterable[Evidence]) -> dict[str, list[Evidence]]:
    """Records by kind, newest first within a kind (ties broken by source and link, for determinism)."""
    out: dict[str, list[Evidence]] = {}
    for record in records:
        out.setdefault(record.kind, []).append(record)
    for items in out.values():
        items.sort(key=lambda r: (r.observed_at, r.source, r.link), reverse=True)
    return out


def _describe(alt: Alternative) -> str:
    return alt.kind if alt.min_count == 1 else f"{alt.kind} (at least {alt.min_count})"


def detect(detector: Detector, by_kind: Mapping[str, Sequence[Evidence]]) -> Detection:
    """Run one detector over records indexed by kind (`index_records`)."""
    used: list[Evidence] = []
    missing: list[str] = []
    found: list[str] = []
    for clause in detector.clauses:
        satisfied = None
        for alt in clause.alternatives:
            records = by_kind.get(alt.kind, ())
            total = sum(r.count for r in records)
            if total >= alt.min_count:
                satisfied = (alt, records, total)
                break
        if satisfied is None:
            have = {a.kind: sum(r.count for r in by_kind.get(a.kind, ())) for a in clause.alternatives}
            partial = ", ".join(f"{k}: {n}" for k, n in have.items() if n)
            missing.append(
                f"{clause.label} ({' or '.join(_describe(a) for a in clause.alternatives)}"
                + (f"; found {partial}" if partial else "")
                + ")"
            )
        else:
            alt, records, total = satisfied
            used.extend(records)
            found.append(f"{clause.label} ({total} {alt.kind})")
    if missing:
        return Detection(False, (), "Missing " + "; ".join(missing) + ".")
    unique = list({id(r): r for r in used}.values())  # the same record may meet two clauses
    unique.sort(key=lambda r: (r.observed_at, r.kind, r.source, r.link), reverse=True)
    return Detection(True, tuple(unique), "Found " + "; ".join(found) + ".")
