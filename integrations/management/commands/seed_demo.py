"""`manage.py seed_demo`: the demo organisation, a real local MLflow store, and a sync of one into the other.

1. the organisation (teams, people in every role, projects) through the inventory and accounts services;
2. a local MLflow store (default var/demo-mlflow/) seeded through the MLflow client, and the CI pipelines
   behind its training as stand-ins until the Git/CI sync exists (integrations/demo.py);
3. an MLflow connection named "demo" with mapping rules, and a sync of it, whose counts are printed.

Idempotent: a second run leaves the organisation and the store as they are; its sync finds nothing new.
"""

import os
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection as db

from mlgov.context import acting
from mlgov.inventory.demo import ACTOR, LEGACY_SOURCE, legacy_fake_models, seed_organisation

DEFAULT_PASSWORD = "mlgov-demo-2026"


def default_mlflow_dir() -> Path:
    return Path(os.environ.get("MLGOV_DEMO_MLFLOW_DIR") or settings.BASE_DIR / "var" / "demo-mlflow")


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

    def handle(self, *args, password, mlflow_dir, **options):
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
            ci = demo.seed_ci_standins(seeded.plan)
            connection, outcome = mlflow_connection_upsert(
                actor=ACTOR,
                name=demo.CONNECTION_NAME,
                tracking_uri=store.tracking_uri,
                mapping=demo.MAPPING,
                description="The demo's local MLflow store (manage.py seed_demo).",
            )
        lap("CI stand-ins, connection")
        self.stdout.write(
            f"CI pipelines and runs (stand-ins until the Git/CI sync exists): {ci['created']} created, "
            f"{ci['updated']} updated, {ci['unchanged']} unchanged."
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
        self.stdout.write(self.style.SUCCESS("Demo organisation ready. Log in at http://127.0.0.1:8000/ as:"))
        for u in users:
            roles = ", ".join([*u.groups, *(f"{r} of {t}" for t, r in u.teams)])
            self.stdout.write(f"  {u.username:<14} password: {password:<16} {roles}")
