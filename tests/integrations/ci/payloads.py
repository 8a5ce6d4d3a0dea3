"""CI payloads in the shapes the providers document (our own values; same keys and nesting):

- GitHub: the `workflow_run` and `workflow_job` webhook events (docs "Webhook events and payloads"; octokit's
  payload examples) and "List workflow runs for a repository" (`GET /repos/{owner}/{repo}/actions/runs`);
- GitLab: "Webhook events" (Pipeline Hook with `object_attributes` and `builds`, Job Hook with `build_*`)
  and the Pipelines API (`GET /projects/:id/pipelines`, `GET /projects/:id`);
- Jenkins: the Notification plugin's JobState/BuildState/ScmState JSON, and the JSON API's
  `{job}/api/json?tree=builds[…]` with the Git plugin's BuildData action.
"""

from __future__ import annotations

import copy
from typing import Any

SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"
SHA2 = "acb5820ced9479c074f688cc328bf03f341a511d"


def _gh_user(login: str = "octocat", kind: str = "User") -> dict[str, Any]:
    return {
        "login": login,
        "id": 1,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": f"https://avatars.githubusercontent.com/u/1?v=4&{login}",
        "gravatar_id": "",
        "url": f"https://api.github.com/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": kind,
        "site_admin": False,
    }


def gh_repository(full_name: str = "acme/card-fraud") -> dict[str, Any]:
    owner, name = full_name.split("/")
    return {
        "id": 300029405,
        "node_id": "MDEwOlJlcG9zaXRvcnkzMDAwMjk0MDU=",
        "name": name,
        "full_name": full_name,
        "private": True,
        "owner": _gh_user(owner, "Organization"),
        "html_url": f"https://github.com/{full_name}",
        "description": "Card fraud scoring",
        "fork": False,
        "url": f"https://api.github.com/repos/{full_name}",
        "git_url": f"git://github.com/{full_name}.git",
        "ssh_url": f"git@github.com:{full_name}.git",
        "clone_url": f"https://github.com/{full_name}.git",
        "default_branch": "main",
    }


def gh_workflow_run(
    *,
    run_id: int = 289782451,
    status: str = "completed",
    conclusion: str | None = "success",
    sha: str = SHA,
    path: str = ".github/workflows/train.yml",
    name: str = "Train",
    event: str = "push",
    created_at: str = "2026-11-23T10:00:00Z",
    run_started_at: str = "2026-11-23T10:00:05Z",
    updated_at: str = "2026-11-23T10:07:49Z",
    run_attempt: int = 1,
    full_name: str = "acme/card-fraud",
) -> dict[str, Any]:
    """A workflow run object: the webhook's `workflow_run` and each item of the REST list."""
    return {
        "id": run_id,
        "name": name,
        "node_id": "MDExOldvcmtmbG93UnVuMjg5NzgyNDUx",
        "head_branch": "main",
        "head_sha": sha,
        "path": path,
        "display_title": "Retrain with November data",
        "run_number": 163,
        "event": event,
        "status": status,
        "conclusion": conclusion,
        "workflow_id": 2823525,
        "check_suite_id": 1291536064,
        "check_suite_node_id": "MDg6V29ya2Zsb3cyODIzNTI1",
        "url": f"https://api.github.com/repos/{full_name}/actions/runs/{run_id}",
        "html_url": f"https://github.com/{full_name}/actions/runs/{run_id}",
        "pull_requests": [],
        "created_at": created_at,
        "updated_at": updated_at,
        "actor": _gh_user(),
        "run_attempt": run_attempt,
        "run_started_at": run_started_at,
        "triggering_actor": _gh_user(),
        "jobs_url": f"https://api.github.com/repos/{full_name}/actions/runs/{run_id}/jobs",
        "logs_url": f"https://api.github.com/repos/{full_name}/actions/runs/{run_id}/logs",
        "check_suite_url": f"https://api.github.com/repos/{full_name}/check-suites/1291536064",
        "artifacts_url": f"https://api.github.com/repos/{full_name}/actions/runs/{run_id}/artifacts",
        "cancel_url": f"https://api.github.com/repos/{full_name}/actions/runs/{run_id}/cancel",
        "rerun_url": f"https://api.github.com/repos/{full_name}/actions/runs/{run_id}/rerun",
        "workflow_url": f"https://api.github.com/repos/{full_name}/actions/workflows/2823525",
        "head_commit": {
            "id": sha,
            "tree_id": "c30f6c3377009c4c91c85d1f15deb6f2b7c2eb37",
            "message": "Retrain with November data",
            "timestamp": "2026-11-23T09:58:00Z",
            "author": {"name": "Femi Okafor", "email": "femi@example.com"},
            "committer": {"name": "GitHub", "email": "noreply@github.com"},
        },
        "repository": gh_repository(full_name),
        "head_repository": gh_repository(full_name),
    }


def gh_workflow_run_event(action: str = "completed", **run: Any) -> dict[str, Any]:
    """The `workflow_run` webhook payload (X-GitHub-Event: workflow_run)."""
    full_name = run.get("full_name", "acme/card-fraud")
    wf = gh_workflow_run(**run)
    return {
        "action": action,
        "workflow_run": wf,
        "workflow": {
            "id": 2823525,
            "node_id": "MDg6V29ya2Zsb3cyODIzNTI1",
            "name": wf["name"],
            "path": wf["path"],
            "state": "active",
            "created_at": "2026-01-02T12:42:30.000Z",
            "updated_at": "2026-11-03T19:24:48.000Z",
            "url": f"https://api.github.com/repos/{full_name}/actions/workflows/2823525",
            "html_url": f"https://github.com/{full_name}/blob/main/{wf['path']}",
            "badge_url": f"https://github.com/{full_name}/workflows/{wf['name']}/badge.svg",
        },
        "repository": gh_repository(full_name),
        "organization": {"login": full_name.split("/")[0], "id": 41548062},
        "sender": _gh_user(),
    }


def gh_workflow_job_event(
    *,
    action: str = "completed",
    job_id: int = 399444496,
    run_id: int = 289782451,
    name: str = "train-model",
    status: str = "completed",
    conclusion: str | None = "failure",
    started_at: str = "2026-11-23T10:01:00Z",
    completed_at: str | None = "2026-11-23T10:05:16Z",
    full_name: str = "acme/card-fraud",
) -> dict[str, Any]:
    """The `workflow_job` webhook payload (X-GitHub-Event: workflow_job)."""
    return {
        "action": action,
        "workflow_job": {
            "id": job_id,
            "run_id": run_id,
            "workflow_name": "Train",
            "head_branch": "main",
            "run_url": f"https://api.github.com/repos/{full_name}/actions/runs/{run_id}",
            "run_attempt": 1,
            "node_id": "CR_kwDOA",
            "head_sha": SHA,
            "url": f"https://api.github.com/repos/{full_name}/actions/jobs/{job_id}",
            "html_url": f"https://github.com/{full_name}/actions/runs/{run_id}/job/{job_id}",
            "status": status,
            "conclusion": conclusion,
            "created_at": "2026-11-23T10:00:30Z",
            "started_at": started_at,
            "completed_at": completed_at,
            "name": name,
            "steps": [
                {
                    "name": "Set up job",
                    "status": "completed",
                    "conclusion": "success",
                    "number": 1,
                    "started_at": started_at,
                    "completed_at": started_at,
                }
            ],
            "check_run_url": f"https://api.github.com/repos/{full_name}/check-runs/{job_id}",
            "labels": ["ubuntu-latest"],
            "runner_id": 5,
            "runner_name": "GitHub Actions 5",
            "runner_group_id": 2,
            "runner_group_name": "GitHub Actions",
        },
        "repository": gh_repository(full_name),
        "sender": _gh_user(),
    }


def gh_runs_page(runs: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    """`GET /repos/{owner}/{repo}/actions/runs`: {"total_count", "workflow_runs": [...]}."""
    return {"total_count": total if total is not None else len(runs), "workflow_runs": runs}


# --- GitLab ---


def gl_project(path: str = "acme/card-fraud", project_id: int = 15, host: str = "gitlab.example.com") -> dict[str, Any]:
    return {
        "id": project_id,
        "name": path.rsplit("/", 1)[-1],
        "description": "Card fraud scoring",
        "web_url": f"https://{host}/{path}",
        "avatar_url": None,
        "git_ssh_url": f"git@{host}:{path}.git",
        "git_http_url": f"https://{host}/{path}.git",
        "namespace": path.split("/")[0],
        "visibility_level": 0,
        "path_with_namespace": path,
        "default_branch": "main",
        "ci_config_path": None,
    }


def _gl_build(build_id: int, stage: str, name: str, status: str, started: str | None, finished: str | None):
    return {
        "id": build_id,
        "stage": stage,
        "name": name,
        "status": status,
        "created_at": "2026-11-23 10:00:00 UTC",
        "started_at": started,
        "finished_at": finished,
        "duration": 17.0 if finished else None,
        "queued_duration": 3.0 if started else None,
        "failure_reason": "script_failure" if status == "failed" else None,
        "when": "on_success",
        "manual": False,
        "allow_failure": False,
        "user": {"id": 1, "name": "Femi Okafor", "username": "femi", "avatar_url": None, "email": "femi@example.com"},
        "runner": None,
        "artifacts_file": {"filename": None, "size": None},
        "environment": None,
    }


def gl_pipeline_hook(
    *,
    pipeline_id: int = 31,
    status: str = "success",
    sha: str = SHA,
    source: str = "merge_request_event",
    finished_at: str | None = "2026-11-23 10:06:29 UTC",
    path: str = "acme/card-fraud",
) -> dict[str, Any]:
    """A Pipeline Hook payload (X-Gitlab-Event: Pipeline Hook)."""
    project = gl_project(path)
    return {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": pipeline_id,
            "iid": 3,
            "name": "Pipeline for branch: main",
            "ref": "main",
            "tag": False,
            "sha": sha,
            "before_sha": SHA2,
            "source": source,
            "status": status,
            "detailed_status": status,
            "stages": ["build", "test", "train"],
            "created_at": "2026-11-23 10:00:00 UTC",
            "finished_at": finished_at,
            "duration": 389,
            "queued_duration": 12,
            "variables": [{"key": "MODEL", "value": "card-fraud"}],
            "url": f"{project['web_url']}/-/pipelines/{pipeline_id}",
        },
        "merge_request": {
            "id": 1,
            "iid": 1,
            "title": "Retrain",
            "source_branch": "retrain",
            "source_project_id": 15,
            "target_branch": "main",
            "target_project_id": 15,
            "state": "opened",
            "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable",
            "url": f"{project['web_url']}/-/merge_requests/1",
        },
        "user": {"id": 1, "name": "Femi Okafor", "username": "femi", "avatar_url": None, "email": "femi@example.com"},
        "project": project,
        "commit": {
            "id": sha,
            "message": "Retrain with November data\n",
            "title": "Retrain with November data",
            "timestamp": "2026-11-23T10:59:00+01:00",
            "url": f"{project['web_url']}/-/commit/{sha}",
            "author": {"name": "Femi Okafor", "email": "femi@example.com"},
        },
        "builds": [
            _gl_build(376, "build", "build-image", "success", "2026-11-23 10:00:10 UTC", "2026-11-23 10:01:00 UTC"),
            _gl_build(377, "test", "unit-tests", "success", "2026-11-23 10:01:10 UTC", "2026-11-23 10:02:00 UTC"),
            _gl_build(378, "test", "lint", "failed", "2026-11-23 10:01:10 UTC", "2026-11-23 10:01:30 UTC"),
            _gl_build(379, "train", "train-model", "success", "2026-11-23 10:02:10 UTC", "2026-11-23 10:06:20 UTC"),
            _gl_build(380, "deploy", "deploy", "skipped", None, None),
        ],
    }


def gl_job_hook(
    *,
    build_id: int = 1977,
    pipeline_id: int = 31,
    status: str = "running",
    started_at: str | None = "2026-11-23T10:03:00Z",
    finished_at: str | None = None,
    name: str = "evaluate",
    path: str = "acme/card-fraud",
) -> dict[str, Any]:
    """A Job Hook payload (X-Gitlab-Event: Job Hook). `commit.id` is the pipeline id."""
    project = gl_project(path)
    return {
        "object_kind": "build",
        "ref": "main",
        "tag": False,
        "before_sha": SHA2,
        "sha": SHA,
        "build_id": build_id,
        "build_name": name,
        "build_stage": "train",
        "build_status": status,
        "build_created_at": "2026-11-23 10:00:00 UTC",
        "build_created_at_iso": "2026-11-23T10:00:00Z",
        "build_started_at": started_at and started_at.replace("T", " ").replace("Z", " UTC"),
        "build_started_at_iso": started_at,
        "build_finished_at": finished_at and finished_at.replace("T", " ").replace("Z", " UTC"),
        "build_finished_at_iso": finished_at,
        "build_duration": None,
        "build_queued_duration": 1.2,
        "build_allow_failure": False,
        "build_failure_reason": "unknown_failure",
        "retries_count": 0,
        "pipeline_id": pipeline_id,
        "project_id": project["id"],
        "project_name": "Acme / card-fraud",
        "user": {"id": 3, "name": "Femi Okafor", "email": "femi@example.com", "avatar_url": None},
        "commit": {
            "id": pipeline_id,
            "name": "Build pipeline",
            "sha": SHA,
            "message": "Retrain\n",
            "author_name": "Femi Okafor",
            "author_email": "femi@example.com",
            "status": "running",
            "duration": None,
            "started_at": None,
            "started_at_iso": None,
            "finished_at": None,
            "finished_at_iso": None,
        },
        "repository": {
            "name": "card-fraud",
            "description": "Card fraud scoring",
            "homepage": project["web_url"],
            "git_ssh_url": project["git_ssh_url"],
            "git_http_url": project["git_http_url"],
            "visibility_level": 0,
        },
        "project": project,
        "runner": {
            "active": True,
            "runner_type": "project_type",
            "is_shared": False,
            "id": 380987,
            "description": "runner-1",
            "tags": ["linux"],
        },
        "environment": None,
    }


def gl_pipelines_item(pipeline_id: int, *, status: str = "success", sha: str = SHA, path: str = "acme/card-fraud"):
    """One item of `GET /projects/:id/pipelines`."""
    return {
        "id": pipeline_id,
        "iid": pipeline_id - 40,
        "project_id": 15,
        "status": status,
        "source": "push",
        "ref": "main",
        "sha": sha,
        "name": "Build pipeline",
        "web_url": f"https://gitlab.example.com/{path}/-/pipelines/{pipeline_id}",
        "created_at": "2026-11-23T10:00:00.085Z",
        "updated_at": "2026-11-23T10:06:35.169Z",
    }


# --- Jenkins ---


def jenkins_notification(
    *,
    number: int = 18,
    phase: str = "COMPLETED",
    status: str | None = "SUCCESS",
    commit: str = SHA,
    repo: str = "https://github.com/acme/card-fraud.git",
    timestamp: Any = 1795428000000,
    duration: int = 61000,
    job: str = "job/acme/job/card-fraud/",
) -> dict[str, Any]:
    """The Notification plugin's JSON (JobState with its BuildState and ScmState)."""
    return {
        "name": "card-fraud",
        "display_name": "card-fraud",
        "url": job,
        "build": {
            "full_url": f"https://jenkins.example.com/{job}{number}/",
            "number": number,
            "queue_id": 1,
            "phase": phase,
            "status": status,
            "url": f"{job}{number}/",
            "scm": {
                "url": repo,
                "branch": "origin/main",
                "commit": commit,
                "changes": ["train.py"],
                "culprits": ["femi"],
            },
            "parameters": {"MODEL": "card-fraud"},
            "log": "",
            "notes": "",
            "artifacts": {"model.pkl": {"archive": f"https://jenkins.example.com/{job}{number}/artifact/model.pkl"}},
            "timestamp": timestamp,
            "duration": duration,
        },
    }


def jenkins_build(
    number: int,
    *,
    result: str | None = "SUCCESS",
    building: bool = False,
    sha: str = SHA,
    timestamp: int = 1795428000000,
    repo: str = "https://github.com/acme/card-fraud.git",
):
    """One build of `{job}/api/json?tree=builds[…]`."""
    return {
        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
        "number": number,
        "url": f"https://jenkins.example.com/job/acme/job/card-fraud/{number}/",
        "result": result,
        "building": building,
        "inProgress": building,
        "timestamp": timestamp,
        "duration": 0 if building else 61000,
        "actions": [
            {"_class": "hudson.model.CauseAction"},
            {},
            {
                "_class": "hudson.plugins.git.util.BuildData",
                "lastBuiltRevision": {"SHA1": sha},
                "remoteUrls": [repo],
            },
        ],
    }


def clone(payload: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(payload)
