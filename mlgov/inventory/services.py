"""Writes to the inventory. Each runs in a transaction and writes its audit event there."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError

from mlgov.audit.services import audit_record, snapshot
from mlgov.errors import Conflict, ValidationFailed
from mlgov.inventory.lineage_services import AliasMove, alias_edges_record
from mlgov.inventory.models import (
    Dataset,
    Feature,
    ModelAlias,
    ModelVersion,
    Pipeline,
    PipelineRun,
    Project,
    RegisteredModel,
    Team,
)

M = TypeVar("M", bound=models.Model)

TEAM_FIELDS = ("slug", "name", "description")
PROJECT_FIELDS = ("team", "slug", "name", "description", "risk_tier", "lifecycle")


def _audit_fields(model: type[models.Model]) -> tuple[str, ...]:
    skip = {"id", "created_at", "updated_at"}
    return tuple(f.name for f in model._meta.concrete_fields if f.name not in skip)


def _validate(obj: models.Model, exclude: list[str] | None = None) -> None:
    try:
        obj.full_clean(exclude=exclude, validate_unique=True, validate_constraints=True)
    except DjangoValidationError as exc:
        raise ValidationFailed("The object is invalid.", details=exc.message_dict) from exc


def _create(obj: M, *, actor: Any, fields: tuple[str, ...]) -> M:
    _validate(obj)
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        raise Conflict(f"A {obj._meta.verbose_name} with these values already exists.") from exc
    audit_record(actor=actor, action=f"{obj._meta.model_name}.created", target=obj, after=snapshot(obj, fields))
    return obj


def _update(obj: M, *, actor: Any, fields: tuple[str, ...], changes: dict[str, Any]) -> M:
    before = snapshot(obj, fields)
    for name, value in changes.items():
        if name not in fields:
            raise ValidationFailed(f"{name!r} cannot be changed.", details={"field": name})
        setattr(obj, name, value)
    after = snapshot(obj, fields)
    if after == before:
        return obj
    _validate(obj)
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        raise Conflict(f"A {obj._meta.verbose_name} with these values already exists.") from exc
    audit_record(actor=actor, action=f"{obj._meta.model_name}.updated", target=obj, before=before, after=after)
    return obj


def _delete(obj: models.Model, *, actor: Any, fields: tuple[str, ...]) -> None:
    before = snapshot(obj, fields)
    audit_record(actor=actor, action=f"{obj._meta.model_name}.deleted", target=obj, before=before)
    try:
        with transaction.atomic():
            obj.delete()
    except ProtectedError as exc:
        raise Conflict(
            f"This {obj._meta.verbose_name} still has dependent objects; remove or move them first.",
            details={"dependents": sorted({str(o._meta.verbose_name_plural) for o in exc.protected_objects})},
        ) from exc


# --- Teams and projects: owned by hand ---


@transaction.atomic
def team_create(*, actor: Any, slug: str, name: str, description: str = "") -> Team:
    return _create(Team(slug=slug, name=name, description=description), actor=actor, fields=TEAM_FIELDS)


@transaction.atomic
def team_update(*, actor: Any, team: Team, **changes: Any) -> Team:
    return _update(team, actor=actor, fields=TEAM_FIELDS, changes=changes)


@transaction.atomic
def team_delete(*, actor: Any, team: Team) -> None:
    _delete(team, actor=actor, fields=TEAM_FIELDS)


@transaction.atomic
def project_create(
    *,
    actor: Any,
    team: Team,
    slug: str,
    name: str,
    description: str = "",
    risk_tier: int = 3,
    lifecycle: str = "in_development",
) -> Project:
    project = Project(
        team=team, slug=slug, name=name, description=description, risk_tier=risk_tier, lifecycle=lifecycle
    )
    return _create(project, actor=actor, fields=PROJECT_FIELDS)


@transaction.atomic
def project_update(*, actor: Any, project: Project, **changes: Any) -> Project:
    return _update(project, actor=actor, fields=PROJECT_FIELDS, changes=changes)


@transaction.atomic
def project_delete(*, actor: Any, project: Project) -> None:
    _delete(project, actor=actor, fields=PROJECT_FIELDS)


# --- Synced objects: upserted by integrations, keyed by their external identity ---


def _upsert(model: type[M], *, actor: Any, lookup: dict[str, Any], values: dict[str, Any]) -> tuple[M, str]:
    """Create or update one object by its key. Returns (object, 'created' | 'updated' | 'unchanged')."""
    fields = _audit_fields(model)
    obj = model.objects.select_for_update().filter(**lookup).first()
    if obj is None:
        obj = model(**lookup, **values)
        _validate(obj, exclude=["project", "model", "pipeline", "dataset"])
        obj.save()
        audit_record(actor=actor, action=f"{model._meta.model_name}.created", target=obj, after=snapshot(obj, fields))
        return obj, "created"
    before = snapshot(obj, fields)
    for name, value in values.items():
        setattr(obj, name, value)
    obj.removed_at = None
    after = snapshot(obj, fields)
    if after == before:
        return obj, "unchanged"
    _validate(obj, exclude=["project", "model", "pipeline", "dataset"])
    obj.save()
    audit_record(actor=actor, action=f"{model._meta.model_name}.updated", target=obj, before=before, after=after)
    return obj, "updated"


@transaction.atomic
def registered_model_upsert(
    *,
    actor: Any,
    external_source: str,
    external_id: str,
    name: str,
    project: Project | None = None,
    description: str = "",
    tags: dict[str, str] | None = None,
) -> tuple[RegisteredModel, str]:
    return _upsert(
        RegisteredModel,
        actor=actor,
        lookup={"external_source": external_source, "external_id": external_id},
        values={"name": name, "project": project, "description": description, "tags": tags or {}},
    )


@transaction.atomic
def model_version_upsert(
    *,
    actor: Any,
    model: RegisteredModel,
    version: str,
    external_source: str,
    external_id: str,
    status: str = "READY",
    source: str = "",
    run_id: str = "",
    git_commit: str = "",
    tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    registered_at: Any = None,
) -> tuple[ModelVersion, str]:
    return _upsert(
        ModelVersion,
        actor=actor,
        lookup={"external_source": external_source, "external_id": external_id},
        values={
            "model": model,
            "version": version,
            "status": status,
            "source": source,
            "run_id": run_id,
            "git_commit": git_commit,
            "tags": tags or {},
            "metrics": metrics or {},
            "registered_at": registered_at,
        },
    )


@transaction.atomic
def model_aliases_replace(*, actor: Any, model: RegisteredModel, aliases: dict[str, ModelVersion]) -> dict[str, int]:
    """Make the model's aliases exactly `aliases` ({alias: version}). Audits each move.

    Returns counts: {"created": n, "updated": n, "unchanged": n, "removed": n}.
    """
    counts = {"created": 0, "updated": 0, "unchanged": 0, "removed": 0}
    moves: list[AliasMove] = []
    current = {a.alias: a for a in ModelAlias.objects.select_for_update().filter(model=model)}
    for alias, version in sorted(aliases.items()):
        if version.model_id != model.pk:
            raise ValidationFailed(f"Version {version} does not belong to model {model}.")
        held = current.pop(alias, None)
        if held is None:
            ModelAlias.objects.create(model=model, alias=alias, version=version)
            moves.append(AliasMove(model.pk, model.name, alias, version.pk, version.version, None, ""))
            audit_record(
                actor=actor,
                action="modelalias.assigned",
                target=version,
                before={"alias": alias, "version": None},
                after={"alias": alias, "version": version.version},
            )
            counts["created"] += 1
        elif held.version_id != version.pk:
            old = held.version.version
            moves.append(AliasMove(model.pk, model.name, alias, version.pk, version.version, held.version_id, old))
            held.version = version
            held.save(update_fields=["version", "updated_at"])
            audit_record(
                actor=actor,
                action="modelalias.assigned",
                target=version,
                before={"alias": alias, "version": old},
                after={"alias": alias, "version": version.version},
            )
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    for alias, row in current.items():
        audit_record(
            actor=actor,
            action="modelalias.removed",
            target=row.version,
            before={"alias": alias, "version": row.version.version},
            after={"alias": alias, "version": None},
        )
        moves.append(AliasMove(model.pk, model.name, alias, None, "", row.version_id, row.version.version))
        row.delete()
        counts["removed"] += 1
    alias_edges_record(actor=actor, source=model.external_source or "inventory", moves=moves)
    return counts


# MLflow's alias rule: letters, digits, "_" and "-" (and it refuses "latest" and "v<number>").
_ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


@transaction.atomic
def model_alias_set(*, actor: Any, version: ModelVersion, alias: str, source: str = "promotion") -> ModelVersion | None:
    """Point the alias `alias` of `version.model` at `version`; return the version that held it before.

    Returns None when no version held the alias, and `version` itself when it already held it (then
    nothing is written and nothing audited). Otherwise the alias row moves (or is created), the move is
    audited as `modelalias.assigned` (before/after versions and `source`), and the lineage gets the
    "alias assigned model version" edge (the previous assignment's edge is ended, and kept).

    The promotion service calls this after it has moved the alias in MLflow, so the inventory agrees with
    MLflow before the next sync; the sync's `synced_aliases_apply` then finds nothing to change.
    """
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias) or _RESERVED_ALIAS.match(alias):
        raise ValidationFailed(
            "An alias is 1-100 letters, digits, '_' or '-', and not 'latest' or 'v<number>'.",
            details={"alias": alias if isinstance(alias, str) else repr(alias)},
        )
    if version.pk is None:
        raise ValidationFailed("The model version is not saved.", details={"version": str(version)})
    model = RegisteredModel.objects.get(pk=version.model_id)
    row = ModelAlias.objects.select_for_update().select_related("version").filter(model=model, alias=alias).first()
    if row is not None and row.version_id == version.pk:
        return version
    previous = row.version if row is not None else None
    if row is None:
        ModelAlias.objects.create(model=model, alias=alias, version=version)
    else:
        row.version = version
        row.save(update_fields=["version", "updated_at"])
    audit_record(
        actor=actor,
        action="modelalias.assigned",
        target=version,
        before={"alias": alias, "version": previous.version if previous else None},
        after={"alias": alias, "version": version.version, "source": source},
    )
    alias_edges_record(
        actor=actor,
        source=source,
        moves=[
            AliasMove(
                model.pk,
                model.name,
                alias,
                version.pk,
                version.version,
                previous.pk if previous else None,
                previous.version if previous else "",
            )
        ],
    )
    return previous


@transaction.atomic
def dataset_upsert(
    *,
    actor: Any,
    external_source: str,
    external_id: str,
    name: str,
    digest: str = "",
    source_type: str = "",
    source: str = "",
    schema: dict | None = None,
    profile: dict | None = None,
    project: Project | None = None,
) -> tuple[Dataset, str]:
    return _upsert(
        Dataset,
        actor=actor,
        lookup={"external_source": external_source, "external_id": external_id},
        values={
            "name": name,
            "digest": digest,
            "source_type": source_type,
            "source": source,
            "schema": schema or {},
            "profile": profile or {},
            "project": project,
        },
    )


@transaction.atomic
def feature_upsert(
    *,
    actor: Any,
    external_source: str,
    external_id: str,
    name: str,
    feature_view: str = "",
    dtype: str = "",
    entity: str = "",
    dataset: Dataset | None = None,
    project: Project | None = None,
) -> tuple[Feature, str]:
    return _upsert(
        Feature,
        actor=actor,
        lookup={"external_source": external_source, "external_id": external_id},
        values={
            "name": name,
            "feature_view": feature_view,
            "dtype": dtype,
            "entity": entity,
            "dataset": dataset,
            "project": project,
        },
    )


@transaction.atomic
def pipeline_upsert(
    *,
    actor: Any,
    external_source: str,
    external_id: str,
    provider: str,
    name: str,
    project: Project | None = None,
    config_path: str = "",
    triggers: list | None = None,
    kind: str = "ci",
    jobs: list | None = None,
) -> tuple[Pipeline, str]:
    return _upsert(
        Pipeline,
        actor=actor,
        lookup={"external_source": external_source, "external_id": external_id},
        values={
            "provider": provider,
            "name": name,
            "project": project,
            "config_path": config_path,
            "triggers": triggers or [],
            "kind": kind,
            "jobs": jobs or [],
        },
    )


@transaction.atomic
def pipeline_run_upsert(
    *,
    actor: Any,
    pipeline: Pipeline,
    external_id: str,
    status: str,
    commit_sha: str = "",
    trigger: str = "",
    started_at: Any = None,
    finished_at: Any = None,
    url: str = "",
) -> tuple[PipelineRun, str]:
    """Create or update one pipeline run; its lineage (commit built, training runs executed) follows."""
    from mlgov.inventory.sync_services import pipeline_runs_link_by_commit  # sync_services imports this module

    run, outcome = _upsert(
        PipelineRun,
        actor=actor,
        lookup={"pipeline": pipeline, "external_id": external_id},
        values={
            "external_source": pipeline.external_source,
            "status": status,
            "commit_sha": commit_sha,
            "trigger": trigger,
            "started_at": started_at,
            "finished_at": finished_at,
            "url": url,
        },
    )
    if outcome != "unchanged" and run.commit_sha:
        pipeline_runs_link_by_commit(commits=[run.commit_sha], actor=actor)
    return run, outcome


TEST_REPORT_FIELDS = ("tests_total", "tests_failed", "tests_errors", "tests_skipped")


@transaction.atomic
def pipeline_run_test_report_record(
    *, actor: Any, pipeline_run: PipelineRun, total: int, failed: int, errors: int, skipped: int
) -> PipelineRun:
    """Record the counts of a JUnit report on a CI run: the evidence that tests ran for what it built.

    A later report replaces the earlier counts (post one merged report per run). Audited, also when the
    counts are unchanged, because each upload is a statement by the uploader.
    """
    counts = {"tests_total": total, "tests_failed": failed, "tests_errors": errors, "tests_skipped": skipped}
    if any(not isinstance(v, int) or v < 0 for v in counts.values()) or failed + errors + skipped > total:
        raise ValidationFailed("The test counts are inconsistent.", details=counts)
    run = PipelineRun.objects.select_for_update().get(pk=pipeline_run.pk)
    before = snapshot(run, TEST_REPORT_FIELDS)
    for name, value in counts.items():
        setattr(run, name, value)
    run.save(update_fields=[*TEST_REPORT_FIELDS, "updated_at"])
    audit_record(
        actor=actor,
        action="pipelinerun.test_report_recorded",
        target=run,
        before=before,
        after=snapshot(run, TEST_REPORT_FIELDS),
    )
    return run
