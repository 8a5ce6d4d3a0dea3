"""`manage.py score [--project SLUG ...] [--rubric ID]`: score projects now, in the foreground."""

from django.core.management.base import BaseCommand, CommandError

from assessments.choices import ScoringTrigger
from assessments.models import Assessment
from assessments.services import projects_score
from mlgov.context import acting
from mlgov.errors import DomainError
from mlgov.inventory.models import Project


class Command(BaseCommand):
    help = "Score every project (or the ones named) against the maturity rubric and print their levels."

    def add_arguments(self, parser):
        parser.add_argument("--project", action="append", default=[], metavar="SLUG", help="repeat for several")
        parser.add_argument("--rubric", default=None, help="a rubric id (default: MLGOV_RUBRIC)")

    def handle(self, *args, project, rubric, **options):
        ids = None
        if project:
            found = dict(Project.objects.filter(slug__in=project).values_list("slug", "id"))
            missing = sorted(set(project) - set(found))
            if missing:
                raise CommandError(f"Unknown project(s): {', '.join(missing)}")
            ids = list(found.values())
        try:
            with acting(source="cli"):
                run = projects_score(actor="cli", trigger=ScoringTrigger.CLI, project_ids=ids, rubric_id=rubric)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        latest = Assessment.objects.filter(is_latest=True, rubric_id=run.rubric_id).select_related("project")
        if ids is not None:
            latest = latest.filter(project_id__in=ids)
        for a in latest.order_by("project__slug"):
            dims = ", ".join(f"{k} {v}" for k, v in a.dimensions.items())
            moved = "" if a.previous_level in (None, a.level) else f" (was {a.previous_level})"
            self.stdout.write(f"{a.project.slug:<30} level {a.level}{moved}  [{dims}]")
        c, t = run.counts, run.timings
        self.stdout.write(
            self.style.SUCCESS(
                f"Scoring run #{run.pk} ({run.rubric_id}): {c['projects']} projects, {c['snapshots']} new snapshots, "
                f"{c['unchanged']} unchanged, {c['level_changes']} level changes; evidence {t['evidence_s']:.2f} s, "
                f"engine {t['engine_s']:.2f} s, write {t['write_s']:.2f} s."
            )
        )
