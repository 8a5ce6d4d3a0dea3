"""`manage.py rubric_docs [--write | --check]`: print, rewrite or check docs/rubric.md."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from assessments.docs import rubric_markdown
from assessments.rubric import available_rubrics


def docs_path():
    return settings.BASE_DIR / "docs" / "rubric.md"


class Command(BaseCommand):
    help = "Generate docs/rubric.md from the rubric files (print it, --write it, or --check it is current)."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--write", action="store_true")
        group.add_argument("--check", action="store_true")

    def handle(self, *args, write, check, **options):
        text = rubric_markdown(available_rubrics().values())
        path = docs_path()
        if write:
            path.write_text(text)
            self.stdout.write(f"Wrote {path}")
        elif check:
            if not path.exists() or path.read_text() != text:
                raise CommandError(f"{path} is out of date: run `python manage.py rubric_docs --write`.")
            self.stdout.write(f"{path} is current.")
        else:
            self.stdout.write(text, ending="")
