"""MLflow, turned into frozen dataclasses. The only module that talks to MLflow's client.

Everything pages with the client's page tokens, so memory stays flat in the number of objects.
Errors come out typed: `MlflowNotFound`, `MlflowPermissionDenied`, `MlflowUnreachable`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The client's own HTTP retries default to 7 attempts over minutes; our task owns retries instead.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")

# mlflow itself is imported on first use: importing it costs seconds, and every manage.py command and
# every page load that only imports this module for its dataclasses should not pay for it.


class ViewType:
    """MLflow's run/experiment view types (mlflow.entities.ViewType), without importing mlflow."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3


RUN_TAGS_KEPT = (
    "mlflow.source.git.repoURL",
    "mlflow.source.git.commit",
    "mlflow.source.name",
    "mlflow.source.type",
    "mlflow.user",
    "mlflow.runName",
    "mlflow.parentRunId",
    "feast.feature_refs",
    "feast.feature_service",
    "mlgov.project",
)
MAX_TAG_VALUE = 2000
MAX_PARAMS = 500
MAX_METRICS = 500


class MlflowError(Exception):
    """A failure talking to MLflow."""


class MlflowNotFound(MlflowError):
    pass


class MlflowPermissionDenied(MlflowError):
    pass


class MlflowUnreachable(MlflowError):
    pass


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: str
    tags: dict[str, str]
    clipped: tuple[str, ...] = ()  # what was truncated to MAX_TAG_VALUE, e.g. "tag note"


@dataclass(frozen=True)
class DatasetInput:
    name: str
    digest: str
    source_type: str
    source: str
    context: str
    schema: dict[str, Any]
    profile: dict[str, Any]


@dataclass(frozen=True)
class Run:
    run_id: str
    experiment_id: str
    name: str
    status: str
    lifecycle_stage: str
    user: str
    start_time: datetime | None
    end_time: datetime | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    dataset_inputs: tuple[DatasetInput, ...] = ()
    clipped: tuple[str, ...] = ()

    @property
    def git_commit(self) -> str:
        # Lowercase, as git prints it: the inventory's commit filters and CI links compare lowercase shas.
        return self.tags.get("mlflow.source.git.commit", "").strip().lower()

    @property
    def feature_refs(self) -> tuple[str, ...]:
        raw = self.tags.get("feast.feature_refs", "")
        return tuple(r.strip() for r in raw.replace(";", ",").split(",") if r.strip())

    @property
    def features(self) -> tuple[FeastFeature, ...]:
        return feast_features(self.tags)


@dataclass(frozen=True)
class FeastFeature:
    """A feature named by Feast tags: `feature_set` is its feature view, or the feature service for a bare
    name (Feast refs are `view:feature`; a service is a named set of them)."""

    key: str
    feature_set: str
    name: str


def feast_features(tags: dict[str, str]) -> tuple[FeastFeature, ...]:
    """`feast.feature_refs` (`view:feature, …`, or bare names) and `feast.feature_service` -> features.

    A ref with a view keeps its view. A bare name belongs to the feature service when one is tagged
    (keyed `service:name`), else to no set. A service named without refs gives no features: which
    features it holds lives in the Feast registry, not in MLflow."""
    service = tags.get("feast.feature_service", "").strip()[:255]
    found: dict[str, FeastFeature] = {}
    for ref in tags.get("feast.feature_refs", "").replace(";", ",").split(","):
        ref = ref.strip()
        if not ref:
            continue
        view, _, name = ref.rpartition(":")
        view = view or service
        key = f"{view}:{name}" if view else name
        found.setdefault(key, FeastFeature(key[:255], view[:255], name[:255]))
    return tuple(found.values())


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    status: str
    source: str
    run_id: str
    model_id: str
    tags: dict[str, str]
    aliases: tuple[str, ...]
    created_at: datetime | None
    updated_at: datetime | None
    clipped: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[FeastFeature, ...]:
        return feast_features(self.tags)


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, str] = field(default_factory=dict)
    updated_at: datetime | None = None
    clipped: tuple[str, ...] = ()


def _ts(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None


def _clip(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("\x00", "")[:MAX_TAG_VALUE]


def _clipped_map(raw: dict[str, Any] | None, what: str = "tag") -> tuple[dict[str, str], list[str]]:
    """Clipped values, and which of them were truncated (as "tag <key>"), so the sync can report them."""
    values = {k: _clip(v) for k, v in (raw or {}).items()}
    long = [f"{what} {k}" for k, v in (raw or {}).items() if v is not None and len(str(v)) > MAX_TAG_VALUE]
    return values, long


def _frozen(pair: tuple[dict[str, str], list[str]]) -> tuple[dict[str, str], tuple[str, ...]]:
    return pair[0], tuple(pair[1])


def _json(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {"raw": _clip(raw)}
    return value if isinstance(value, dict) else {"value": value}


def _source_uri(source: str | None) -> str:
    parsed = _json(source)
    return _clip(parsed.get("uri") or parsed.get("url") or parsed.get("path") or source or "")


def _translate(exc: Exception) -> MlflowError:
    from mlflow.exceptions import MlflowException, RestException

    if isinstance(exc, RestException | MlflowException):
        code = getattr(exc, "error_code", "")
        if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return MlflowNotFound(str(exc))
        if code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
            return MlflowPermissionDenied(str(exc))
        message = str(exc)
        if "Max retries exceeded" in message or "Connection" in message or "timed out" in message:
            return MlflowUnreachable(message)
        return MlflowError(message)
    return MlflowUnreachable(f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowError:
        raise
    except (MlflowException, OSError) as exc:
        raise _translate(exc) from exc
    except Exception as exc:
        # requests' ConnectionError and friends are not OSError subclasses in every version
        if "requests" in type(exc).__module__ or "urllib3" in type(exc).__module__:
            raise MlflowUnreachable(f"{type(exc).__name__}: {exc}") from exc
        raise


def _host_creds(uri: str, token: str | None) -> Any:
    """This connection's credentials: its own bearer token or none. MLflow's TLS settings still come from
    the environment, but never its process-wide MLFLOW_TRACKING_TOKEN / username / password, which would
    leak one connection's credentials into another's requests."""
    from mlflow.utils.credentials import get_default_host_creds

    creds = get_default_host_creds(uri)
    creds.token = token or None
    creds.username = creds.password = None
    return creds


@functools.cache
def _pinned_clients() -> tuple[type, type]:
    """MLflow's tracking and registry clients, with a store of their own instead of the one MLflow caches
    per URI (whose credentials are read from os.environ at call time)."""
    from mlflow.tracking._model_registry.client import ModelRegistryClient
    from mlflow.tracking._tracking_service.client import TrackingServiceClient

    class PinnedTrackingClient(TrackingServiceClient):
        def __init__(self, tracking_uri: str, store: Any) -> None:
            self._pinned_store = store
            super().__init__(tracking_uri)

        @property
        def store(self) -> Any:
            return self._pinned_store

    class PinnedRegistryClient(ModelRegistryClient):
        def __init__(self, registry_uri: str, tracking_uri: str, store: Any) -> None:
            self._pinned_store = store
            super().__init__(registry_uri, tracking_uri)

        @property
        def store(self) -> Any:
            return self._pinned_store

    return PinnedTrackingClient, PinnedRegistryClient


def _bind_credentials(client: Any, uri: str, token: str | None) -> None:
    """Give `client` REST stores whose credentials are this connection's, not the process environment's."""
    from mlflow.store.model_registry.rest_store import RestStore as RegistryRestStore
    from mlflow.store.tracking.rest_store import RestStore as TrackingRestStore

    creds = functools.partial(_host_creds, uri, token)
    tracking_cls, registry_cls = _pinned_clients()
    client._tracking_client = tracking_cls(uri, TrackingRestStore(creds))
    # MlflowClient builds its registry client lazily into this attribute; it is built here instead.
    client._registry_client_lazy = registry_cls(uri, uri, RegistryRestStore(creds))


class MlflowSource:
    """Read (and, for promotions, write) one MLflow tracking server or local store."""

    def __init__(self, tracking_uri: str, *, token: str | None = None, page_size: int = 1000) -> None:
        self.tracking_uri = tracking_uri
        self.page_size = page_size
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        if tracking_uri.startswith(("http://", "https://")):
            _bind_credentials(self.client, tracking_uri, token)

    # --- reads ---

    def ping(self) -> None:
        with _errors():
            self.client.search_experiments(max_results=1)

    def iter_experiments(self) -> Iterator[list[Experiment]]:
        token = None
        while True:
            with _errors():
                page = self.client.search_experiments(
                    view_type=ViewType.ALL, max_results=self.page_size, page_token=token
                )
            yield [
                Experiment(e.experiment_id, _clip(e.name), e.lifecycle_stage, *_frozen(_clipped_map(e.tags)))
                for e in page
            ]
            token = page.token
            if not token:
                return

    def iter_runs(
        self, experiment_ids: list[str], *, filter_string: str = "", view: int = ViewType.ALL
    ) -> Iterator[list[Run]]:
        if not experiment_ids:
            return
        token = None
        while True:
            with _errors():
                page = self.client.search_runs(
                    experiment_ids,
                    filter_string=filter_string,
                    run_view_type=view,
                    max_results=self.page_size,
                    page_token=token,
                    order_by=["attributes.start_time ASC"],
                )
            yield [self._run(r) for r in page]
            token = page.token
            if not token:
                return

    def get_run(self, run_id: str) -> Run | None:
        try:
            with _errors():
                return self._run(self.client.get_run(run_id))
        except MlflowNotFound:
            return None

    def iter_registered_models(self) -> Iterator[list[RegisteredModel]]:
        token = None
        while True:
            with _errors():
                page = self.client.search_registered_models(
                    max_results=self.page_size, page_token=token, order_by=["name ASC"]
                )
            yield [self._model(m) for m in page]
            token = page.token
            if not token:
                return

    def iter_model_versions(self, filter_string: str = "") -> Iterator[list[ModelVersion]]:
        token = None
        while True:
            with _errors():
                page = self.client.search_model_versions(
                    filter_string or None, max_results=self.page_size * 10, page_token=token, order_by=["name ASC"]
                )
            yield [self._version(v) for v in page]
            token = page.token
            if not token:
                return

    def logged_model_run_id(self, model_id: str) -> str:
        """The source run of an MLflow 3 logged model (`models:/m-…`), or '' if unknown."""
        try:
            with _errors():
                return self.client.get_logged_model(model_id).source_run_id or ""
        except MlflowError:
            return ""

    # --- writes (promotions) ---

    def get_version(self, name: str, version: str) -> ModelVersion:
        with _errors():
            return self._version(self.client.get_model_version(name, version))

    def alias_holder(self, name: str, alias: str) -> str | None:
        with _errors():
            holder = (self.client.get_registered_model(name).aliases or {}).get(alias)
        return None if holder is None else str(holder)

    def set_alias(self, name: str, alias: str, version: str) -> bool:
        """Point `alias` at `version`. Returns False (and writes nothing) when it already does."""
        if self.alias_holder(name, alias) == str(version):
            return False
        with _errors():
            self.client.set_registered_model_alias(name, alias, str(version))
        return True

    def delete_alias(self, name: str, alias: str) -> bool:
        if self.alias_holder(name, alias) is None:
            return False
        with _errors():
            self.client.delete_registered_model_alias(name, alias)
        return True

    def set_version_tags(self, name: str, version: str, tags: dict[str, str]) -> int:
        current = self.get_version(name, version).tags
        changed = {k: v for k, v in tags.items() if current.get(k) != v}
        with _errors():
            for key, value in changed.items():
                self.client.set_model_version_tag(name, str(version), key, value)
        return len(changed)

    # --- mapping ---

    @staticmethod
    def _run(r: Any) -> Run:
        info, data = r.info, r.data
        tags, clipped = _clipped_map({k: v for k, v in (data.tags or {}).items() if k in RUN_TAGS_KEPT})
        inputs = []
        for di in getattr(getattr(r, "inputs", None), "dataset_inputs", None) or []:
            ds = di.dataset
            context = next((t.value for t in (di.tags or []) if t.key == "mlflow.data.context"), "")
            inputs.append(
                DatasetInput(
                    name=_clip(ds.name)[:255],
                    digest=_clip(ds.digest)[:128],
                    source_type=_clip(ds.source_type)[:60],
                    source=_source_uri(ds.source),
                    context=_clip(context)[:60],
                    schema=_json(ds.schema),
                    profile=_json(ds.profile),
                )
            )
        metrics = dict(sorted((data.metrics or {}).items())[:MAX_METRICS])
        params, long_params = _clipped_map(dict(sorted((data.params or {}).items())[:MAX_PARAMS]), "param")
        return Run(
            run_id=info.run_id,
            experiment_id=str(info.experiment_id),
            name=_clip(info.run_name or tags.get("mlflow.runName", ""))[:500],
            status=info.status or "",
            lifecycle_stage=info.lifecycle_stage or "active",
            user=_clip(tags.get("mlflow.user") or info.user_id or "")[:255],
            start_time=_ts(info.start_time),
            end_time=_ts(info.end_time),
            params=params,
            metrics={k: float(v) for k, v in metrics.items()},
            tags=tags,
            dataset_inputs=tuple(inputs),
            clipped=(*clipped, *long_params),
        )

    @staticmethod
    def _version(v: Any) -> ModelVersion:
        source = _clip(v.source)[:1000]
        model_id = getattr(v, "model_id", None) or ""
        if not model_id and source.startswith("models:/m-"):
            model_id = source.removeprefix("models:/").split("/")[0]
        tags, clipped = _clipped_map(v.tags)
        return ModelVersion(
            name=_clip(v.name),
            version=str(v.version),
            status=v.status or "READY",
            source=source,
            run_id=v.run_id or "",
            model_id=model_id,
            tags=tags,
            aliases=tuple(sorted(v.aliases or [])),
            created_at=_ts(v.creation_timestamp),
            updated_at=_ts(v.last_updated_timestamp),
            clipped=tuple(clipped),
        )

    @staticmethod
    def _model(m: Any) -> RegisteredModel:
        tags, clipped = _clipped_map(m.tags)
        if m.description and len(m.description) > MAX_TAG_VALUE:
            clipped.append("description")
        return RegisteredModel(
            _clip(m.name),
            _clip(m.description),
            tags,
            # A SQLite store gives the versions as ints, the REST API as strings.
            {alias: str(v) for alias, v in (m.aliases or {}).items()},
            _ts(m.last_updated_timestamp),
            tuple(clipped),
        )
