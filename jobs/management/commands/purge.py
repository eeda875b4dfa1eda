"""Remove archived rows older than the retention period, and their stored bytes."""

from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from tqdm import tqdm

from dciserver.durations import parse_duration
from files.models import File
from jobs.models import Component, Job, JobDefinition, JobState, Topic
from teams.models import RemoteCI, Team, User

BATCH_SIZE = 500


def _unreferenced(queryset, *relations):
    """Rows no other row still points to (PROTECT foreign keys): those are kept for a later run."""
    for model, field in relations:
        queryset = queryset.exclude(Exists(model.objects.filter(**{field: OuterRef("pk")})))
    return queryset


class Command(BaseCommand):
    help = "Delete archived rows (and their stored bytes) archived longer ago than --older-than (default 30d)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", default="30d", help="retention, e.g. 30d, 12w (default 30d)")
        parser.add_argument("--dry-run", action="store_true", help="only report what would be removed")

    def handle(self, *args, older_than, dry_run, **options):
        try:
            cutoff = timezone.now() - parse_duration(older_than)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.dry_run = dry_run
        self.progress = options["verbosity"] >= 1

        def expired(model):
            return model.objects.filter(archived_at__lt=cutoff)

        # Children first: a row is removed once nothing references it any more.
        plan = [
            ("files", self.purge_files, expired(File)),
            ("jobstates", None, _unreferenced(expired(JobState), (File, "jobstate"))),
            (
                "jobs",
                None,
                _unreferenced(expired(Job), (File, "job"), (JobState, "job")),
            ),
            ("remotecis", None, _unreferenced(expired(RemoteCI), (Job, "remoteci"))),
            ("jobdefinitions", None, _unreferenced(expired(JobDefinition), (Job, "jobdefinition"))),
            ("components", None, _unreferenced(expired(Component), (Job.components.through, "component"))),
            (
                "topics",
                None,
                _unreferenced(expired(Topic), (Component, "topic"), (JobDefinition, "topic"), (Job, "topic")),
            ),
            ("users", None, expired(User)),
            (
                "teams",
                None,
                _unreferenced(
                    expired(Team),
                    (User, "team"),
                    (RemoteCI, "team"),
                    (Job, "team"),
                    (JobState, "team"),
                    (File, "team"),
                ),
            ),
        ]
        verb = "Would remove" if dry_run else "Removed"
        for label, purge, queryset in plan:
            removed = (purge or self.purge_rows)(label, queryset)
            self.stdout.write(f"{verb} {removed} archived {label}.")

    def batches(self, label, queryset):
        """Primary keys in batches, with a progress bar on long runs."""
        total = queryset.count()
        if self.dry_run or not total:
            return total, []
        bar = tqdm(total=total, desc=f"purging {label}", unit="row", disable=not self.progress or total < BATCH_SIZE)

        def generate():
            while True:
                pks = list(queryset.values_list("pk", flat=True)[:BATCH_SIZE])
                if not pks:
                    break
                yield pks
                bar.update(len(pks))
            bar.close()

        return total, generate()

    def purge_rows(self, label, queryset):
        total, batches = self.batches(label, queryset)
        removed = 0
        for pks in batches:
            with transaction.atomic():
                removed += queryset.model.objects.filter(pk__in=pks).delete()[1].get(queryset.model._meta.label, 0)
        return total if self.dry_run else removed

    def purge_files(self, label, queryset):
        """Rows first, bytes after the commit: a failure leaves orphaned bytes at worst, never a row without bytes."""
        storage = storages["dcifiles"]
        total, batches = self.batches(label, queryset)
        removed = 0
        for pks in batches:
            names = [f.storage_name for f in File.objects.filter(pk__in=pks).only("id")]
            with transaction.atomic():
                removed += File.objects.filter(pk__in=pks).delete()[1].get(File._meta.label, 0)
            for name in names:
                storage.delete(name)
        return total if self.dry_run else removed
