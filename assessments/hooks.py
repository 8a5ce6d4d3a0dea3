"""Extension points for the apps above assessments (governance), filled in at start-up.

Assessments never imports those apps. An app that observes evidence the maturity model scores (the
governance app: promotions approved through gates, aliases changed only by approved promotions)
registers a provider in its `AppConfig.ready()`:

    from assessments.contracts import Evidence
    from assessments.hooks import register_evidence_provider

    def governance_evidence(project_ids, now):
        # a fixed number of queries for all of `project_ids`
        return {project_id: [Evidence(kind="promotion.governed", source="mlgov:governance", ...)], ...}

    register_evidence_provider(governance_evidence)

Every scoring run calls every provider once with all the projects it scores. docs/rubric.md lists the
evidence kinds the rubrics read, with their fields.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from assessments.contracts import Evidence, EvidenceProvider

logger = logging.getLogger(__name__)
_providers: list[EvidenceProvider] = []


def register_evidence_provider(provider: EvidenceProvider) -> None:
    """Add a provider (idempotent: registering the same callable twice keeps one)."""
    if provider not in _providers:
        _providers.append(provider)


def evidence_providers() -> list[EvidenceProvider]:
    return list(_providers)


def provided_evidence(project_ids: Sequence[int], now: datetime) -> dict[int, list[Evidence]]:
    """Call every registered provider; merge their records per project. A provider that returns records
    of something other than `Evidence`, or for projects it was not asked about, is a bug and raises."""
    wanted = set(project_ids)
    merged: dict[int, list[Evidence]] = {}
    for provider in list(_providers):
        result: Mapping[int, Iterable[Evidence]] = provider(project_ids, now)
        for project_id, records in result.items():
            if project_id not in wanted:
                raise ValueError(f"evidence provider {provider!r} returned records for unknown project {project_id}")
            for record in records:
                if not isinstance(record, Evidence):
                    raise TypeError(f"evidence provider {provider!r} returned {type(record).__name__}, not Evidence")
                merged.setdefault(project_id, []).append(record)
    return merged
