"""Remove archived rows older than the retention period, and their stored bytes (rows of every app)."""

from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from tqdm import tqdm

from dciserver.durations import parse_duration
from files.models import ComponentFile, File, StoredBytes
from jobs.models import Component, Job, JobDefinition, JobState, Pipeline, Product, Topic
from teams.models import Feeder, RemoteCI, Team, User

BATCH_SIZE = 500

# Children first: a row is removed once nothing that stays references it.
PLAN = [
    ("files", File),
    ("jobstates", JobState),
    ("jobs", Job),
    ("pipelines", Pipeline),
    ("remotecis", RemoteCI),
    ("feeders", Feeder),
    ("jobdefinitions", JobDefinition),
    ("component files", ComponentFile),
    ("components", Component),
    ("topics", Topic),
    ("products", Product),
    ("users", User),
    ("teams", Team),
]


def selection(cutoff):
    """What a run removes, model by model: the rows archived before ``cutoff`` that no row staying
    after the run references through a protecting foreign key (one removed in the same run does
    not keep them).

    Each selection depends only on the rows that stay, never on an earlier step having run, so
    the dry run counts exactly what the real run removes, and the real run's batches see the
    same selection before and after each delete.
    """
    removed = {}
    for label, model in PLAN:
        rows = model._base_manager.filter(archived_at__lt=cutoff)
        for relation in model._meta.related_objects:
            if relation.on_delete in (models.PROTECT, models.RESTRICT):
                referrers = _staying(relation.related_model, removed).filter(**{relation.field.name: OuterRef("pk")})
                rows = rows.exclude(Exists(referrers))
        removed[model] = rows
        yield label, rows


def _staying(model, removed):
    """The rows of ``model`` that outlive the run: those not removed, whether as selected rows of
    their own or by a cascade from a selected row (a job's component links)."""
    rows = model._base_manager.all()
    if model in removed:
        return rows.exclude(Exists(removed[model].filter(pk=OuterRef("pk"))))
    for field in model._meta.concrete_fields:
        if field.is_relation and field.remote_field.on_delete is models.CASCADE and field.related_model in removed:
            rows = rows.exclude(Exists(removed[field.related_model].filter(pk=OuterRef(field.attname))))
    return rows


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
        verb = "Would remove" if dry_run else "Removed"
        for label, queryset in selection(cutoff):
            purge = self.purge_files if issubclass(queryset.model, StoredBytes) else self.purge_rows
            removed = purge(label, queryset)
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
        model = queryset.model
        total, batches = self.batches(label, queryset)
        removed = 0
        for pks in batches:
            names = [f.storage_name for f in model.objects.filter(pk__in=pks).only("id")]
            with transaction.atomic():
                removed += model.objects.filter(pk__in=pks).delete()[1].get(model._meta.label, 0)
            for name in names:
                storage.delete(name)
        return total if self.dry_run else removed
