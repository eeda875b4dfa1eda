import uuid

from django.core.management.base import BaseCommand, CommandError

from dciserver.api.exceptions import PreconditionFailed
from jobs.models import Topic
from jobs.scheduling import job_schedule
from teams.models import RemoteCI


class Command(BaseCommand):
    help = "Schedule the next job of a topic for a remoteci (the same service as POST /jobs/schedule)."

    def add_arguments(self, parser):
        parser.add_argument("--remoteci", required=True, help="remoteci id or name")
        parser.add_argument("--topic", required=True, help="topic id or name")

    def handle(self, *args, remoteci, topic, **options):
        found_remoteci = _lookup(RemoteCI, remoteci)
        found_topic = _lookup(Topic, topic)
        try:
            job = job_schedule(remoteci=found_remoteci, topic_id=found_topic.pk, user_agent="manage.py schedule")
        except PreconditionFailed as exc:
            raise CommandError(f"{exc.detail} {exc.payload or ''}".strip()) from None
        self.stdout.write(f"{job.id} {job.status} jobdefinition={job.jobdefinition_id} recheck={job.recheck}")


def _lookup(model, value):
    rows = model.objects.live()
    try:
        row = rows.filter(pk=uuid.UUID(value)).first()
    except ValueError:
        row = rows.filter(name=value).order_by("-created_at").first()
    if row is None:
        raise CommandError(f"{model._meta.verbose_name} {value!r} not found")
    return row
