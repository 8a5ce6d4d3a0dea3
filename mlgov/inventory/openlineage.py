"""OpenLineage (spec 2-0-2) in and out, as plain Python: parse a RunEvent body into frozen dataclasses,
and build RunEvents from the graph. No Django, so both are tested without a database.

In: `parse_body` reads the JSON under limits (nesting depth, NUL characters, lone surrogates, NaN and
Infinity, all of which a database would refuse later), and `parse_run_event` checks what mlgov needs and
the spec requires, raising `EventInvalid` with the offending field's path (``run.runId``, ``eventType``,
``inputs[2].name``...). Facets are not interpreted beyond the few mlgov reads; all of them, known or not,
stay in the stored payload.

Out: `run_event` builds one RunEvent dict; `MODEL_FACET` is mlgov's custom dataset facet (see
docs/lineage.md), whose JSON schema is `MODEL_FACET_SCHEMA`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

SPEC_VERSION = "2-0-2"
SCHEMA_URL = f"https://openlineage.io/spec/{SPEC_VERSION}/OpenLineage.json#/$defs/RunEvent"
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
MAX_DATASETS = 1000
MAX_STRING = 100_000
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")


class EventInvalid(ValueError):
    """The event is not an acceptable OpenLineage RunEvent. `field` is the path of the offending value."""

    def __init__(self, field: str, message: str, code: str = "invalid_event") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code


@dataclass(frozen=True)
class OLDataset:
    namespace: str
    name: str
    facets: Mapping[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """The dataset version facet's value (DatasetVersionDatasetFacet), matched to MLflow digests."""
        facet = self.facets.get("version")
        value = facet.get("datasetVersion") if isinstance(facet, dict) else None
        return value.strip()[:128] if isinstance(value, str) else ""

    @property
    def uri(self) -> str:
        return dataset_uris(self.namespace, self.name)[0]

    @property
    def schema_fields(self) -> list[dict[str, str]]:
        facet = self.facets.get("schema")
        fields = facet.get("fields") if isinstance(facet, dict) else None
        if not isinstance(fields, list):
            return []
        return [
            {"name": str(f.get("name", ""))[:200], "type": str(f.get("type", ""))[:100]}
            for f in fields[:500]
            if isinstance(f, dict)
        ]


@dataclass(frozen=True)
class OLRunEvent:
    event_type: str
    event_time: datetime
    run_id: str
    job_namespace: str
    job_name: str
    producer: str
    schema_url: str
    inputs: tuple[OLDataset, ...] = ()
    outputs: tuple[OLDataset, ...] = ()
    run_facets: Mapping[str, Any] = field(default_factory=dict)
    job_facets: Mapping[str, Any] = field(default_factory=dict)

    @property
    def commit(self) -> str:
        """The git SHA of the job's source code (SourceCodeLocationJobFacet.version), if it is one."""
        facet = self.job_facets.get("sourceCodeLocation")
        value = facet.get("version") if isinstance(facet, dict) else None
        return value.lower() if isinstance(value, str) and _SHA.match(value) else ""

    @property
    def parent(self) -> dict[str, str] | None:
        facet = self.run_facets.get("parent")
        if not isinstance(facet, dict):
            return None
        run, job = facet.get("run"), facet.get("job")
        if not isinstance(run, dict) or not isinstance(job, dict):
            return None
        return {
            "run_id": str(run.get("runId", ""))[:64],
            "namespace": str(job.get("namespace", ""))[:300],
            "name": str(job.get("name", ""))[:500],
        }


def dataset_uris(namespace: str, name: str) -> list[str]:
    """Where an OpenLineage dataset lives, as the URIs an MLflow dataset source could spell it."""
    ns, nm = namespace.strip(), name.strip()
    if ns in ("file", "file://"):
        path = nm if nm.startswith("/") else f"/{nm}"
        return [f"file://{path}".rstrip("/"), path.rstrip("/")]
    if not nm:
        return [ns.rstrip("/")]
    return [f"{ns.rstrip('/')}/{nm.lstrip('/')}".rstrip("/")]


# --- in ---


def _reject_constant(name: str) -> Any:
    raise EventInvalid("$", f"{name} is not valid JSON.", code="malformed_request")


def parse_body(body: bytes, *, max_depth: int = 64, max_values: int = 200_000) -> Any:
    """JSON from a request body, refusing what would fail later: too deep, too many values, NUL characters,
    lone surrogates, NaN/Infinity, a body that is not UTF-8."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventInvalid("$", "The body is not UTF-8.", code="malformed_request") from exc
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise EventInvalid("$", f"The JSON is nested deeper than {max_depth} levels.", code="too_deep") from exc
    except ValueError as exc:
        if isinstance(exc, EventInvalid):
            raise
        raise EventInvalid("$", f"The body is not valid JSON: {exc}", code="malformed_request") from exc
    _check_values(data, max_depth=max_depth, max_values=max_values)
    return data


def _check_values(data: Any, *, max_depth: int, max_values: int) -> None:
    """Iteratively (no recursion), so a hostile document cannot exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(data, "$", 0)]
    seen = 0
    while stack:
        value, path, depth = stack.pop()
        seen += 1
        if seen > max_values:
            raise EventInvalid("$", f"The event holds more than {max_values} JSON values.", code="too_large")
        if isinstance(value, dict | list):
            if depth >= max_depth:
                raise EventInvalid(path, f"The JSON is nested deeper than {max_depth} levels.", code="too_deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_string(key, path)
                    child = f"{path}.{key}" if len(path) < 300 else path
                else:
                    child = f"{path}[{key}]" if len(path) < 300 else path
                stack.append((item, child, depth + 1))
        elif isinstance(value, str):
            _check_string(value, path)


def _check_string(value: str, path: str) -> None:
    if "\x00" in value:
        raise EventInvalid(path.removeprefix("$."), "NUL characters are not allowed.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EventInvalid(path.removeprefix("$."), "Lone UTF-16 surrogates are not allowed.") from exc


def _string(data: Mapping[str, Any], key: str, path: str, *, required: bool = True, limit: int = 1000) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise EventInvalid(path, f"{path} is required.")
        return ""
    if not isinstance(value, str):
        raise EventInvalid(path, f"{path} must be a string.")
    value = value.strip()
    if required and not value:
        raise EventInvalid(path, f"{path} must not be empty.")
    if len(value) > limit:
        raise EventInvalid(path, f"{path} is longer than {limit} characters.")
    return value


def _object(data: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        if required:
            raise EventInvalid(path, f"{path} is required.")
        return {}
    if not isinstance(value, dict):
        raise EventInvalid(path, f"{path} must be an object.")
    return value


def _facets(data: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    facets = _object(data, key, path, required=False)
    for name, facet in facets.items():
        if not isinstance(facet, dict):
            raise EventInvalid(f"{path}.{name}", f"{path}.{name} must be an object (a facet).")
    return facets


def _time(value: Any, path: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise EventInvalid(path, f"{path} is required (an ISO 8601 date-time).")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = f"{text[:-1]}+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EventInvalid(path, f"{path} is not an ISO 8601 date-time: {value[:60]!r}.") from exc
    if moment.tzinfo is None:  # not RFC 3339, but producers send it; read as UTC (docs/lineage.md)
        moment = moment.replace(tzinfo=UTC)
    if not 1970 <= moment.year <= 9999:
        raise EventInvalid(path, f"{path} is out of range.")
    return moment.astimezone(UTC)


def _datasets(data: Mapping[str, Any], key: str) -> tuple[OLDataset, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise EventInvalid(key, f"{key} must be an array.")
    if len(value) > MAX_DATASETS:
        raise EventInvalid(key, f"{key} holds more than {MAX_DATASETS} datasets.")
    out = []
    for i, item in enumerate(value):
        path = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise EventInvalid(path, f"{path} must be an object.")
        for extra in ("inputFacets", "outputFacets"):
            _facets(item, extra, f"{path}.{extra}")
        out.append(
            OLDataset(
                namespace=_string(item, "namespace", f"{path}.namespace", limit=300),
                name=_string(item, "name", f"{path}.name", limit=1000),
                facets=_facets(item, "facets", f"{path}.facets"),
            )
        )
    return tuple(out)


def parse_run_event(data: Any) -> OLRunEvent:
    """Check an OpenLineage RunEvent (2-0-2) and return what mlgov maps onto the graph."""
    if not isinstance(data, dict):
        raise EventInvalid("$", "An OpenLineage event is a JSON object.")
    if "run" not in data and ("dataset" in data or "job" in data):
        kind = "DatasetEvent" if "dataset" in data else "JobEvent"
        raise EventInvalid(
            "run", f"mlgov accepts RunEvents; this looks like a {kind} (it has no run).", "unsupported_event"
        )
    event_type = data.get("eventType", "OTHER")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise EventInvalid("eventType", f"eventType must be one of {', '.join(EVENT_TYPES)}.")
    event_time = _time(data.get("eventTime"), "eventTime")
    producer = _string(data, "producer", "producer", limit=2000)
    if not _URI.match(producer):
        raise EventInvalid("producer", "producer must be a URI.")
    schema_url = _string(data, "schemaURL", "schemaURL", limit=2000)
    if not _URI.match(schema_url):
        raise EventInvalid("schemaURL", "schemaURL must be a URI.")
    run = _object(data, "run", "run")
    run_id = _string(run, "runId", "run.runId", limit=64)
    try:
        run_id = str(uuid.UUID(run_id))
    except ValueError as exc:
        raise EventInvalid("run.runId", "run.runId must be a UUID.") from exc
    job = _object(data, "job", "job")
    return OLRunEvent(
        event_type=event_type,
        event_time=event_time,
        run_id=run_id,
        job_namespace=_string(job, "namespace", "job.namespace", limit=300),
        job_name=_string(job, "name", "job.name", limit=500),
        producer=producer,
        schema_url=schema_url,
        inputs=_datasets(data, "inputs"),
        outputs=_datasets(data, "outputs"),
        run_facets=_facets(run, "facets", "run.facets"),
        job_facets=_facets(job, "facets", "job.facets"),
    )


# --- out ---

MODEL_FACET = "mlgov_model"
MODEL_FACET_SCHEMA_NAME = "MlgovModelDatasetFacet.json"
MODEL_FACET_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "MlgovModelDatasetFacet.json",
    "title": "mlgov model facet",
    "description": (
        "mlgov's custom dataset facet for a registered model version: the version, the aliases that point at "
        "it, the metrics it was registered with, and the training run that produced it."
    ),
    "$defs": {
        "MlgovModelDatasetFacet": {
            "allOf": [
                {"$ref": f"https://openlineage.io/spec/{SPEC_VERSION}/OpenLineage.json#/$defs/DatasetFacet"},
                {
                    "type": "object",
                    "properties": {
                        "modelVersion": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "integer"},
                                "model": {"type": "string"},
                                "version": {"type": "string"},
                                "status": {"type": "string"},
                                "source": {"type": "string"},
                                "registeredAt": {"type": ["string", "null"], "format": "date-time"},
                                "externalSource": {"type": "string"},
                                "url": {"type": "string"},
                            },
                            "required": ["id", "model", "version"],
                            "additionalProperties": False,
                        },
                        "aliases": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "alias": {"type": "string"},
                                    "current": {"type": "boolean"},
                                    "assignedAt": {"type": ["string", "null"], "format": "date-time"},
                                    "endedAt": {"type": ["string", "null"], "format": "date-time"},
                                    "source": {"type": "string"},
                                },
                                "required": ["alias", "current"],
                                "additionalProperties": False,
                            },
                        },
                        "metrics": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
                        "run": {
                            "type": ["object", "null"],
                            "properties": {
                                "runId": {"type": "string"},
                                "name": {"type": "string"},
                                "experiment": {"type": "string"},
                                "user": {"type": "string"},
                                "launchedBy": {"type": "string"},
                                "gitCommit": {"type": "string"},
                                "startedAt": {"type": ["string", "null"], "format": "date-time"},
                                "endedAt": {"type": ["string", "null"], "format": "date-time"},
                                "params": {"type": "object", "additionalProperties": {"type": "string"}},
                            },
                            "required": ["runId"],
                            "additionalProperties": False,
                        },
                    },
                    "required": ["modelVersion", "aliases", "metrics", "run"],
                },
            ],
            "type": "object",
        }
    },
    "type": "object",
    "properties": {"datasetFacets": {"properties": {MODEL_FACET: {"$ref": "#/$defs/MlgovModelDatasetFacet"}}}},
}


def facet(producer: str, schema_url: str, **values: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": schema_url, **values}


def dataset_name(source: str, fallback_namespace: str, fallback_name: str) -> tuple[str, str]:
    """OpenLineage's (namespace, name) for a dataset at `source`: scheme://authority and the path, the way
    OpenLineage's naming spec spells object stores; a source that is no URL keeps the fallback."""
    parts = urlsplit(source.strip()) if source else None
    if parts and parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}", parts.path.strip("/") or "/"
    if (parts and parts.scheme == "file") or (source or "").startswith("/"):
        return "file", (parts.path if parts and parts.scheme == "file" else source)
    return fallback_namespace, fallback_name


def run_uuid(value: str, *, scope: str) -> str:
    """A UUID for a run: the value itself when it is one (MLflow's 32 hex digits are), else a UUID5."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlgov:{scope}:{value}"))


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def run_event(
    *,
    event_type: str,
    event_time: datetime,
    run_id: str,
    job_namespace: str,
    job_name: str,
    producer: str,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    run_facets: dict[str, Any] | None = None,
    job_facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": iso(event_time),
        "producer": producer,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id, "facets": run_facets or {}},
        "job": {"namespace": job_namespace, "name": job_name, "facets": job_facets or {}},
        "inputs": inputs,
        "outputs": outputs,
    }
