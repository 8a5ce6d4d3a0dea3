import re

from django.core.management.base import BaseCommand, CommandError

from mlgov.audit.hashing import GENESIS
from mlgov.audit.selectors import audit_chain_verify_with_head, audit_event_hash_at

_CHECKPOINT = re.compile(r"^(\d+):([0-9a-f]{64})$")


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain. Exits 0 when intact; otherwise names the first bad event. "
        "Prints the head (seq and hash): keep it outside the database and pass it back with --checkpoint, "
        "since deleting the newest events leaves a chain that is otherwise consistent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint",
            metavar="SEQ:HASH",
            help="A head printed by an earlier run: the event at SEQ must still be there with that hash.",
        )

    def handle(self, *args, checkpoint=None, **options):
        expected = None
        if checkpoint is not None:
            match = _CHECKPOINT.match(checkpoint.strip().lower())
            if not match:
                raise CommandError(f"--checkpoint must be SEQ:HASH (a number and 64 hex digits), not {checkpoint!r}")
            expected = (int(match[1]), match[2])
        count, broken, (head_seq, head_hash) = audit_chain_verify_with_head()
        if broken is not None:
            raise CommandError(
                f"audit chain broken at event id={broken.event_id} (seq {broken.seq}): {broken.reason}; "
                f"{count - 1} events before it verified"
            )
        if expected is not None:
            seq, digest = expected
            if seq > head_seq:
                raise CommandError(
                    f"checkpoint seq {seq} is missing: the chain ends at seq {head_seq}, "
                    "so the newest events were deleted"
                )
            found = GENESIS if seq == 0 else audit_event_hash_at(seq)
            if found != digest:
                raise CommandError(f"checkpoint seq {seq}: the event's hash differs from the checkpoint")
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {count} events verified"))
        if expected is not None:
            self.stdout.write(f"checkpoint seq {expected[0]} matches")
        self.stdout.write(f"head: seq={head_seq} hash={head_hash}")
        self.stdout.write(f"keep it outside the database; next time: audit_verify --checkpoint {head_seq}:{head_hash}")
