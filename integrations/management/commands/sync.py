import sys
import time

from django.core.management.base import BaseCommand, CommandError

from integrations.git import GitError
from integrations.mlflow import MlflowError
from integrations.models import GitRepository, MlflowConnection
from integrations.services import SyncAlreadyRunning
from integrations.sync import mlflow_sync_now
from mlgov.context import acting

# The phases each sync reports, in the order it goes through them (integrations/sync.py, git_sync.py).
PHASES = (
    ("experiments", "runs", "models", "versions", "aliases", "removals"),
    ("fetch", "files", "detectors", "pipelines", "activity", "write"),
)
BAR_WIDTH = 24


class Command(BaseCommand):
    _phase: str = ""
    _phase_started: float = 0.0

    help = (
        "Sync integrations in the foreground, with progress. "
        "Examples: sync --source mlflow --connection prod; sync --source git --repository card-fraud"
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", choices=["mlflow", "git"], required=True)
        parser.add_argument("--connection", help="mlflow: only this connection (default: every enabled one).")
        parser.add_argument("--repository", help="git: only this repository (default: every enabled one).")
        parser.add_argument(
            "--mode",
            choices=["full", "incremental"],
            help="Default: incremental when possible. git: full rescans even when the head is unchanged.",
        )

    def handle(self, *args, source, connection, mode, repository=None, **options):
        if source == "git":
            if connection:
                raise CommandError("--connection is for --source mlflow; use --repository NAME.")
            return self._git(repository, mode)
        if repository:
            raise CommandError("--repository is for --source git; use --connection NAME.")
        connections = MlflowConnection.objects.filter(enabled=True).order_by("name")
        if connection:
            connections = MlflowConnection.objects.filter(name=connection)
            if not connections.exists():
                known = ", ".join(MlflowConnection.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"No MLflow connection named {connection!r} (known: {known}).")
        failures = 0
        for conn in connections:
            started = time.monotonic()
            self.stdout.write(f"mlflow:{conn.name} ({conn.tracking_uri})")
            try:
                with acting(source="cli"):
                    run = mlflow_sync_now(connection=conn, mode=mode, triggered_by="cli", on_progress=self._bar)
            except (MlflowError, SyncAlreadyRunning) as exc:
                failures += 1
                self.stdout.write("")
                self.stderr.write(self.style.ERROR(f"  failed: {exc}"))
                continue
            self.stdout.write("")
            self.stdout.write(
                self.style.SUCCESS(f"  sync #{run.pk} {run.status} ({run.mode}) in {time.monotonic() - started:.1f} s")
            )
            for kind, c in run.counts.items():
                self.stdout.write(
                    f"  {kind:<16} created {c['created']:>6}  updated {c['updated']:>6}  "
                    f"unchanged {c['unchanged']:>6}  removed {c['removed']:>6}"
                )
            for warning in run.errors:
                self.stdout.write(self.style.WARNING(f"  {warning['level']}: {warning['message']}"))
        if failures:
            raise CommandError(f"{failures} sync(s) failed")

    def _git(self, name: str | None, mode: str | None) -> None:
        from integrations.git_sync import git_sync_now

        repositories = GitRepository.objects.filter(enabled=True).order_by("name")
        if name:
            repositories = GitRepository.objects.filter(name=name)
            if not repositories.exists():
                known = ", ".join(GitRepository.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"No Git repository named {name!r} (known: {known}).")
        failures = 0
        for repo in repositories:
            started = time.monotonic()
            where = f"{repo.url}@{repo.branch}" + (f" ({repo.subdirectory}/)" if repo.subdirectory else "")
            self.stdout.write(f"git:{repo.name} {where}")
            try:
                with acting(source="cli"):
                    run = git_sync_now(repository=repo, mode=mode, triggered_by="cli", on_progress=self._bar)
            except (GitError, SyncAlreadyRunning) as exc:
                failures += 1
                self.stdout.write("")
                self.stderr.write(self.style.ERROR(f"  failed: {exc}"))
                continue
            self.stdout.write("")
            self.stdout.write(
                self.style.SUCCESS(f"  sync #{run.pk} {run.status} ({run.mode}) in {time.monotonic() - started:.1f} s")
            )
            for kind, c in run.counts.items():
                self.stdout.write(
                    f"  {kind:<16} created {c['created']:>6}  updated {c['updated']:>6}  "
                    f"unchanged {c['unchanged']:>6}  removed {c['removed']:>6}"
                )
            for note in run.errors:
                self.stdout.write(self.style.WARNING(f"  {note['level']}: {note['message']}"))
        if failures:
            raise CommandError(f"{failures} sync(s) failed")

    def _bar(self, phase: str, done: int | None = None, **_) -> None:
        """One line, redrawn in place: a bar over the sync's phases (MLflow and git syncs go through theirs
        in a fixed order), the phase, how many objects it has read so far, and the time since it began."""
        now = time.monotonic()
        if phase != self._phase:
            self._phase, self._phase_started = phase, now
        steps = next((p for p in PHASES if phase in p), (phase,))
        step = steps.index(phase) + 1 if phase in steps else len(steps)
        filled = BAR_WIDTH * step // len(steps)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        count = f"{done:>9,}" if done is not None else " " * 9
        line = f"\r  {phase:<12} [{bar}] {step}/{len(steps)} {count}  {now - self._phase_started:6.1f} s"
        self.stdout.write(line, ending="")
        if hasattr(self.stdout, "flush"):
            self.stdout.flush()
        elif sys.stdout.isatty():
            sys.stdout.flush()
