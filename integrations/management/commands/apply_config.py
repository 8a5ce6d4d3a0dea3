from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from integrations.config import ConfigError, config_apply, parse_config
from mlgov.context import acting
from mlgov.errors import DomainError


class Command(BaseCommand):
    help = "Apply an organisation config file (YAML): teams, members, users, projects, integrations. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--check", action="store_true", help="Validate only; change nothing.")

    def handle(self, *args, file: Path, check: bool, **options):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc
        try:
            config = parse_config(text)
            if check:
                self.stdout.write(self.style.SUCCESS(f"{file}: valid"))
                return
            with acting(source="cli"):
                changed = config_apply(actor="apply_config", config=config, source_name=str(file))
        except ConfigError as exc:
            problems = "\n".join(f"  - {p}" for p in exc.details.get("problems", []))
            raise CommandError(f"{file}: {exc.message}\n{problems}") from exc
        except DomainError as exc:
            raise CommandError(f"{file}: {exc.message} {exc.details or ''}") from exc
        summary = ", ".join(f"{k} {v}" for k, v in changed.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"{file}: applied ({summary})" if any(changed.values()) else f"{file}: nothing to change"
            )
        )
