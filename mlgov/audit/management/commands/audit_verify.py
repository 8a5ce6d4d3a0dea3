from django.core.management.base import BaseCommand, CommandError

from mlgov.audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain. Exits 0 when intact; otherwise names the first bad event."

    def handle(self, *args, **options):
        count, broken = audit_chain_verify()
        if broken is None:
            self.stdout.write(self.style.SUCCESS(f"audit chain intact: {count} events verified"))
            return
        raise CommandError(
            f"audit chain broken at event id={broken.event_id} (seq {broken.seq}): {broken.reason}; "
            f"{count - 1} events before it verified"
        )
