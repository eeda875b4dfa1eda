from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from dciserver.durations import parse_duration
from jobs import services
from jobs.models import UNFINISHED_STATUSES, Job

BATCH_SIZE = 1000


class Command(BaseCommand):
    help = "Kill unfinished jobs with no heartbeat (jobstate, PUT, file) for --older-than (default 24h)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", default="24h", help="e.g. 90m, 24h, 7d (default 24h)")

    def handle(self, *args, older_than, **options):
        try:
            age = parse_duration(older_than)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        cutoff = timezone.now() - age
        reason = f"killed: no heartbeat for {older_than}"
        killed = 0
        while True:
            # Runners on several machines lock disjoint batches (SKIP LOCKED) and the
            # conditions are re-checked under the lock, so no job is killed twice.
            batch = Job.objects.live().filter(status__in=UNFINISHED_STATUSES, updated_at__lt=cutoff)
            done = services.jobs_kill(jobs=batch[:BATCH_SIZE], reason=reason, skip_locked=True, updated_before=cutoff)
            killed += len(done)
            if not done:
                # Nothing left, or what is left is being expired by another runner.
                break
        self.stdout.write(f"Expired {killed} job(s) with no heartbeat since {cutoff.isoformat()}.")
