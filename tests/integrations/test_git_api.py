"""The repositories API and pages: admin-managed repositories with audit, reads for everyone, sync
requests, the detail with its evidence, links to files, and 4xx on bad input."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.git_selectors import file_url
from integrations.git_services import git_repository_create
from integrations.git_sync import git_sync_now
from integrations.models import GitRepository, RepoSignal, SyncRun
from mlgov.audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/v1/repositories/"


@pytest.fixture
def project(team):
    return factories.ProjectFactory(team=team, slug="card-fraud")


@pytest.fixture
def admin_api(api_client_for, admin_user):
    return api_client_for(admin_user)


def body(**values):
    return {"name": "fraud", "url": "https://github.com/acme/fraud.git", "project": "card-fraud", **values}


def test_admin_manages_repositories_with_audit(admin_api, project):
    created = admin_api.post(
        URL, body(credentials_env_var="FRAUD_TOKEN", web_url="https://github.com/acme/fraud/"), format="json"
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["branch"], data["project"], data["team"], data["web_url"]) == (
        "main",
        "card-fraud",
        project.team.slug,
        "https://github.com/acme/fraud",
    )
    assert data["last_sync_status"] is None
    assert data["head_sha"] == ""
    changed = admin_api.patch(f"{URL}fraud/", {"branch": "release/2026", "subdirectory": "svc/"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["subdirectory"] == "svc"
    unchanged = admin_api.patch(f"{URL}fraud", {"branch": "release/2026"}, format="json")  # no trailing slash
    assert unchanged.status_code == 200
    assert admin_api.delete(f"{URL}fraud/").status_code == 204
    events = AuditEvent.objects.filter(target_type="gitrepository").order_by("seq")
    assert list(events.values_list("action", flat=True)) == [
        "gitrepository.created",
        "gitrepository.updated",
        "gitrepository.deleted",
    ]
    assert events[1].before["branch"] == "main"
    assert events[1].after["branch"] == "release/2026"
    assert not GitRepository.objects.exists()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": "not a slug"}, "name"),
        ({"url": "ext::sh -c touch% /tmp/pwned"}, "url"),
        ({"url": "ftp://example.com/repo.git"}, "url"),
        ({"url": "-uhelp"}, "url"),
        ({"url": "https://user:ghp_secret@github.com/acme/fraud.git"}, "url"),
        ({"url": "relative/path"}, "url"),
        ({"url": "https://github.com/acme/\x1b[31mred"}, "url"),
        ({"branch": "feature..x"}, "branch"),
        ({"branch": "-delete"}, "branch"),
        ({"branch": "with space"}, "branch"),
        ({"subdirectory": "../outside"}, "subdirectory"),
        ({"subdirectory": "a//b"}, "subdirectory"),
        ({"credentials_env_var": "1-BAD"}, "credentials_env_var"),
        ({"url": "git@github.com:acme/fraud.git", "credentials_env_var": "TOKEN"}, "credentials_env_var"),
        ({"web_url": "javascript:alert(1)"}, "web_url"),
        ({"project": "no-such-project"}, "project"),
        ({"project": None}, "project"),
        ({"sync_interval_minutes": 0}, "sync_interval_minutes"),
    ],
)
def test_bad_repositories_are_400(admin_api, project, values, field):
    response = admin_api.post(URL, body(**values), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    assert not GitRepository.objects.exists()
    assert not AuditEvent.objects.filter(target_type="gitrepository").exists()


def test_accepted_url_forms(admin_api, project):
    for i, url in enumerate(
        [
            "https://gitlab.example.com/group/sub/repo.git",
            "ssh://git@host:2222/r.git",
            "git@github.com:a/b.git",
            "file:///srv/git/r.git",
            "/srv/git/r.git",
        ]
    ):
        response = admin_api.post(URL, body(name=f"r{i}", url=url), format="json")
        assert response.status_code == 201, (url, response.content)


def test_duplicates_and_renames_are_refused(admin_api, project):
    assert admin_api.post(URL, body(), format="json").status_code == 201
    assert admin_api.post(URL, body(), format="json").status_code == 400
    renamed = admin_api.patch(f"{URL}fraud/", {"name": "other"}, format="json")
    assert renamed.status_code == 400
    assert GitRepository.objects.get().name == "fraud"


def test_everyone_reads_only_admins_write(api_client_for, maintainer, member, project):
    git_repository_create(actor="test", name="fraud", url="https://github.com/acme/fraud.git", project=project)
    for user in (maintainer, member):
        client = api_client_for(user)
        assert client.get(URL).status_code == 200
        assert client.get(f"{URL}fraud/").status_code == 200
        assert client.post(URL, body(name="x"), format="json").status_code == 403
        assert client.patch(f"{URL}fraud/", {"enabled": False}, format="json").status_code == 403
        assert client.delete(f"{URL}fraud/").status_code == 403
    assert GitRepository.objects.get().enabled
    assert AuditEvent.objects.filter(action="security.permission_denied").count() == 6


def test_filters(api, team, other_team):
    a = factories.ProjectFactory(team=team, slug="a")
    b = factories.ProjectFactory(team=other_team, slug="b")
    git_repository_create(actor="t", name="one", url="/srv/one", project=a)
    git_repository_create(actor="t", name="two", url="/srv/two", project=b, enabled=False)

    def names(query):
        response = api.get(f"{URL}?{query}")
        assert response.status_code == 200, response.content
        return [r["name"] for r in response.json()["results"]]

    assert names("") == ["one", "two"]
    assert names("project=a") == ["one"]
    assert names(f"team={other_team.slug}") == ["two"]
    assert names("enabled=false") == ["two"]
    assert names("q=tw") == ["two"]
    assert api.get(f"{URL}?colour=red").status_code == 400
    assert api.get(f"{URL}?ordering=url").status_code == 400
    assert api.get(f"{URL}?enabled=maybe").status_code == 400


def test_sync_requests(api_client_for, maintainer, member, manager, project):
    git_repository_create(actor="test", name="fraud", url="/srv/fraud", project=project)
    response = api_client_for(maintainer).post(f"{URL}fraud/sync", format="json")
    assert response.status_code == 202, response.content
    assert (response.json()["target"], response.json()["status"]) == ("git:fraud", "queued")
    again = api_client_for(manager).post(f"{URL}fraud/sync/", {"mode": "full"}, format="json")
    assert again.json()["id"] == response.json()["id"]  # already waiting: not queued twice
    assert api_client_for(member).post(f"{URL}fraud/sync", format="json").status_code == 403
    assert api_client_for(maintainer, scope="read").post(f"{URL}fraud/sync", format="json").status_code == 403
    assert api_client_for(maintainer).post(f"{URL}nope/sync", format="json").status_code == 404
    bad = api_client_for(maintainer).post(f"{URL}fraud/sync", {"mode": "sideways"}, format="json")
    assert bad.status_code == 400
    assert SyncRun.objects.count() == 1


def test_detail_carries_signals_with_links_findings_and_activity(api, builder, git_cache, project):
    builder.commit(
        {
            "train.py": "",
            "serving/predict.py": "",
            "docs/a b.md": "",
            ".github/workflows/broken.yml": "on: [push\n",
        }
    )
    repo = git_repository_create(
        actor="t", name="fraud", url=str(builder.path), project=project, web_url="https://github.com/acme/fraud"
    )
    git_sync_now(repository=repo)
    head = builder.head
    for n in range(30):  # more evidence must not mean more queries
        RepoSignal.objects.create(
            repository=repo, kind="test_file", path=f"tests/test_{n}.py", commit_sha=head, observed_at=repo.created_at
        )
    with CaptureQueriesContext(connection) as queries:
        response = api.get(f"{URL}fraud/")
    assert response.status_code == 200
    assert len(queries) <= 8, [q["sql"] for q in queries]
    data = response.json()
    assert data["head_sha"] == head
    assert data["activity"]["last_commit_sha"] == head
    by_path = {(s["kind"], s["path"]): s for s in data["signals"]}
    assert by_path[("training_code", "train.py")]["url"] == f"https://github.com/acme/fraud/blob/{head}/train.py"
    assert by_path[("training_code", "train.py")]["commit_sha"] == head
    assert [f["kind"] for f in data["findings"]] == ["broken_yaml"]
    listing = api.get(URL).json()["results"][0]
    assert "signals" not in listing
    assert listing["last_sync_status"] == "succeeded"


def test_file_links():
    sha = "a" * 40
    assert file_url("https://github.com/acme/fraud", sha, "src/a b.py") == (
        f"https://github.com/acme/fraud/blob/{sha}/src/a%20b.py"
    )
    assert file_url("https://gitlab.example.com/grp/fraud/", sha, "x.py") == (
        f"https://gitlab.example.com/grp/fraud/-/blob/{sha}/x.py"
    )
    assert (
        file_url("https://bitbucket.org/acme/fraud", sha, "x.py") == f"https://bitbucket.org/acme/fraud/src/{sha}/x.py"
    )
    assert file_url("", sha, "x.py") == ""


# --- pages ---


def test_repository_pages(client, maintainer, member, builder, git_cache, project):
    builder.commit({"train.py": "", ".github/workflows/broken.yml": "on: [push\n"})
    gh = git_repository_create(
        actor="t", name="fraud", url=str(builder.path), project=project, web_url="https://github.com/acme/fraud"
    )
    gl = git_repository_create(
        actor="t", name="fraud-gl", url=str(builder.path), project=project, web_url="https://gitlab.com/acme/fraud"
    )
    plain = git_repository_create(actor="t", name="fraud-local", url=str(builder.path), project=project)
    for repo in (gh, gl, plain):
        git_sync_now(repository=repo)
    head = builder.head

    client.force_login(member)
    listing = client.get("/repositories/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert 'href="/repositories/"' in html  # the nav link
    assert 'href="/repositories/fraud/"' in html
    assert client.get("/repositories/?project=card-fraud").status_code == 200
    assert client.get("/repositories/?enabled=maybe").status_code == 400
    csv = client.get("/repositories/?export=csv")
    assert csv["Content-Type"].startswith("text/csv")
    assert b"fraud-local" in b"".join(csv.streaming_content)

    page = client.get("/repositories/fraud/").content.decode()
    assert f'href="https://github.com/acme/fraud/blob/{head}/train.py"' in page
    assert "broken_yaml" in page
    assert "Ada Lovelace" in page
    assert "Sync now" not in page  # a plain member may not sync
    assert (
        f'href="https://gitlab.com/acme/fraud/-/blob/{head}/train.py"'
        in client.get("/repositories/fraud-gl/").content.decode()
    )
    local = client.get("/repositories/fraud-local/").content.decode()
    assert "<code>train.py</code>" in local
    assert "/blob/" not in local
    assert client.get("/repositories/nope/").status_code == 404
    assert client.post("/repositories/fraud/sync/").status_code == 403

    client.force_login(maintainer)
    assert "Sync now" in client.get("/repositories/fraud/").content.decode()
    response = client.post("/repositories/fraud/sync/")
    run = SyncRun.objects.filter(status="queued").get()
    assert response.status_code == 302
    assert response["Location"] == f"/syncs/{run.pk}/"
    assert client.get("/repositories/fraud/sync/").status_code == 405


def test_pages_need_a_login(client, project):
    git_repository_create(actor="t", name="fraud", url="/srv/fraud", project=project)
    for url in ("/repositories/", "/repositories/fraud/"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login/" in response["Location"]
    assert client.post("/repositories/fraud/sync/").status_code == 302
    assert not SyncRun.objects.exists()
