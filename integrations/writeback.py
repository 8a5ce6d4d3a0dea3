"""Write-back to MLflow for promotions: move an alias on the connection a registered model was synced from.

`MlflowSource.set_alias` (integrations/mlflow.py) is idempotent; this module finds the connection from the
model's `external_source` (`mlflow:<connection name>`), reads the holder first (the previous holder a
promotion records), writes, and audits what it wrote (`mlflow.alias_set`, `mlflow.alias_deleted`,
`mlflow.version_tags_set`). Errors stay typed: `MlflowUnreachable` (worth a retry), `MlflowNotFound`,
`MlflowPermissionDenied`, `MlflowError`; `WriteBackUnavailable` when the model has no MLflow connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from integrations import mlflow as mf
from integrations.models import MlflowConnection
from integrations.sync import connection_source
from mlgov.audit.services import audit_record
from mlgov.errors import ValidationFailed


class WriteBackUnavailable(ValidationFailed):
    """The model did not come from an MLflow connection that still exists."""

    code = "writeback_unavailable"


@dataclass(frozen=True)
class AliasWrite:
    """What MLflow held before (`previous`, None: the alias was not set) and whether anything was written."""

    previous: str | None
    changed: bool


def _source_for(model: Any) -> tuple[MlflowConnection, mf.MlflowSource]:
    kind, _, name = (model.external_source or "").partition(":")
    if kind != "mlflow" or not name:
        raise WriteBackUnavailable(
            f"{model.name} was not synced from MLflow ({model.external_source or 'no source'}), so mlgov cannot "
            "move its aliases.",
            details={"external_source": model.external_source},
        )
    connection = MlflowConnection.objects.filter(name=name).first()
    if connection is None:
        raise WriteBackUnavailable(
            f"The MLflow connection {name!r} that {model.name} came from no longer exists.",
            details={"external_source": model.external_source},
        )
    return connection, connection_source(connection)


def mlflow_alias_holder(*, model: Any, alias: str) -> str | None:
    """The version number MLflow's alias points at now (None: not set)."""
    _, source = _source_for(model)
    return source.alias_holder(model.external_id or model.name, alias)


def mlflow_alias_set(
    *, actor: Any, model: Any, alias: str, version: str, tags: dict[str, str] | None = None
) -> AliasWrite:
    """Point `alias` of `model` at `version` in MLflow (and set `tags` on that version). Idempotent."""
    connection, source = _source_for(model)
    name = model.external_id or model.name
    previous = source.alias_holder(name, alias)
    changed = source.set_alias(name, alias, str(version))
    tagged = source.set_version_tags(name, str(version), tags) if tags else 0
    with transaction.atomic():
        if changed:
            audit_record(
                actor=actor,
                action="mlflow.alias_set",
                target=model,
                before={"alias": alias, "version": previous},
                after={"alias": alias, "version": str(version), "connection": connection.name},
            )
        if tagged:
            audit_record(
                actor=actor,
                action="mlflow.version_tags_set",
                target=model,
                after={"version": str(version), "tags": tags, "connection": connection.name},
            )
    return AliasWrite(previous=previous, changed=changed)


def mlflow_alias_delete(*, actor: Any, model: Any, alias: str) -> AliasWrite:
    connection, source = _source_for(model)
    name = model.external_id or model.name
    previous = source.alias_holder(name, alias)
    changed = source.delete_alias(name, alias)
    if changed:
        with transaction.atomic():
            audit_record(
                actor=actor,
                action="mlflow.alias_deleted",
                target=model,
                before={"alias": alias, "version": previous},
                after={"alias": alias, "version": None, "connection": connection.name},
            )
    return AliasWrite(previous=previous, changed=changed)
