"""Writes for assessments: scoring runs and their snapshots; attestations, waivers, their rules; goals.

Every write runs in `transaction.atomic` with its audit event (`audit_record` / `audit_record_many`).
Attestations and waivers rescore their project once they are committed (in a transaction of its own), so
the scorecard a person looks at next already counts them; if that scoring fails, the nightly run will.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import OperationalError, transaction
from django.utils import timezone

from assessments.choices import ScoringStatus, ScoringTrigger
from assessments.constants import EVIDENCE_PER_CRITERION
from assessments.engine import fingerprint, score, scorecard_to_dict
from assessments.evidence import collect_evidence
from assessments.models import Assessment, Attestation, AttestationRule, MaturityGoal, ScoringRun, Waiver
from assessments.rubric import Criterion, Rubric, RubricError, get_rubric
from integrations.models import GitRepository, SyncRun
from mlgov.accounts.selectors import user_can_manage_team, user_is_admin, user_is_manager, user_is_reviewer
from mlgov.audit.services import PendingEvent, audit_record, audit_record_many, snapshot
from mlgov.errors import Conflict, PermissionDenied, ValidationFailed
from mlgov.gctools import gc_paused
from mlgov.inventory.choices import Lifecycle, RiskTier
from mlgov.inventory.models import (
    Dataset,
    Experiment,
    ModelAlias,
    ModelVersion,
    PipelineRun,
    Project,
    RegisteredModel,
    Team,
    TrainingRun,
)

logger = logging.getLogger(__name__)
_CHUNK = 2000


class ScoringNotQueued(Conflict):
    code = "scoring_not_queued"


class ScoringRetry(Exception):
    """A database error on an attempt that is not the last: the run is queued again for a retry."""


def _actor_name(actor: Any) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor[:150]
    return actor.get_username()[:150]


def rubric_or_error(rubric_id: str | None) -> Rubric:
    try:
        return get_rubric(rubric_id or settings.MLGOV_RUBRIC)
    except RubricError as exc:
        raise ValidationFailed(str(exc), details={"rubric": rubric_id}) from exc


# --- scoring runs ---


def scoring_run_create(
    *,
    trigger: str,
    triggered_by: Any = "",
    project_ids: Iterable[int] | None = None,
    rubric_id: str | None = None,
    sync_run_id: int | None = None,
) -> ScoringRun:
    """A queued scoring run of the given projects (None: every project)."""
    rubric = rubric_or_error(rubric_id)
    if trigger not in ScoringTrigger.values:
        raise ValidationFailed(f"Unknown trigger {trigger!r}.", details={"allowed": list(ScoringTrigger.values)})
    ids = None if project_ids is None else sorted({int(pk) for pk in project_ids})
    return ScoringRun.objects.create(
        trigger=trigger,
        triggered_by=_actor_name(triggered_by) if triggered_by else "",
        rubric_id=rubric.id,
        project_ids=ids,
        sync_run_id=sync_run_id,
    )


def scoring_run_request(
    *, trigger: str, triggered_by: Any = "", project_ids: Iterable[int] | None = None, rubric_id: str | None = None
) -> ScoringRun:
    """Queue a scoring run and hand it to the worker once the transaction commits."""
    from assessments.tasks import score_projects

    run = scoring_run_create(trigger=trigger, triggered_by=triggered_by, project_ids=project_ids, rubric_id=rubric_id)
    score_projects.delay_on_commit(run.pk)
    return run


def _progress(run: ScoringRun, **progress: Any) -> None:
    ScoringRun.objects.filter(pk=run.pk).update(progress=progress)


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _latest(rubric_id: str, project_ids: list[int] | None) -> dict[int, tuple[int, int, str]]:
    qs = Assessment.objects.filter(is_latest=True, rubric_id=rubric_id)
    fields = ("project_id", "id", "level", "fingerprint")
    if project_ids is None:
        return {pid: (pk, level, fp) for pid, pk, level, fp in qs.values_list(*fields)}
    out: dict[int, tuple[int, int, str]] = {}
    for chunk in _chunks(project_ids):
        out.update(
            {pid: (pk, level, fp) for pid, pk, level, fp in qs.filter(project_id__in=chunk).values_list(*fields)}
        )
    return out


def _write_snapshots(
    run: ScoringRun, rubric: Rubric, cards: dict[int, Any], now: datetime, timings: dict[str, float]
) -> dict[str, int]:
    """Store the scorecards that changed, move `checked_at` on the ones that did not, audit level changes.
    `timings` gets the time spent preparing (fingerprints, snapshots), storing and auditing."""
    clock = time.perf_counter()
    ids = None if run.project_ids is None else sorted(cards)
    latest = _latest(rubric.id, ids)
    new: list[Assessment] = []
    unset: list[int] = []
    unchanged: list[int] = []
    changes: list[tuple[int, int | None, int]] = []
    for pid in sorted(cards):
        card = cards[pid]
        digest = fingerprint(card, evidence_limit=EVIDENCE_PER_CRITERION)
        previous = latest.get(pid)
        if previous is not None and previous[2] == digest:
            unchanged.append(previous[0])
            continue
        body = scorecard_to_dict(card, rubric_name=rubric.name, evidence_limit=EVIDENCE_PER_CRITERION)
        if previous is not None:
            unset.append(previous[0])
        before = previous[1] if previous is not None else None
        new.append(
            Assessment(
                project_id=pid,
                scoring_run=run,
                rubric_id=rubric.id,
                rubric_version=rubric.version,
                level=card.level,
                previous_level=before,
                dimensions=card.dimension_levels(),
                scorecard=body,
                fingerprint=digest,
                is_latest=True,
                trigger=run.trigger,
                computed_at=now,
                checked_at=now,
            )
        )
        if before != card.level:
            changes.append((pid, before, card.level))
    slugs: dict[int, str] = {}
    if changes and run.project_ids is None:
        slugs = dict(Project.objects.values_list("id", "slug"))
    elif changes:
        for chunk in _chunks([pid for pid, _, _ in changes]):
            slugs.update(Project.objects.filter(id__in=chunk).values_list("id", "slug"))
    timings["write_prepare_s"] = round(time.perf_counter() - clock, 4)
    with transaction.atomic():
        clock = time.perf_counter()
        for chunk in _chunks(unset):
            Assessment.objects.filter(pk__in=chunk).update(is_latest=False)
        Assessment.objects.bulk_create(new, batch_size=500)
        for chunk in _chunks(unchanged):
            Assessment.objects.filter(pk__in=chunk).update(checked_at=now)
        timings["write_store_s"] = round(time.perf_counter() - clock, 4)
        clock = time.perf_counter()
        audit_record_many(
            actor=run.triggered_by or "system",
            events=[
                PendingEvent(
                    action="assessment.level_changed",
                    target_type="project",
                    target_id=pid,
                    target_repr=slugs.get(pid, str(pid)),
                    before=None if before is None else {"level": before},
                    after={
                        "level": level,
                        "rubric": rubric.id,
                        "rubric_version": rubric.version,
                        "scoring_run": run.pk,
                    },
                )
                for pid, before, level in changes
            ],
        )
        timings["write_audit_s"] = round(time.perf_counter() - clock, 4)
    up = sum(1 for _, before, level in changes if before is not None and level > before)
    down = sum(1 for _, before, level in changes if before is not None and level < before)
    return {
        "projects": len(cards),
        "snapshots": len(new),
        "unchanged": len(unchanged),
        "level_changes": len(changes),
        "first_scored": sum(1 for _, before, _ in changes if before is None),
        "up": up,
        "down": down,
    }


def scoring_run_execute(*, scoring_run_id: int, final_attempt: bool = True) -> ScoringRun:
    """Run a queued scoring run: collect the evidence, score every project, store what changed.

    queued -> running -> succeeded | failed. A run that is no longer queued raises ScoringNotQueued (a second
    delivery of the task). A database error on an attempt that is not the last queues it again and raises
    ScoringRetry; anything else fails the run with the error, and is raised.
    """
    now = timezone.now()
    if not ScoringRun.objects.filter(pk=scoring_run_id, status=ScoringStatus.QUEUED).update(
        status=ScoringStatus.RUNNING, started_at=now, progress={"phase": "evidence"}
    ):
        raise ScoringNotQueued(f"Scoring run #{scoring_run_id} is not queued.")
    run = ScoringRun.objects.get(pk=scoring_run_id)
    timings: dict[str, float] = {}
    try:
        rubric = rubric_or_error(run.rubric_id)
        with gc_paused():
            clock = time.perf_counter()
            evidence = collect_evidence(project_ids=run.project_ids, now=now, rubric_id=rubric.id)
            timings["evidence_s"] = round(time.perf_counter() - clock, 4)
            _progress(run, phase="scoring", projects=len(evidence))
            clock = time.perf_counter()
            fresh_days = settings.MLGOV_EVIDENCE_FRESH_DAYS
            cards = {pid: score(rubric, ev, now=now, default_fresh_days=fresh_days) for pid, ev in evidence.items()}
            del evidence
            timings["engine_s"] = round(time.perf_counter() - clock, 4)
            _progress(run, phase="writing", projects=len(cards))
            clock = time.perf_counter()
            counts = _write_snapshots(run, rubric, cards, now, timings)
            timings["write_s"] = round(time.perf_counter() - clock, 4)
    except OperationalError as exc:
        if not final_attempt:
            ScoringRun.objects.filter(pk=run.pk).update(
                status=ScoringStatus.QUEUED, errors=[*run.errors, {"level": "warning", "message": f"retrying: {exc}"}]
            )
            raise ScoringRetry(str(exc)) from exc
        _scoring_run_fail(run, exc)
        raise
    except Exception as exc:
        _scoring_run_fail(run, exc)
        raise
    with transaction.atomic():
        run.status, run.finished_at = ScoringStatus.SUCCEEDED, timezone.now()
        run.counts, run.timings, run.progress = counts, timings, {"phase": "done", "projects": counts["projects"]}
        run.save(update_fields=["status", "finished_at", "counts", "timings", "progress"])
        if counts["snapshots"]:  # a run that changed nothing writes nothing to the audit trail
            audit_record(
                actor=run.triggered_by or "system",
                action="scoring.run_finished",
                target=run,
                after={"status": run.status, "trigger": run.trigger, "rubric": run.rubric_id, "counts": counts},
            )
    return run


def _scoring_run_fail(run: ScoringRun, exc: Exception) -> None:
    message = f"{type(exc).__name__}: {exc}"[:2000]
    with transaction.atomic():
        ScoringRun.objects.filter(pk=run.pk).update(
            status=ScoringStatus.FAILED,
            finished_at=timezone.now(),
            progress={"phase": "failed"},
            errors=[*run.errors, {"level": "error", "message": message}],
        )
        audit_record(
            actor=run.triggered_by or "system",
            action="scoring.run_finished",
            target=run,
            after={"status": "failed", "trigger": run.trigger, "error": message[:500]},
        )


def projects_score(
    *, actor: Any, trigger: str, project_ids: Iterable[int] | None = None, rubric_id: str | None = None
) -> ScoringRun:
    """Score now, in this process (the command line, the API's assess, a page's "score now", the demo)."""
    run = scoring_run_create(trigger=trigger, triggered_by=actor, project_ids=project_ids, rubric_id=rubric_id)
    return scoring_run_execute(scoring_run_id=run.pk)


def _rescore(actor: Any, project_id: int, rubric_id: str) -> None:
    try:
        projects_score(actor=actor, trigger=ScoringTrigger.CHANGE, project_ids=[project_id], rubric_id=rubric_id)
    except Exception:  # the change itself is committed; the nightly run scores it
        logger.exception("rescoring project %s failed", project_id)


# --- after a sync: which projects did it touch? ---


def projects_touched_by_sync(*, sync_run: SyncRun) -> list[int]:
    """The projects whose evidence a succeeded sync may have changed: those owning objects from its source
    that were written while it ran (MLflow), its repository's project when it was rescanned (Git), the
    projects of CI runs recorded while it ran (CI polls)."""
    start, end = sync_run.started_at, sync_run.finished_at or timezone.now()
    if start is None:
        return []
    window = {"updated_at__gte": start, "updated_at__lte": end}
    ids: set[int] = set()
    if sync_run.target.startswith("mlflow:"):
        source = {"external_source": sync_run.target}
        for model in (Experiment, TrainingRun, RegisteredModel, Dataset):
            ids.update(
                model.objects.filter(**source, **window, project__isnull=False).values_list("project_id", flat=True)
            )
        ids.update(
            ModelVersion.objects.filter(**source, **window, model__project__isnull=False).values_list(
                "model__project_id", flat=True
            )
        )
        ids.update(
            ModelAlias.objects.filter(
                model__external_source=sync_run.target, model__project__isnull=False, **window
            ).values_list("model__project_id", flat=True)
        )
    elif sync_run.target.startswith("git:"):
        ids.update(
            GitRepository.objects.filter(
                name=sync_run.target.removeprefix("git:"), project__isnull=False, scanned_at__gte=start
            ).values_list("project_id", flat=True)
        )
    elif sync_run.target.startswith("ci:"):
        ids.update(
            PipelineRun.objects.filter(**window, pipeline__project__isnull=False).values_list(
                "pipeline__project_id", flat=True
            )
        )
    return sorted(ids)


def scoring_after_sync(*, sync_run_id: int) -> ScoringRun | None:
    """Score the projects a succeeded sync touched (None when it touched none)."""
    sync_run = SyncRun.objects.filter(pk=sync_run_id).first()
    if sync_run is None:
        return None
    project_ids = projects_touched_by_sync(sync_run=sync_run)
    if not project_ids:
        return None
    run = scoring_run_create(
        trigger=ScoringTrigger.SYNC,
        triggered_by=f"sync:{sync_run.target}"[:150],
        project_ids=project_ids,
        sync_run_id=sync_run.pk,
    )
    return scoring_run_execute(scoring_run_id=run.pk)


# --- attestations ---

ATTESTATION_FIELDS = ("project", "rubric_id", "criterion_id", "statement", "link", "expires_at")
WAIVER_FIELDS = ("project", "rubric_id", "criterion_id", "justification", "expires_at")


def _criterion(rubric: Rubric, criterion_id: str) -> Criterion:
    criterion = rubric.criterion(criterion_id)
    if criterion is None:
        raise ValidationFailed(
            f"Unknown criterion {criterion_id!r} in rubric {rubric.id}.", details={"criterion": criterion_id}
        )
    return criterion


def _check_link(link: str) -> str:
    link = (link or "").strip()
    if not link:
        return ""
    try:
        URLValidator(schemes=["http", "https"])(link)
    except DjangoValidationError:
        raise ValidationFailed("link must be an http(s) URL.", details={"link": link[:200]}) from None
    if len(link) > 1000:
        raise ValidationFailed("link must be at most 1000 characters.", details={"link": "too long"})
    return link


def _check_text(value: str, name: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed(f"{name} is required.", details={name: "required"})
    if len(value) > 4000:
        raise ValidationFailed(f"{name} must be at most 4000 characters.", details={name: "too long"})
    if "\x00" in value:
        raise ValidationFailed(f"{name} must not contain NUL characters.", details={name: "invalid"})
    return value


def attestation_validity_days(rubric: Rubric, criterion: Criterion) -> int:
    """How long an attestation of this criterion lasts: the rule's days, else the organisation's default,
    never longer than the rubric allows for the criterion."""
    rule = AttestationRule.objects.filter(rubric_id=rubric.id, criterion_id=criterion.id).first()
    days = (rule.validity_days if rule and rule.validity_days else None) or settings.MLGOV_ATTESTATION_DAYS
    return min(days, criterion.attestation_days) if criterion.attestation_days else days


def attestation_create(
    *,
    actor: Any,
    project: Project,
    criterion_id: str,
    statement: str,
    link: str = "",
    days: int | None = None,
    rubric_id: str | None = None,
) -> Attestation:
    """A team maintainer (or an admin) attests that a criterion holds. It expires after the criterion's
    validity period (`days` may shorten it). The project is rescored."""
    rubric = rubric_or_error(rubric_id)
    criterion = _criterion(rubric, criterion_id)
    if not user_can_manage_team(actor, project.team_id):
        raise PermissionDenied("Only the project team's maintainers may attest its criteria.")
    if not criterion.attestable:
        raise ValidationFailed(
            f"{criterion.id} is detected from evidence and cannot be attested; a manager may waive it.",
            details={"criterion": criterion.id, "method": criterion.method},
        )
    allowed = attestation_validity_days(rubric, criterion)
    if days is not None and not 1 <= int(days) <= allowed:
        raise ValidationFailed(f"days must be between 1 and {allowed}.", details={"days": days})
    now = timezone.now()
    with transaction.atomic():
        attestation = Attestation(
            project=project,
            rubric_id=rubric.id,
            criterion_id=criterion.id,
            statement=_check_text(statement, "statement"),
            link=_check_link(link),
            attested_by=actor,
            attested_by_name=_actor_name(actor),
            created_at=now,
            expires_at=now + timedelta(days=int(days or allowed)),
        )
        attestation.save()
        audit_record(
            actor=actor,
            action="attestation.created",
            target=attestation,
            after=snapshot(attestation, ATTESTATION_FIELDS),
        )
    _rescore(actor, project.pk, rubric.id)
    return attestation


def attestation_verify(*, actor: Any, attestation: Attestation) -> Attestation:
    """A reviewer (not the attester) verifies an attestation. The project is rescored."""
    if not (user_is_reviewer(actor) or user_is_admin(actor)):
        raise PermissionDenied("Only reviewers may verify attestations.")
    if attestation.attested_by_id is not None and attestation.attested_by_id == getattr(actor, "pk", None):
        raise PermissionDenied("An attestation must be verified by someone other than its author.")
    with transaction.atomic():
        current = Attestation.objects.select_for_update().get(pk=attestation.pk)
        if current.revoked_at is not None or current.expires_at <= timezone.now():
            raise Conflict("Only a current attestation can be verified.", details={"state": current.state()})
        if current.verified_at is not None:
            raise Conflict("The attestation is verified already.", details={"verified_by": current.verified_by_name})
        current.verified_by, current.verified_by_name = actor, _actor_name(actor)
        current.verified_at = timezone.now()
        current.save(update_fields=["verified_by", "verified_by_name", "verified_at"])
        audit_record(
            actor=actor, action="attestation.verified", target=current, after={"verified_by": _actor_name(actor)}
        )
    _rescore(actor, current.project_id, current.rubric_id)
    return current


def attestation_revoke(*, actor: Any, attestation: Attestation, reason: str = "") -> Attestation:
    """The team's maintainers, managers or admins revoke an attestation. The project is rescored."""
    team_id = Project.objects.filter(pk=attestation.project_id).values_list("team_id", flat=True).first()
    if not (user_can_manage_team(actor, team_id) or user_is_manager(actor)):
        raise PermissionDenied("Only the team's maintainers or a manager may revoke an attestation.")
    with transaction.atomic():
        current = Attestation.objects.select_for_update().get(pk=attestation.pk)
        if current.revoked_at is not None:
            raise Conflict("The attestation is revoked already.")
        current.revoked_at, current.revoked_by_name = timezone.now(), _actor_name(actor)
        current.revoke_reason = (reason or "").strip()[:500]
        current.save(update_fields=["revoked_at", "revoked_by_name", "revoke_reason"])
        audit_record(actor=actor, action="attestation.revoked", target=current, after={"reason": current.revoke_reason})
    _rescore(actor, current.project_id, current.rubric_id)
    return current


def attestation_rule_set(
    *,
    actor: Any,
    criterion_id: str,
    requires_verification: bool,
    validity_days: int | None = None,
    rubric_id: str | None = None,
) -> AttestationRule:
    """A manager decides whether attestations of a criterion need a reviewer's verification, and how long
    they last. The projects with attestations of that criterion are rescored (queued)."""
    if not user_is_manager(actor):
        raise PermissionDenied("Only managers may set attestation rules.")
    rubric = rubric_or_error(rubric_id)
    criterion = _criterion(rubric, criterion_id)
    if not criterion.attestable:
        raise ValidationFailed(f"{criterion.id} cannot be attested.", details={"criterion": criterion.id})
    if validity_days is not None and not 1 <= int(validity_days) <= 3650:
        raise ValidationFailed("validity_days must be between 1 and 3650.", details={"validity_days": validity_days})
    fields = ("requires_verification", "validity_days")
    with transaction.atomic():
        rule = (
            AttestationRule.objects.select_for_update().filter(rubric_id=rubric.id, criterion_id=criterion.id).first()
        )
        before = snapshot(rule, fields) if rule else None
        rule = rule or AttestationRule(rubric_id=rubric.id, criterion_id=criterion.id)
        rule.requires_verification, rule.validity_days = bool(requires_verification), validity_days
        rule.updated_by_name = _actor_name(actor)
        after = snapshot(rule, fields)
        if after == before:
            return rule
        rule.save()
        audit_record(
            actor=actor,
            action="attestation_rule.set",
            target=rule,
            target_repr=f"{rubric.id}:{criterion.id}",
            before=before,
            after=after,
        )
        affected = list(
            Attestation.objects.filter(rubric_id=rubric.id, criterion_id=criterion.id)
            .values_list("project_id", flat=True)
            .distinct()
            .order_by()
        )
        if affected:
            scoring_run_request(
                trigger=ScoringTrigger.CHANGE, triggered_by=actor, project_ids=affected, rubric_id=rubric.id
            )
    return rule


# --- waivers ---


def _as_expiry(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    # A date: the waiver holds to the end of that day (UTC).
    return datetime.combine(value, datetime.max.time().replace(microsecond=0), tzinfo=timezone.get_default_timezone())


def waiver_grant(
    *,
    actor: Any,
    project: Project,
    criterion_id: str,
    justification: str,
    expires_at: date | datetime,
    rubric_id: str | None = None,
) -> Waiver:
    """A manager waives a criterion for a project until `expires_at` (at most MLGOV_WAIVER_MAX_DAYS ahead).
    The project is rescored."""
    if not user_is_manager(actor):
        raise PermissionDenied("Only managers may grant waivers.")
    rubric = rubric_or_error(rubric_id)
    criterion = _criterion(rubric, criterion_id)
    now = timezone.now()
    expiry = _as_expiry(expires_at)
    limit = now + timedelta(days=settings.MLGOV_WAIVER_MAX_DAYS)
    if expiry <= now:
        raise ValidationFailed("expires_at must be in the future.", details={"expires_at": expiry.isoformat()})
    if expiry > limit + timedelta(days=1):
        raise ValidationFailed(
            f"A waiver may last at most {settings.MLGOV_WAIVER_MAX_DAYS} days.",
            details={"expires_at": expiry.isoformat(), "latest": limit.date().isoformat()},
        )
    with transaction.atomic():
        waiver = Waiver(
            project=project,
            rubric_id=rubric.id,
            criterion_id=criterion.id,
            justification=_check_text(justification, "justification"),
            granted_by=actor,
            granted_by_name=_actor_name(actor),
            created_at=now,
            expires_at=expiry,
        )
        waiver.save()
        audit_record(actor=actor, action="waiver.granted", target=waiver, after=snapshot(waiver, WAIVER_FIELDS))
    _rescore(actor, project.pk, rubric.id)
    return waiver


def waiver_revoke(*, actor: Any, waiver: Waiver, reason: str = "") -> Waiver:
    if not user_is_manager(actor):
        raise PermissionDenied("Only managers may revoke waivers.")
    with transaction.atomic():
        current = Waiver.objects.select_for_update().get(pk=waiver.pk)
        if current.revoked_at is not None:
            raise Conflict("The waiver is revoked already.")
        current.revoked_at, current.revoked_by_name = timezone.now(), _actor_name(actor)
        current.revoke_reason = (reason or "").strip()[:500]
        current.save(update_fields=["revoked_at", "revoked_by_name", "revoke_reason"])
        audit_record(actor=actor, action="waiver.revoked", target=current, after={"reason": current.revoke_reason})
    _rescore(actor, current.project_id, current.rubric_id)
    return current


# --- goals ---

GOAL_FIELDS = ("name", "rubric_id", "target_level", "due_date", "team", "risk_tier", "lifecycle")


def _goal_check(goal: MaturityGoal) -> None:
    rubric = rubric_or_error(goal.rubric_id)
    problems: dict[str, str] = {}
    if not goal.name.strip():
        problems["name"] = "required"
    if goal.target_level not in rubric.level_numbers or goal.target_level == rubric.baseline:
        problems["target_level"] = f"must be one of {list(rubric.level_numbers[1:])}"
    if goal.risk_tier is not None and goal.risk_tier not in RiskTier.values:
        problems["risk_tier"] = f"must be one of {RiskTier.values}"
    if goal.lifecycle and goal.lifecycle not in Lifecycle.values:
        problems["lifecycle"] = f"must be one of {Lifecycle.values}"
    if problems:
        raise ValidationFailed("The goal is invalid.", details=problems)


def maturity_goal_create(
    *,
    actor: Any,
    name: str,
    target_level: int,
    due_date: date,
    team: Team | None = None,
    risk_tier: int | None = None,
    lifecycle: str = "",
    rubric_id: str | None = None,
) -> MaturityGoal:
    if not user_is_manager(actor):
        raise PermissionDenied("Only managers may set goals.")
    goal = MaturityGoal(
        name=(name or "").strip()[:200],
        rubric_id=rubric_or_error(rubric_id).id,
        target_level=target_level,
        due_date=due_date,
        team=team,
        risk_tier=risk_tier,
        lifecycle=lifecycle or "",
        created_by_name=_actor_name(actor),
    )
    _goal_check(goal)
    with transaction.atomic():
        goal.save()
        audit_record(actor=actor, action="maturity_goal.created", target=goal, after=snapshot(goal, GOAL_FIELDS))
    return goal


def maturity_goal_update(*, actor: Any, goal: MaturityGoal, **changes: Any) -> MaturityGoal:
    if not user_is_manager(actor):
        raise PermissionDenied("Only managers may change goals.")
    unknown = set(changes) - set(GOAL_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown goal field(s): {', '.join(sorted(unknown))}")
    with transaction.atomic():
        goal = MaturityGoal.objects.select_for_update().get(pk=goal.pk)
        before = snapshot(goal, GOAL_FIELDS)
        for key, value in changes.items():
            setattr(goal, key, value if value is not None or key in ("team", "risk_tier") else "")
        _goal_check(goal)
        after = snapshot(goal, GOAL_FIELDS)
        if after != before:
            goal.save()
            audit_record(actor=actor, action="maturity_goal.updated", target=goal, before=before, after=after)
    return goal


def maturity_goal_delete(*, actor: Any, goal: MaturityGoal) -> None:
    if not user_is_manager(actor):
        raise PermissionDenied("Only managers may remove goals.")
    with transaction.atomic():
        audit_record(actor=actor, action="maturity_goal.deleted", target=goal, before=snapshot(goal, GOAL_FIELDS))
        goal.delete()
