"""The lineage API: queries, impact, OpenLineage in (the Marquez path) and out. See docs/api.md."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlgov.accounts.authentication import BearerTokenAuthentication
from mlgov.errors import DomainError, NotFound, ValidationFailed
from mlgov.inventory import lineage_selectors as ls
from mlgov.inventory import selectors
from mlgov.inventory.choices import NodeKind
from mlgov.inventory.graph import DEFAULT_CAP, DEFAULT_DEPTH, MAX_DEPTH, Query, QueryError
from mlgov.inventory.lineage_export import lineage_export
from mlgov.inventory.openlineage import (
    MODEL_FACET_SCHEMA,
    MODEL_FACET_SCHEMA_NAME,
    EventInvalid,
    parse_body,
    parse_run_event,
)
from mlgov.inventory.openlineage_services import lineage_event_ingest


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


def _params(request: Request, allowed: set[str]) -> dict[str, str]:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ValidationFailed(
            "Unknown query parameters.", details={"unknown_parameters": unknown, "allowed_parameters": sorted(allowed)}
        )
    out = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        if len(values) > 1:
            raise ValidationFailed(f"{key} is given more than once.", details={key: values})
        out[key] = values[0]
    return out


def _int(params: dict[str, str], key: str, default: int) -> int:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    if not raw.strip().isdigit() or len(raw.strip()) > 6:
        raise ValidationFailed(f"{key} must be a whole number.", details={key: raw[:50]})
    return int(raw)


def _time(params: dict[str, str], key: str) -> datetime | None:
    raw = params.get(key)
    if not raw:
        return None
    text = raw.strip().replace("Z", "+00:00").replace(" ", "+")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"{key} must be an ISO 8601 date or date-time.", details={key: raw[:50]}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _bool(params: dict[str, str], key: str) -> bool:
    raw = params.get(key, "").lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ValidationFailed(f"{key} must be true or false.", details={key: raw[:20]})


def query_from_params(params: dict[str, str], *, direction_default: str = "upstream") -> Query:
    """A graph query from request parameters; a bad value is a 400 naming its parameter."""
    kinds = None
    if params.get("kinds"):
        kinds = frozenset(k.strip() for k in params["kinds"].split(",") if k.strip())
        bad = sorted(kinds - set(NodeKind.values))
        if bad:
            raise ValidationFailed("Unknown node kinds.", details={"kinds": bad, "allowed": NodeKind.values})
    try:
        return Query(
            direction=params.get("direction") or direction_default,  # type: ignore[arg-type]
            depth=_int(params, "depth", DEFAULT_DEPTH),
            kinds=kinds,
            since=_time(params, "since"),
            until=_time(params, "until"),
            current=_bool(params, "current"),
            cap=_int(params, "cap", DEFAULT_CAP),
        )
    except QueryError as exc:
        raise ValidationFailed(exc.message, details={exc.field: params.get(exc.field, "")}) from None


QUERY_PARAMS = {"direction", "depth", "kinds", "since", "until", "current", "cap"}
_query_docs = [
    OpenApiParameter("direction", str, enum=["upstream", "downstream"], description="default upstream"),
    OpenApiParameter("depth", int, description=f"hops, 1-{MAX_DEPTH}, default {DEFAULT_DEPTH}"),
    OpenApiParameter("kinds", str, description="comma-separated node kinds the walk may enter"),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="edges observed at or after"),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="edges observed at or before"),
    OpenApiParameter("current", bool, description="skip ended edges (moved aliases, replaced inputs)"),
    OpenApiParameter("cap", int, description=f"at most this many nodes (1-{DEFAULT_CAP}); `truncated` says so"),
]


class LineageGraphView(APIView):
    """Upstream or downstream of one node: `GET /api/v1/lineage/<kind>/<id>`."""

    @extend_schema(parameters=_query_docs, responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, kind: str, ident: str) -> Response:
        query = query_from_params(_params(request, QUERY_PARAMS))
        root = ls.lineage_root(user=request.user, kind=kind, ident=ident)
        result = ls.lineage_query(user=request.user, roots=[root], query=query)
        return Response(ls.result_as_dict(result))


class LineageImpactView(APIView):
    """Every model version and alias a dataset reaches: `GET /api/v1/lineage/impact?dataset=<id or digest>`."""

    @extend_schema(
        parameters=[
            OpenApiParameter("dataset", str, required=True, description="a dataset id or digest"),
            OpenApiParameter("depth", int, description=f"hops, 1-{MAX_DEPTH}, default {MAX_DEPTH}"),
            OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        params = _params(request, {"dataset", "depth", "since", "until"})
        if not params.get("dataset"):
            raise ValidationFailed("dataset is required (an id or a digest).", details={"dataset": ""})
        query = query_from_params(
            {k: v for k, v in params.items() if k != "dataset"} | {"depth": params.get("depth") or str(MAX_DEPTH)}
        )
        datasets = ls.impact_datasets(user=request.user, dataset=params["dataset"])
        impact = ls.lineage_impact(
            user=request.user, datasets=datasets, depth=query.depth, since=query.since, until=query.until
        )
        return Response(ls.impact_as_dict(impact))


def _read_body(request: Request) -> bytes:
    """The raw body, gunzipped when sent with `Content-Encoding: gzip` (openlineage-python's option), never
    past MLGOV_MAX_BODY_BYTES (a gzip bomb stops there)."""
    limit = settings.MLGOV_MAX_BODY_BYTES
    raw = request.body
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; send gzip or none.")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise ValidationFailed(
            "The gzip body is corrupt.", details={"body": str(exc)}, code="malformed_request"
        ) from exc
    if len(body) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"The decompressed body is larger than {limit} bytes.", details={"limit": limit})
    return body


class LineageIngestView(APIView):
    """OpenLineage in: `POST /api/v1/lineage` with one RunEvent (the path Marquez serves).

    Authenticated by an API token (`Authorization: Bearer ...`, write scope), as openlineage-python's
    HttpTransport sends it with `auth: {type: api_key, apiKey: <token>}`.
    """

    authentication_classes = [BearerTokenAuthentication]
    parser_classes: list[Any] = []

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type and not (content_type == "application/json" or content_type.endswith("+json")):
            raise UnsupportedMediaType(f"Send application/json, not {content_type!r}.")
        body = _read_body(request)
        try:
            payload = parse_body(body, max_depth=settings.MLGOV_LINEAGE_MAX_DEPTH)
            event = parse_run_event(payload)
        except EventInvalid as exc:
            raise ValidationFailed(exc.message, details={"field": exc.field}, code=exc.code) from None
        result = lineage_event_ingest(actor=request.user, event=event, payload=payload)
        body_out = {
            "status": "created" if result.created else "duplicate",
            "event": result.event.pk,
            "run_id": event.run_id,
            "event_type": event.event_type,
            "pipeline_run": result.pipeline_run.pk if result.pipeline_run else None,
            "inputs": [d.pk for d in result.inputs],
            "outputs": [d.pk for d in result.outputs],
        }
        return Response(body_out, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class LineageExportView(APIView):
    """OpenLineage out: `GET /api/v1/lineage/export?model_version=<id>` -> {"events": [RunEvent, ...]}."""

    @extend_schema(
        parameters=[OpenApiParameter("model_version", int, required=True)], responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request: Request) -> Response:
        params = _params(request, {"model_version"})
        raw = params.get("model_version", "")
        if not raw.isdigit() or len(raw) > 18:
            raise ValidationFailed("model_version must be a model version id.", details={"model_version": raw[:50]})
        version = get_object_or_404(
            selectors.model_version_list(user=request.user).select_related("training_run"), pk=int(raw)
        )
        events = lineage_export(
            user=request.user,
            version=version,
            producer=request.build_absolute_uri("/"),
            facet_schema_url=request.build_absolute_uri(facet_schema_path()) + "#/$defs/MlgovModelDatasetFacet",
            version_url=request.build_absolute_uri(reverse("modelversion-detail", args=[version.pk])),
        )
        return Response({"model_version": version.pk, "count": len(events), "events": events})


def facet_schema_path() -> str:
    return reverse("api:lineage-facet-schema", args=[MODEL_FACET_SCHEMA_NAME])


class LineageFacetSchemaView(APIView):
    """The JSON schema of mlgov's custom OpenLineage facet (the `_schemaURL` the export names)."""

    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, name: str) -> Response:
        if name != MODEL_FACET_SCHEMA_NAME:
            raise NotFound(f"No facet schema {name!r}.", details={"name": name})
        return Response(MODEL_FACET_SCHEMA)
