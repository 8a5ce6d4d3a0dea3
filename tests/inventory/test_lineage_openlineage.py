"""OpenLineage in and out: the real openlineage-python client over HTTP, bad input, and the export checked
against the OpenLineage 2-0-2 JSON schema (vendored under tests/inventory/openlineage/, see its README)."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from jsonschema import Draft202012Validator, FormatChecker
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import dataset_version_dataset, schema_dataset, source_code_location_job
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpCompression, HttpConfig, HttpTransport
from pytest_django.live_server_helper import LiveServer
from referencing import Registry, Resource

from mlgov.accounts.services import api_token_create
from mlgov.audit.models import AuditEvent
from mlgov.inventory.graph import Query
from mlgov.inventory.lineage_selectors import lineage_query, lineage_root
from mlgov.inventory.models import Dataset, LineageEdge, LineageEvent, PipelineRun
from mlgov.inventory.openlineage import MODEL_FACET, MODEL_FACET_SCHEMA, EventInvalid, parse_body, parse_run_event
from mlgov.inventory.services import model_alias_set
from tests import factories
from tests.inventory.lineage_chain import build_chain

pytestmark = pytest.mark.portable  # tests/run_portable.py runs these on the other backend too

SCHEMA = json.loads((Path(__file__).parent / "openlineage" / "OpenLineage-2-0-2.json").read_text())
PRODUCER = "https://github.com/acme/etl/tree/v1.4.0"
T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def event(**changes) -> dict:
    body = {
        "eventType": "COMPLETE",
        "eventTime": "2026-03-01T02:10:00.000Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4()), "facets": {}},
        "job": {"namespace": "airflow-prod", "name": "fraud_features.build_training_set", "facets": {}},
        "inputs": [{"namespace": "s3://acme-raw", "name": "card/transactions", "facets": {}}],
        "outputs": [],
    }
    body.update(changes)
    return body


# --- the real client, over HTTP, into the graph ---


@pytest.fixture
def live_server():
    """A live server started with plain-HTTP settings (SecurityMiddleware reads them when it starts);
    see tests/browser/conftest.py for why the stock session fixture does not do."""
    with override_settings(SECURE_SSL_REDIRECT=False, SESSION_COOKIE_SECURE=False, CSRF_COOKIE_SECURE=False):
        server = LiveServer("localhost")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_events_from_openlineage_python_over_http_reach_the_graph(live_server):
    user = factories.UserFactory(username="airflow-bot")
    _, token = api_token_create(actor=user, user=user, name="airflow", scope="write")
    c = build_chain(prefix="ol")  # an MLflow dataset at s3://bucket/ol-train/ (digest d1), run, version
    model_alias_set(actor=user, version=c.version, alias="production")
    client = OpenLineageClient(
        transport=HttpTransport(
            HttpConfig(url=live_server.url, auth=ApiKeyTokenProvider({"apiKey": token}), timeout=10, retry={"total": 0})
        )
    )
    gz_client = OpenLineageClient(
        transport=HttpTransport(
            HttpConfig(
                url=live_server.url,
                auth=ApiKeyTokenProvider({"apiKey": token}),
                compression=HttpCompression.GZIP,
                retry={"total": 0},
            )
        )
    )
    run_id = str(uuid.uuid4())
    job = Job(
        namespace="airflow-prod",
        name="fraud_features.build_training_set",
        facets={
            "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
                type="git", url="https://github.com/acme/etl", version="b2" * 20
            )
        },
    )
    raw = [
        InputDataset(namespace="s3://acme-raw", name="card/transactions"),
        InputDataset(
            namespace="s3://acme-raw",
            name="card/chargebacks",
            facets={
                "schema": schema_dataset.SchemaDatasetFacet(
                    fields=[schema_dataset.SchemaDatasetFacetFields(name="txn_id", type="string")]
                )
            },
        ),
    ]
    client.emit(
        RunEvent(
            eventType=RunState.START,
            eventTime=T0.isoformat(),
            run=Run(runId=run_id),
            job=job,
            producer=PRODUCER,
            inputs=raw,
        )
    )
    output = OutputDataset(
        namespace="s3://bucket",
        name="ol-train",
        facets={"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="d1")},
    )
    complete = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=(T0 + timedelta(minutes=9)).isoformat(),
        run=Run(runId=run_id),
        job=job,
        producer=PRODUCER,
        inputs=raw,
        outputs=[output],
    )
    gz_client.emit(complete)
    gz_client.emit(complete)  # a retry: the same run, type and time is ignored

    assert LineageEvent.objects.filter(run_id=run_id).count() == 2
    run = PipelineRun.objects.get(external_id=run_id)
    assert (run.pipeline.provider, run.pipeline.name, run.status) == (
        "openlineage",
        "fraud_features.build_training_set",
        "success",
    )
    assert run.started_at == T0
    assert run.finished_at == T0 + timedelta(minutes=9)
    assert run.commit_sha == "b2" * 20
    # The output is the MLflow dataset at the same place with the same digest: matched, not duplicated.
    assert not Dataset.objects.filter(external_source="openlineage", name="ol-train").exists()
    raw_rows = Dataset.objects.filter(external_source="openlineage").order_by("name")
    assert [d.name for d in raw_rows] == ["card/chargebacks", "card/transactions"]
    assert raw_rows[0].schema == {"fields": [{"name": "txn_id", "type": "string"}]}

    root = lineage_root(user=user, kind="alias", ident=f"{c.version.model_id}:production:{c.version.pk}")
    result = lineage_query(user=user, roots=[root], query=Query(direction="upstream", depth=10))
    reached = {(n.kind, n.key) for n in result.nodes}
    for d in raw_rows:
        assert ("dataset", str(d.pk)) in reached
    assert ("pipelinerun", str(run.pk)) in reached
    derived = LineageEdge.objects.filter(relation="derived_from", downstream__key=str(c.dataset.pk))
    assert {e.upstream.object_id for e in derived} == {d.pk for d in raw_rows}
    assert AuditEvent.objects.filter(action="lineage.event_received").count() == 2


# --- bad input ---


@pytest.fixture
def poster(api):
    def post(body, **extra):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return api.post(
            "/api/v1/lineage", data=data, content_type=extra.pop("content_type", "application/json"), **extra
        )

    return post


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    return error


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e["run"].pop("runId"), "run.runId"),
        (lambda e: e["run"].update(runId="not-a-uuid"), "run.runId"),
        (lambda e: e.update(eventType="FINISHED"), "eventType"),
        (lambda e: e.update(eventType=7), "eventType"),
        (lambda e: e.pop("eventTime"), "eventTime"),
        (lambda e: e.update(eventTime="last tuesday"), "eventTime"),
        (lambda e: e.pop("producer"), "producer"),
        (lambda e: e.update(producer="not a uri"), "producer"),
        (lambda e: e.pop("schemaURL"), "schemaURL"),
        (lambda e: e.pop("job"), "job"),
        (lambda e: e["job"].pop("name"), "job.name"),
        (lambda e: e["job"].update(namespace=""), "job.namespace"),
        (lambda e: e.update(inputs={"a": 1}), "inputs"),
        (lambda e: e["inputs"][0].pop("name"), "inputs[0].name"),
        (lambda e: e["inputs"].append("x"), "inputs[1]"),
        (lambda e: e["run"].update(facets={"nominalTime": "soon"}), "run.facets.nominalTime"),
        (lambda e: e["job"].update(name="bad\x00name"), "job.name"),
    ],
)
def test_invalid_events_are_400_naming_the_field(poster, mutate, field):
    body = event()
    mutate(body)
    error = _error(poster(body), 400)
    assert error["details"]["field"] == field
    assert not LineageEvent.objects.exists()
    assert not PipelineRun.objects.exists()


@pytest.mark.django_db
def test_a_10k_deep_nesting_is_refused(poster):
    deep = b'{"eventType": "COMPLETE", "run": {"runId": "x", "facets": {"x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}}"
    error = _error(poster(deep), 400)
    assert error["code"] == "too_deep"
    moderate = event()
    moderate["run"]["facets"]["deep"] = {
        "_producer": PRODUCER,
        "_schemaURL": PRODUCER,
        "v": json.loads("[" * 100 + "]" * 100),
    }
    error = _error(poster(moderate), 400)
    assert error["code"] == "too_deep"
    assert error["details"]["field"].startswith("$.run.facets.deep.v")


@pytest.mark.django_db
def test_a_30_mb_body_is_413(poster):
    body = json.dumps(event(junk="x" * (30 * 1024 * 1024))).encode()
    error = _error(poster(body), 413)
    assert error["code"] == "payload_too_large"


@pytest.mark.django_db
def test_a_gzip_bomb_stops_at_the_limit(api, settings):
    settings.MLGOV_MAX_BODY_BYTES = 1024 * 1024
    bomb = gzip.compress(b'{"a": "' + b"0" * (20 * 1024 * 1024) + b'"}')
    response = api.post(
        "/api/v1/lineage", data=bomb, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    assert _error(response, 413)["code"] == "payload_too_large"
    corrupt = api.post(
        "/api/v1/lineage", data=b"not gzip", content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    assert _error(corrupt, 400)["code"] == "malformed_request"
    br = api.post("/api/v1/lineage", data=b"{}", content_type="application/json", headers={"Content-Encoding": "br"})
    assert _error(br, 415)["code"] == "unsupported_media_type"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "malformed_request"),
        (b'{"eventTime": NaN}', "malformed_request"),
        (b"\xff\xfe", "malformed_request"),
        (b"[1, 2]", "invalid_event"),
        (b'"\\ud800"', "invalid_event"),
        (
            json.dumps(
                {
                    "eventTime": "2026-01-01T00:00:00Z",
                    "producer": PRODUCER,
                    "schemaURL": PRODUCER,
                    "dataset": {"namespace": "n", "name": "d"},
                }
            ).encode(),
            "unsupported_event",
        ),
    ],
)
def test_malformed_bodies_are_400(poster, body, code):
    assert _error(poster(body), 400)["code"] == code


@pytest.mark.django_db
def test_unknown_facets_are_kept_and_not_fatal(poster):
    body = event(eventType="START")
    body["run"]["facets"]["acme_cost"] = {"_producer": PRODUCER, "_schemaURL": f"{PRODUCER}/cost.json", "usd": 1.5}
    body["job"]["facets"]["acme_owner"] = {"team": "fraud", "nested": {"deeper": [1, 2, 3]}}  # no _producer even
    body["inputs"][0]["facets"]["acme_quality"] = {"_producer": PRODUCER, "_schemaURL": PRODUCER, "score": 0.99}
    body["inputs"][0]["inputFacets"] = {"acme_rows": {"_producer": PRODUCER, "_schemaURL": PRODUCER, "rows": 10}}
    body["acme_top_level"] = {"kept": True}
    response = poster(body)
    assert response.status_code == 201, response.content
    stored = LineageEvent.objects.get()
    assert stored.payload["run"]["facets"]["acme_cost"]["usd"] == 1.5
    assert stored.payload["job"]["facets"]["acme_owner"]["nested"] == {"deeper": [1, 2, 3]}
    assert stored.payload["inputs"][0]["inputFacets"]["acme_rows"]["rows"] == 10
    assert stored.payload["acme_top_level"] == {"kept": True}
    again = poster(body)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert LineageEvent.objects.count() == 1


@pytest.mark.django_db
def test_ingest_needs_a_write_token(api_client_for, user, client):
    body = json.dumps(event()).encode()
    read_only = api_client_for(user, scope="read")
    assert _error(read_only.post("/api/v1/lineage", data=body, content_type="application/json"), 403)
    assert client.post("/api/v1/lineage", data=body, content_type="application/json").status_code in (401, 403)
    client.force_login(user)  # a session is not a token: refused
    assert client.post("/api/v1/lineage", data=body, content_type="application/json").status_code in (401, 403)
    wrong = api_client_for(user).post("/api/v1/lineage", data=body, content_type="text/plain")
    assert _error(wrong, 415)
    assert not LineageEvent.objects.exists()


@pytest.mark.django_db
def test_a_late_start_does_not_regress_a_finished_run(poster):
    run_id = str(uuid.uuid4())
    done = poster(event(run={"runId": run_id}, eventTime="2026-03-01T02:10:00Z"))
    assert done.status_code == 201
    late = poster(event(run={"runId": run_id}, eventType="START", eventTime="2026-03-01T02:00:00Z"))
    assert late.status_code == 201
    run = PipelineRun.objects.get(external_id=run_id)
    assert run.status == "success"
    assert run.started_at == T0
    assert run.finished_at == T0 + timedelta(minutes=10)


# --- pure parsing, no database ---


def test_parse_reads_what_the_graph_needs():
    body = event(eventType="RUNNING")
    body["job"]["facets"]["sourceCodeLocation"] = {"type": "git", "url": "https://x", "version": "ABCDEF1234567"}
    body["inputs"][0]["facets"]["version"] = {"datasetVersion": "v7"}
    parsed = parse_run_event(parse_body(json.dumps(body).encode()))
    assert parsed.event_type == "RUNNING"
    assert parsed.commit == "abcdef1234567"
    assert parsed.inputs[0].version == "v7"
    assert parsed.inputs[0].uri == "s3://acme-raw/card/transactions"
    assert parsed.event_time == datetime(2026, 3, 1, 2, 10, tzinfo=UTC)


def test_a_naive_event_time_is_read_as_utc():
    parsed = parse_run_event(event(eventTime="2026-03-01T02:10:00"))
    assert parsed.event_time == datetime(2026, 3, 1, 2, 10, tzinfo=UTC)


def test_a_missing_event_type_is_other():
    body = event()
    body.pop("eventType")
    assert parse_run_event(body).event_type == "OTHER"


def test_too_many_values_are_refused():
    with pytest.raises(EventInvalid) as info:
        parse_body(json.dumps({"a": list(range(1000))}).encode(), max_values=500)
    assert info.value.code == "too_large"


# --- out: the export validates against the OpenLineage schema ---


def _validator(schema_ref: str = "#/$defs/RunEvent") -> Draft202012Validator:
    facet_schema = {**MODEL_FACET_SCHEMA, "$id": "https://mlgov.test/MlgovModelDatasetFacet.json"}
    registry = Registry().with_resources(
        [
            ("https://openlineage.io/spec/2-0-2/OpenLineage.json", Resource.from_contents(SCHEMA)),
            (facet_schema["$id"], Resource.from_contents(facet_schema)),
        ]
    )
    return Draft202012Validator(
        {"$ref": f"https://openlineage.io/spec/2-0-2/OpenLineage.json{schema_ref}"},
        registry=registry,
        format_checker=FormatChecker(),
    )


def test_the_vendored_schema_is_a_valid_2020_12_schema_and_rejects_a_bad_event():
    Draft202012Validator.check_schema(SCHEMA)
    whole = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
    assert whole.is_valid(event())
    bad = event()
    bad["run"].pop("runId")
    assert not whole.is_valid(bad)
    assert not whole.is_valid(event(eventType="FINISHED"))


@pytest.mark.django_db
def test_the_export_validates_against_the_openlineage_schema(api, user):
    c = build_chain(prefix="ex")
    model_alias_set(actor=user, version=c.version, alias="champion")
    ol = event(
        eventType="COMPLETE",
        outputs=[
            {
                "namespace": "s3://bucket",
                "name": "ex-train",
                "facets": {"version": {"_producer": PRODUCER, "_schemaURL": PRODUCER, "datasetVersion": "d1"}},
            }
        ],
    )
    assert api.post("/api/v1/lineage", data=json.dumps(ol), content_type="application/json").status_code == 201

    response = api.get(f"/api/v1/lineage/export?model_version={c.version.pk}")
    assert response.status_code == 200
    body = response.json()
    events = body["events"]
    assert body["count"] == len(events) >= 3  # the ETL run, the CI run, the training run
    validator = _validator()
    for e in events:
        errors = sorted(validator.iter_errors(e), key=str)
        assert not errors, [f"{list(err.path)}: {err.message}" for err in errors]
    jobs = {(e["job"]["namespace"], e["job"]["name"]) for e in events}
    assert ("airflow-prod", "fraud_features.build_training_set") in jobs
    training = next(e for e in events if any(MODEL_FACET in o["facets"] for o in e["outputs"]))
    assert training["run"]["runId"] == str(uuid.UUID(c.run.external_id))
    assert training["inputs"][0]["namespace"] == "s3://bucket"
    assert training["inputs"][0]["name"] == "ex-train"
    assert training["job"]["facets"]["sourceCodeLocation"]["version"] == c.commit
    model = next(o for o in training["outputs"] if MODEL_FACET in o["facets"])["facets"][MODEL_FACET]
    assert model["modelVersion"]["id"] == c.version.pk
    assert model["aliases"][0]["alias"] == "champion"
    assert model["aliases"][0]["current"] is True
    assert model["metrics"] == {"auc": 0.93}
    assert model["run"]["gitCommit"] == c.commit
    assert model["_schemaURL"].endswith(
        "/api/v1/lineage/facets/MlgovModelDatasetFacet.json#/$defs/MlgovModelDatasetFacet"
    )
    # The custom facet validates against its own schema, which extends OpenLineage's DatasetFacet.
    facet_validator = _validator()
    facet_validator = Draft202012Validator(
        {"$ref": "https://mlgov.test/MlgovModelDatasetFacet.json#/$defs/MlgovModelDatasetFacet"},
        registry=facet_validator._registry,
        format_checker=FormatChecker(),
    )
    assert not list(facet_validator.iter_errors(model))
    assert list(facet_validator.iter_errors({**model, "modelVersion": {"id": "x"}}))  # the facet schema bites
    served = api.get("/api/v1/lineage/facets/MlgovModelDatasetFacet.json")
    assert served.status_code == 200
    assert served.json()["$defs"].keys() == MODEL_FACET_SCHEMA["$defs"].keys()


@pytest.mark.django_db
def test_the_export_of_a_version_without_a_run_is_one_registration_event(api):
    version = factories.ModelVersionFactory(training_run=None)
    events = api.get(f"/api/v1/lineage/export?model_version={version.pk}").json()["events"]
    assert len(events) == 1
    validator = _validator()
    assert not list(validator.iter_errors(events[0]))
    assert events[0]["outputs"][0]["facets"][MODEL_FACET]["run"] is None


@pytest.mark.django_db
def test_the_export_of_an_unknown_version_is_404(api):
    assert _error(api.get("/api/v1/lineage/export?model_version=424242"), 404)
