"""The CI webhook endpoints: signatures (GitHub's published test vector), every refusal in the error shape
with a security audit event and nothing queued, replays with exactly one effect, and irrelevant events."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from integrations.ci.signatures import hmac_sha256_signature, signature_matches, token_matches
from integrations.models import WebhookDelivery
from mlgov.audit.models import AuditEvent
from mlgov.inventory.models import PipelineRun
from tests.integrations.ci import payloads as p

pytestmark = pytest.mark.django_db

GITHUB_DOCS_SECRET = "It's a Secret to Everybody"
GITHUB_DOCS_PAYLOAD = b"Hello, World!"
GITHUB_DOCS_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_published_signature_test_vector():
    """From GitHub's "Validating webhook deliveries": secret, payload and the signature they must give."""
    assert hmac_sha256_signature(GITHUB_DOCS_SECRET, GITHUB_DOCS_PAYLOAD) == GITHUB_DOCS_SIGNATURE
    assert signature_matches(GITHUB_DOCS_SECRET, GITHUB_DOCS_PAYLOAD, GITHUB_DOCS_SIGNATURE)
    assert not signature_matches(GITHUB_DOCS_SECRET, b"Hello, World?", GITHUB_DOCS_SIGNATURE)
    assert not signature_matches(GITHUB_DOCS_SECRET, GITHUB_DOCS_PAYLOAD, GITHUB_DOCS_SIGNATURE.upper())
    assert not signature_matches(GITHUB_DOCS_SECRET, GITHUB_DOCS_PAYLOAD, GITHUB_DOCS_SIGNATURE[7:])  # no prefix
    assert not signature_matches(GITHUB_DOCS_SECRET, GITHUB_DOCS_PAYLOAD, "sha256=é")
    assert not signature_matches("", GITHUB_DOCS_PAYLOAD, GITHUB_DOCS_SIGNATURE)


def test_tokens_compare_whole():
    assert token_matches("gl-token", "gl-token")
    assert not token_matches("gl-token", "gl-toke")
    assert not token_matches("gl-token", "gl-token ")
    assert not token_matches("", "")


@dataclass
class Sender:
    """Builds a delivery the way one CI provider sends it."""

    provider: str
    url: str
    setting: str
    secret: str
    auth_header: str
    event_header: str | None
    unknown_event: dict[str, str] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        if self.provider == "github":
            return p.gh_workflow_run_event()
        if self.provider == "gitlab":
            return p.gl_pipeline_hook()
        return p.jenkins_notification()

    def headers(self, body: bytes, *, event: str | None = None, delivery: str | None = None) -> dict[str, str]:
        if self.provider == "github":
            return {
                "X-Hub-Signature-256": hmac_sha256_signature(self.secret, body),
                "X-GitHub-Event": event or "workflow_run",
                "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            }
        if self.provider == "gitlab":
            return {"X-Gitlab-Token": self.secret, "X-Gitlab-Event": event or "Pipeline Hook"}
        return {"X-Mlgov-Signature-256": hmac_sha256_signature(self.secret, body)}

    def post(self, client, body: bytes, headers: dict[str, str], **extra):
        return client.post(self.url, data=body, content_type="application/json", headers=headers, **extra)


SENDERS = [
    Sender(
        "github", "/hooks/github/", "MLGOV_GITHUB_WEBHOOK_SECRET", "gh-s3cret", "X-Hub-Signature-256", "X-GitHub-Event"
    ),
    Sender("gitlab", "/hooks/gitlab/", "MLGOV_GITLAB_WEBHOOK_TOKEN", "gl-t0ken", "X-Gitlab-Token", "X-Gitlab-Event"),
    Sender("jenkins", "/hooks/jenkins/", "MLGOV_JENKINS_WEBHOOK_SECRET", "jk-s3cret", "X-Mlgov-Signature-256", None),
]


@pytest.fixture(params=SENDERS, ids=lambda s: s.provider)
def sender(request, settings) -> Sender:
    s: Sender = request.param
    setattr(settings, s.setting, s.secret)
    return s


def _body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def _assert_refused(response, status: int, code: str, callbacks, provider: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert not callbacks, "a refused delivery must enqueue nothing"
    assert not WebhookDelivery.objects.exists()
    event = AuditEvent.objects.filter(action="security.webhook_rejected").latest("seq")
    assert event.after["provider"] == provider
    assert event.after["status"] == status
    assert event.after["code"] == code
    assert event.request_id == response["X-Request-ID"]
    assert event.source == "api"


# --- Accepted, replayed ---


def test_a_valid_delivery_is_queued_once_and_becomes_a_run(client, sender, django_capture_on_commit_callbacks):
    body = _body(sender.payload())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = sender.post(client, body, sender.headers(body))
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    assert len(callbacks) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.provider, delivery.status) == (sender.provider, "processed")
    run = PipelineRun.objects.get()
    assert delivery.pipeline_run == run
    assert run.pipeline.provider == sender.provider
    assert not AuditEvent.objects.filter(action__startswith="security.").exists()


def test_a_replay_has_exactly_one_effect(client, sender, django_capture_on_commit_callbacks):
    body = _body(sender.payload())
    headers = sender.headers(body)
    with django_capture_on_commit_callbacks(execute=True) as first:
        assert sender.post(client, body, headers).status_code == 202
    with django_capture_on_commit_callbacks(execute=True) as replay:
        response = sender.post(client, body, headers)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "duplicate"
    assert (len(first), len(replay)) == (1, 0)
    assert WebhookDelivery.objects.count() == PipelineRun.objects.count() == 1
    assert AuditEvent.objects.filter(action="pipelinerun.created").count() == 1


def test_a_new_state_of_the_same_run_is_not_a_replay(client, sender, django_capture_on_commit_callbacks):
    """GitHub: a new delivery id. GitLab: the same pipeline in another status. Jenkins: another phase."""
    if sender.provider == "github":
        first, second = p.gh_workflow_run_event(status="in_progress", conclusion=None), p.gh_workflow_run_event()
    elif sender.provider == "gitlab":
        first, second = p.gl_pipeline_hook(status="running", finished_at=None), p.gl_pipeline_hook()
    else:
        first, second = p.jenkins_notification(phase="STARTED", status=None), p.jenkins_notification()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for payload in (first, second):
            body = _body(payload)
            assert sender.post(client, body, sender.headers(body)).status_code == 202
    assert len(callbacks) == 2
    assert WebhookDelivery.objects.count() == 2
    assert PipelineRun.objects.get().status == "success"


def test_gitlab_replay_is_the_same_pipeline_and_status(client, settings, django_capture_on_commit_callbacks):
    settings.MLGOV_GITLAB_WEBHOOK_TOKEN = "tok"
    headers = {"X-Gitlab-Token": "tok", "X-Gitlab-Event": "Pipeline Hook"}
    payload = p.gl_pipeline_hook()
    with django_capture_on_commit_callbacks() as callbacks:
        assert (
            client.post("/hooks/gitlab/", payload, content_type="application/json", headers=headers).status_code == 202
        )
        payload["object_attributes"]["duration"] = 999  # GitLab's retry of the same state may differ in detail
        again = client.post("/hooks/gitlab/", payload, content_type="application/json", headers=headers)
    assert again.json() == {"status": "duplicate", "delivery_key": "pipeline:31:success"}
    assert len(callbacks) == 1


def test_the_trailing_slash_is_optional(client, sender):
    body = _body(sender.payload())
    response = client.post(
        sender.url.rstrip("/"), data=body, content_type="application/json", headers=sender.headers(body)
    )
    assert response.status_code == 202


# --- Refused: audited, in the error shape, nothing queued ---


def test_a_bad_signature_is_refused(client, sender, django_capture_on_commit_callbacks):
    body = _body(sender.payload())
    headers = sender.headers(body)
    headers[sender.auth_header] = hmac_sha256_signature("wrong", body) if sender.provider != "gitlab" else "wrong"
    with django_capture_on_commit_callbacks() as callbacks:
        response = sender.post(client, body, headers)
    code = "invalid_token" if sender.provider == "gitlab" else "invalid_signature"
    _assert_refused(response, 401, code, callbacks, sender.provider)


@pytest.mark.parametrize(
    "sender", [s for s in SENDERS if s.provider != "gitlab"], indirect=True, ids=lambda s: s.provider
)
def test_a_tampered_body_is_refused(client, sender, django_capture_on_commit_callbacks):
    """GitHub and Jenkins sign the body (GitLab's token does not)."""
    body = _body(sender.payload())
    headers = sender.headers(body)
    with django_capture_on_commit_callbacks() as callbacks:
        response = sender.post(client, body.replace(b"acme", b"evil", 1), headers)
    _assert_refused(response, 401, "invalid_signature", callbacks, sender.provider)


def test_a_missing_signature_header_is_refused(client, sender, django_capture_on_commit_callbacks):
    body = _body(sender.payload())
    headers = sender.headers(body)
    del headers[sender.auth_header]
    with django_capture_on_commit_callbacks() as callbacks:
        response = sender.post(client, body, headers)
    _assert_refused(response, 400, "missing_header", callbacks, sender.provider)


@pytest.mark.parametrize("header", ["X-GitHub-Event", "X-GitHub-Delivery"])
def test_github_event_and_delivery_headers_are_required(client, settings, header, django_capture_on_commit_callbacks):
    settings.MLGOV_GITHUB_WEBHOOK_SECRET = "s"
    body = _body(p.gh_workflow_run_event())
    headers = SENDERS[0].headers(body) | {"X-Hub-Signature-256": hmac_sha256_signature("s", body)}
    del headers[header]
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/hooks/github/", data=body, content_type="application/json", headers=headers)
    _assert_refused(response, 400, "missing_header", callbacks, "github")


def test_an_unknown_event_is_refused(client, sender, django_capture_on_commit_callbacks):
    payload = p.jenkins_notification(phase="EXPLODED") if sender.provider == "jenkins" else sender.payload()
    body = _body(payload)
    event = {"github": "issues", "gitlab": "Unknown Hook", "jenkins": None}[sender.provider]
    with django_capture_on_commit_callbacks() as callbacks:
        response = sender.post(client, body, sender.headers(body, event=event))
    _assert_refused(response, 400, "unknown_event", callbacks, sender.provider)


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\x00", b"", b"[1, 2, 3]", b'"a string"'])
def test_a_body_that_is_not_a_json_object_is_refused(client, sender, body, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = sender.post(client, body, sender.headers(body))
    _assert_refused(response, 400, "malformed_request", callbacks, sender.provider)


def test_a_payload_missing_documented_fields_is_refused(client, sender, django_capture_on_commit_callbacks):
    payload = sender.payload()
    if sender.provider == "github":
        del payload["workflow_run"]
    elif sender.provider == "gitlab":
        del payload["object_attributes"]["id"]
    else:
        del payload["build"]["number"]
    body = _body(payload)
    with django_capture_on_commit_callbacks() as callbacks:
        response = sender.post(client, body, sender.headers(body))
    _assert_refused(response, 400, "invalid_payload", callbacks, sender.provider)


def test_gitlab_object_kind_must_match_the_event_header(client, settings, django_capture_on_commit_callbacks):
    settings.MLGOV_GITLAB_WEBHOOK_TOKEN = "tok"
    body = _body(p.gl_job_hook())
    headers = {"X-Gitlab-Token": "tok", "X-Gitlab-Event": "Pipeline Hook"}
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/hooks/gitlab/", data=body, content_type="application/json", headers=headers)
    _assert_refused(response, 400, "invalid_payload", callbacks, "gitlab")


def test_an_oversized_body_is_refused_before_it_is_read(client, sender, settings, django_capture_on_commit_callbacks):
    settings.MLGOV_WEBHOOK_MAX_BYTES = 4096
    payload = sender.payload()
    payload["padding"] = "x" * 5000
    body = _body(payload)
    with django_capture_on_commit_callbacks() as callbacks:
        response = sender.post(client, body, sender.headers(body))
    _assert_refused(response, 413, "payload_too_large", callbacks, sender.provider)
    # The announced length alone decides: a body that claims a gigabyte is refused without being read
    # (the test server's input stream would raise if the view tried to read past what was sent).
    small = _body(sender.payload())
    with django_capture_on_commit_callbacks() as callbacks:
        response = sender.post(client, small, sender.headers(small), CONTENT_LENGTH=str(10**9))
    _assert_refused(response, 413, "payload_too_large", callbacks, sender.provider)


def test_a_body_over_the_site_limit_is_still_audited_by_the_webhook(
    client, sender, settings, django_capture_on_commit_callbacks
):
    """The site-wide guard (MLGOV_MAX_BODY_BYTES, 413 from the middleware) leaves /hooks/ to the webhook views,
    so that an oversized delivery is refused and recorded as a security event like any other refusal."""
    body = _body(sender.payload())
    with django_capture_on_commit_callbacks() as callbacks:
        response = sender.post(
            client, body, sender.headers(body), CONTENT_LENGTH=str(settings.MLGOV_MAX_BODY_BYTES + 1)
        )
    _assert_refused(response, 413, "payload_too_large", callbacks, sender.provider)


def test_an_unconfigured_provider_refuses_everything(client, sender, settings, django_capture_on_commit_callbacks):
    setattr(settings, sender.setting, "")
    body = _body(sender.payload())
    with django_capture_on_commit_callbacks() as callbacks:
        response = sender.post(client, body, sender.headers(body))
    _assert_refused(response, 404, "not_found", callbacks, sender.provider)


def test_only_post_is_allowed(client, sender):
    response = client.get(sender.url)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "POST"


# --- Valid but irrelevant: 200 "ignored", nothing stored ---


@pytest.mark.parametrize(
    ("provider", "event", "payload"),
    [
        ("github", "ping", {"zen": "Keep it logically awesome.", "hook_id": 1, "hook": {"type": "Repository"}}),
        ("github", "push", {"ref": "refs/heads/main", "after": p.SHA, "repository": p.gh_repository()}),
        ("gitlab", "Push Hook", {"object_kind": "push", "ref": "refs/heads/main"}),
        ("jenkins", None, p.jenkins_notification(phase="DELETED")),
    ],
)
def test_irrelevant_events_are_ignored(client, settings, provider, event, payload, django_capture_on_commit_callbacks):
    sender = next(s for s in SENDERS if s.provider == provider)
    setattr(settings, sender.setting, sender.secret)
    body = _body(payload)
    with django_capture_on_commit_callbacks() as callbacks:
        response = sender.post(client, body, sender.headers(body, event=event))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ignored"
    assert not callbacks
    assert not WebhookDelivery.objects.exists()
    assert not AuditEvent.objects.filter(action="security.webhook_rejected").exists()


def test_session_and_csrf_play_no_part(client, sender, admin_user, django_capture_on_commit_callbacks):
    """A logged-in browser gets no further than anyone else: the signature is the only authentication."""
    client.force_login(admin_user)
    csrf_client = type(client)(enforce_csrf_checks=True)
    body = _body(sender.payload())
    headers = sender.headers(body)
    assert sender.post(csrf_client, body, headers).status_code == 202
    headers[sender.auth_header] = "sha256=" + "0" * 64
    assert sender.post(client, body, headers).status_code == 401
