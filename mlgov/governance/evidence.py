"""The maturity evidence mlgov itself observes, for the scoring engine (assessments.hooks).

The kinds and fields are those docs/rubric.md lists for the governance source:

- `promotion.governed`: promotions of the project's models that went through approval with policy gates
  and were applied. source `mlgov:governance`; link: the newest such request; observed_at: when it was
  applied; count: promotions; facts: {model, version, alias, gates}.
- `alias.governed`: every alias change of the project's models in the last 90 days came from an approved
  promotion (no drift finding). Produced only when that holds, when mlgov governs at least one of the
  project's aliases, and once a drift check has run. observed_at: when it last ran (the latest successful
  sync of the models' connection, after which the check runs); count: aliases checked.

Records only say that something holds; a project with drift simply gets no `alias.governed`. Six queries for
any number of projects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from django.db.models import Count, Max
from django.urls import reverse

from assessments.contracts import Evidence
from integrations.models import SyncRun
from mlgov.governance.choices import AliasSource
from mlgov.governance.choices import PromotionState as State
from mlgov.governance.models import AliasChange, DriftFinding, PromotionRequest
from mlgov.inventory.models import RegisteredModel

SOURCE = "mlgov:governance"
DRIFT_WINDOW = timedelta(days=90)


def governance_evidence(project_ids: Sequence[int], now: datetime) -> Mapping[int, Iterable[Evidence]]:
    ids = list(project_ids)
    out: dict[int, list[Evidence]] = {}
    applied = PromotionRequest.objects.filter(state=State.APPLIED, model__project_id__in=ids)
    counts = dict(applied.values("model__project_id").annotate(n=Count("id")).values_list("model__project_id", "n"))
    newest: dict[int, tuple] = {}
    for row in applied.order_by("model__project_id", "-applied_at", "-id").values_list(
        "model__project_id", "id", "applied_at", "model__name", "version__version", "target", "gates"
    ):
        newest.setdefault(row[0], row)
    for project_id, (_, pk, applied_at, model, version, alias, gates) in newest.items():
        n = counts[project_id]
        out.setdefault(project_id, []).append(
            Evidence(
                kind="promotion.governed",
                source=SOURCE,
                observed_at=applied_at,
                link=reverse("promotion-detail", args=[pk]),
                count=n,
                summary=f"{n} promotion{'s' if n != 1 else ''} approved through policy gates; latest {model} "
                f"v{version} → {alias}",
                facts={"model": model, "version": version, "alias": alias, "gates": [g["gate"] for g in gates or []]},
            )
        )

    drifted = set(
        DriftFinding.objects.filter(model__project_id__in=ids, detected_at__gte=now - DRIFT_WINDOW).values_list(
            "model__project_id", flat=True
        )
    )
    pairs: dict[int, set[tuple[int, str]]] = {}
    for project_id, model_id, alias in (
        AliasChange.objects.filter(model__project_id__in=ids, model__removed_at__isnull=True)
        .exclude(source=AliasSource.OBSERVED)
        .values_list("model__project_id", "model_id", "alias")
        .distinct()
    ):
        pairs.setdefault(project_id, set()).add((model_id, alias))
    sources: dict[int, set[str]] = {}
    slugs: dict[int, str] = {}
    for project_id, slug, source in (
        RegisteredModel.objects.filter(project_id__in=list(pairs), removed_at__isnull=True)
        .values_list("project_id", "project__slug", "external_source")
        .distinct()
    ):
        sources.setdefault(project_id, set()).add(source)
        slugs[project_id] = slug
    checked_at = dict(
        SyncRun.objects.filter(
            target__in={s for group in sources.values() for s in group}, status="succeeded", kind="mlflow"
        )
        .values("target")
        .annotate(at=Max("finished_at"))
        .values_list("target", "at")
    )
    for project_id, checked in pairs.items():
        if project_id in drifted:
            continue
        times = [checked_at.get(s) for s in sources.get(project_id, ())]
        if not times or any(t is None for t in times):
            continue  # some connection was never synced since, so no drift check has seen its aliases
        out.setdefault(project_id, []).append(
            Evidence(
                kind="alias.governed",
                source=SOURCE,
                observed_at=min(times),
                link=reverse("promotion-queue") + f"?view=all&project={slugs.get(project_id, '')}",
                count=len(checked),
                summary=f"{len(checked)} alias{'es' if len(checked) != 1 else ''} changed only by approved "
                f"promotions; no drift in {DRIFT_WINDOW.days} days",
                facts={"aliases": sorted(f"{m}:{a}" for m, a in checked)},
            )
        )
    return out
