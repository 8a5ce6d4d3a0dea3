"""`manage.py seed_demo`: the demo organisation, and the outside systems it syncs from, for real.

1. the organisation (teams, people in every role, projects) through the inventory and accounts services;
2. real git repositories for the teams' code (integrations/demo_repos.py, under <demo dir>/git/), and a
   local MLflow store (default var/demo-mlflow/) seeded through the MLflow client with runs that trained
   from those repositories' commits (integrations/demo.py);
3. each repository registered as a GitRepository and synced (signals, findings, activity, pipelines);
4. the CI runs behind the training, delivered as signed webhooks to the real /hooks/ endpoints
   (integrations/demo_ci.py);
5. an MLflow connection named "demo" with mapping rules, and a sync of it, whose counts are printed;
6. the steps the apps above integrations registered (integrations/hooks.py: scoring, promotions...).

Idempotent: a second run leaves the organisation, the repositories and the store as they are; the syncs
find nothing new and the webhook endpoints answer "duplicate".
"""

import logging
import os
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection as db

from mlgov.context import acting
from mlgov.inventory.demo import ACTOR, LEGACY_SOURCE, legacy_fake_models, seed_organisation

DEFAULT_PASSWORD = "mlgov-demo-2026"


def default_mlflow_dir() -> Path:
    return Path(os.environ.get("MLGOV_DEMO_MLFLOW_DIR") or settings.BASE_DIR / "var" / "demo-mlflow")


def demo_git_repositories(seeded: Any) -> list[tuple[Any, Any]]:
    """Register each demo repository (a local path, with the web URL CI and MLflow call it by) and sync it.
    Idempotent: an unchanged repository is left as it is, and its sync rescans nothing."""
    from integrations.git_services import git_repository_create, git_repository_update
    from integrations.git_sync import git_sync_now
    from integrations.models import GitRepository
    from mlgov.inventory.models import Project

    out = []
    for built in seeded.repos.values():
        t = built.template
        values = {"url": str(built.path), "web_url": t.web_url, "branch": "main"}
        repo = GitRepository.objects.filter(name=t.name).first()
        if repo is None:
            repo = git_repository_create(
                actor=ACTOR, name=t.name, project=Project.objects.get(slug=t.project), **values
            )
        else:
            repo, _ = git_repository_update(actor=ACTOR, repository=repo, **values)
        out.append((repo, git_sync_now(repository=repo, triggered_by=ACTOR)))
    return out


class Command(BaseCommand):
    help = (
        "Seed the demo organisation and a local MLflow store, sync the store into the inventory (idempotent), "
        "and print the demo users and their password."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", default=os.environ.get("MLGOV_DEMO_PASSWORD", DEFAULT_PASSWORD))
        parser.add_argument(
            "--mlflow-dir",
            default=None,
            help="Directory of the demo's MLflow store (default: $MLGOV_DEMO_MLFLOW_DIR or var/demo-mlflow).",
        )
        parser.add_argument(
            "--url",
            default=None,
            help="Where the app will be served, for the closing message (default: MLGOV_BASE_URL; "
            "`make demo` passes http://$(HOST):$(PORT)/).",
        )

    def handle(self, *args, **options):
        # In-process (eager) tasks log every delivery at INFO, and kombu warns once about the empty broker URL
        # that eager mode runs with: the command prints its own summary instead.
        quiet = [logging.getLogger(name) for name in ("celery.app.trace", "kombu.connection")]
        levels = [logger.level for logger in quiet]
        for logger in quiet:
            logger.setLevel(logging.ERROR)
        try:
            self.seed(**options)
        finally:
            for logger, level in zip(quiet, levels, strict=True):
                logger.setLevel(level)

    def seed(self, *, password: str, mlflow_dir: str | None, **options: Any) -> None:
        timings: list[tuple[str, float]] = []
        clock = started = time.monotonic()

        def lap(label: str) -> None:
            nonlocal clock
            now = time.monotonic()
            timings.append((label, now - clock))
            clock = now

        with acting(source="cli"):
            users = seed_organisation(password=password)
        lap("organisation")

        # Imported here: integrations.demo imports mlflow, which takes seconds; `manage.py help` need not.
        from integrations import demo
        from integrations.demo_ci import attach_test_reports, deliver_ci_runs
        from integrations.services import mlflow_connection_upsert
        from integrations.sync import mlflow_sync_now

        lap("import mlflow")

        store = demo.DemoStore.at(mlflow_dir or default_mlflow_dir())
        try:
            seeded = demo.seed_store(store)
        except demo.DemoStoreError as exc:
            raise CommandError(str(exc)) from exc
        lap("MLflow store")
        c = seeded.counts
        if seeded.seeded:
            self.stdout.write(
                f"Seeded the MLflow store {store.tracking_uri} through the MLflow client: "
                f"{c['experiments']} experiments, {c['runs']} runs ({c['dataset_inputs']} dataset inputs), "
                f"{c['registered_models']} registered models, {c['versions']} versions "
                f"({c['logged_models']} from logged models), {c['aliases']} aliases."
            )
        else:
            self.stdout.write(
                f"The MLflow store {store.tracking_uri} holds the demo already (seeded for "
                f"{seeded.plan.anchor}); left as it is."
            )

        with acting(source="cli"):
            repositories = demo_git_repositories(seeded)
        lap("git repositories")
        for repo, run in repositories:
            counts = ", ".join(
                f"{kind} {n['created'] + n['updated']}"
                for kind, n in sorted(run.counts.items())
                if n["created"] + n["updated"]
            )
            self.stdout.write(
                f"Git repository {repo.name!r} ({repo.web_url}, {repo.url}): sync #{run.pk} {run.status}"
                + (f"; written: {counts}" if counts else "; head unchanged")
            )
            if run.status != "succeeded":
                raise CommandError(f"The sync of the git repository {repo.name!r} failed: {run.errors}")

        with acting(source="cli"):
            answers = deliver_ci_runs(seeded.plan)
        lap("CI webhooks")
        self.stdout.write(
            "CI runs delivered as signed webhooks to /hooks/github/, /hooks/gitlab/, /hooks/jenkins/: "
            + ", ".join(f"{n} {answer}" for answer, n in answers.items() if answer != "demo secrets")
            + "."
        )
        with acting(source="cli"):
            reports = attach_test_reports(seeded.plan)
        self.stdout.write(
            "JUnit test reports posted by the ci-bot service account to /api/v1/pipeline-runs/<id>/test-report: "
            f"{reports}."
        )
        if answers.get("refused"):
            raise CommandError(f"{answers['refused']} CI webhook deliveries were refused; see the audit log.")
        if answers.get("demo secrets"):
            self.stdout.write(
                self.style.WARNING(
                    "  No webhook secrets are set (MLGOV_GITHUB_WEBHOOK_SECRET, MLGOV_GITLAB_WEBHOOK_TOKEN, "
                    "MLGOV_JENKINS_WEBHOOK_SECRET): the demo signed with its own. `make demo` sets them."
                )
            )

        with acting(source="cli"):
            connection, outcome = mlflow_connection_upsert(
                actor=ACTOR,
                name=demo.CONNECTION_NAME,
                tracking_uri=store.tracking_uri,
                mapping=demo.MAPPING,
                description="The demo's local MLflow store (manage.py seed_demo).",
            )
        self.stdout.write(f"MLflow connection {connection.name!r}: {outcome}.")

        # A freshly seeded store is read in full; otherwise the connection's usual choice (incremental).
        run = mlflow_sync_now(connection=connection, mode="full" if seeded.seeded else None, triggered_by=ACTOR)
        lap("sync")
        if run.status != "succeeded":
            raise CommandError(f"The sync of {connection.name!r} failed: {run.errors}")
        self.stdout.write(self.style.SUCCESS(f"Sync #{run.pk} ({run.mode}) {run.status}:"))
        for kind, n in run.counts.items():
            self.stdout.write(
                f"  {kind:<16} created {n['created']:>4}  updated {n['updated']:>4}  "
                f"unchanged {n['unchanged']:>4}  removed {n['removed']:>4}"
            )
        for warning in run.errors:
            self.stdout.write(self.style.WARNING(f"  {warning['level']}: {warning['message']}"))

        # Steps the apps above integrations registered (scoring, promotions...): integrations/hooks.py.
        from integrations.hooks import demo_steps

        for label, step in demo_steps():
            with acting(source="cli"):
                line = step()
            lap(label)
            self.stdout.write(f"{label}: {line}")

        legacy = legacy_fake_models()
        if legacy:
            self.stdout.write(
                self.style.WARNING(
                    f"This database also holds {legacy} fake models an earlier demo wrote straight into the "
                    f"inventory (external source {LEGACY_SOURCE!r}). For a clean demo, delete the database "
                    f"({db.settings_dict['NAME']}) and run `make demo` again."
                )
            )

        total = time.monotonic() - started
        self.stdout.write(
            "Timings: " + ", ".join(f"{label} {s:.1f} s" for label, s in timings) + f"; total {total:.1f} s"
        )
        url = (options.get("url") or settings.MLGOV_BASE_URL).rstrip("/") + "/"
        self.stdout.write(self.style.SUCCESS(f"Demo organisation ready. Log in at {url} as:"))
        for u in users:
            roles = ", ".join([*u.groups, *(f"{r} of {t}" for t, r in u.teams)])
            self.stdout.write(f"  {u.username:<14} password: {password:<16} {roles}")
