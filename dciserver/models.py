"""The abstract base models every dciserver table stands on."""

import functools
import uuid

from django.db import connections, models, router
from django.utils import timezone


def new_etag():
    return uuid.uuid4().hex


@functools.cache
def _insert_statement(model):
    fields = model._meta.concrete_fields
    columns = ", ".join(f'"{field.column}"' for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return f'INSERT INTO "{model._meta.db_table}" ({columns}) VALUES ({placeholders})', fields


@functools.cache
def _select_statement(model):
    fields = model._meta.concrete_fields
    columns = ", ".join(f'"{field.column}"' for field in fields)
    pk = model._meta.pk.column
    return f'SELECT {columns} FROM "{model._meta.db_table}" WHERE "{pk}" = %s AND "archived_at" IS NULL', fields


def insert(instance, *also, before=None):
    """Insert ``instance`` as ``save(force_insert=True)`` would store it, in a statement built
    once per model instead of compiled by the ORM for every row (the hottest writes: jobstates,
    audit entries). The rows ``also`` and the ``(sql, params)`` statement ``before`` (an UPDATE)
    run in the same statement, in one round trip.

    For models without save hooks or signals, with every value set in Python (defaults included).
    """
    model = type(instance)
    using = router.db_for_write(model, instance=instance)
    connection = connections[using]
    parts, params = [], []
    if before is not None:
        parts.append(f"touched AS ({before[0]})")
        params += before[1]
    for index, other in enumerate(also):
        sql, values = _insert_parts(other, connection)
        parts.append(f"also_{index} AS ({sql})")
        params += values
    sql, values = _insert_parts(instance, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} {sql}" if parts else sql, [*params, *values])
    for row in (*also, instance):
        row._state.adding = False
        row._state.db = using
    return instance


def _insert_parts(instance, connection):
    sql, fields = _insert_statement(type(instance))
    return sql, [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]


class DCIQuerySet(models.QuerySet):
    """Rows of the API: archived rows are hidden, and every read is scoped by ``for_user``."""

    def live(self):
        return self.filter(archived_at__isnull=True)

    def archived(self):
        return self.filter(archived_at__isnull=False)

    def for_user(self, user):  # pragma: no cover - every concrete queryset defines it
        raise NotImplementedError(f"{self.model.__name__} must define for_user()")

    def get_for_user(self, user, pk):
        """The row ``pk`` if ``user`` may see it, else ``None``: ``for_user(user).filter(pk=pk).first()``.

        Querysets whose scope is a plain condition answer it with ``select_by_pk`` instead.
        """
        return self.for_user(user).filter(pk=pk).first()

    def select_by_pk(self, pk, condition="", params=()):
        """The live row ``pk`` (and ``condition``, SQL on its own columns), as a model instance, or
        ``None``: one statement built once per model instead of a queryset built for each lookup
        (building the queryset cost most of a jobstate's validation)."""
        sql, fields = _select_statement(self.model)
        connection = connections[self.db]
        with connection.cursor() as cursor:
            cursor.execute(f"{sql}{condition}", [pk, *params])
            row = cursor.fetchone()
        if row is None:
            return None
        values = [
            value if value is None or converters is None else converters(value, None, connection)
            for value, converters in zip(row, (getattr(f, "from_db_value", None) for f in fields), strict=True)
        ]
        return self.model.from_db(self.db, [f.attname for f in fields], values)


class BaseModel(models.Model):
    """UUID primary key, creation time, the ``active``/``inactive`` state and archiving.

    DELETE archives (``archived_at`` is set): the row stays for an operator to restore
    from the admin until ``manage.py purge`` removes it after the retention period.
    """

    class State(models.TextChoices):
        ACTIVE = "active"
        INACTIVE = "inactive"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = DCIQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_archived(self):
        return self.archived_at is not None


class MutableModel(BaseModel):
    """A row clients may update: ``updated_at`` and an ``etag`` regenerated on every write."""

    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    etag = models.CharField(max_length=40, default=new_etag, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            self.touch()
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "etag", "updated_at"}
        super().save(*args, **kwargs)

    def touch(self):
        self.etag = new_etag()
        self.updated_at = timezone.now()


class AuditLogQuerySet(models.QuerySet):
    def for_user(self, user):
        """Super admins read every entry; team admins their team's; nobody else any."""
        if user is None:
            return self.none()
        if user.is_super_admin:
            return self.all()
        if user.is_team_admin:
            return self.filter(team_id=user.team_id)
        return self.none()


class AuditLog(models.Model):
    """One write through the API: who, what, which object, when. Append-only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    user = models.ForeignKey("teams.User", null=True, on_delete=models.SET_NULL, related_name="+")
    user_name = models.CharField(max_length=255)
    team = models.ForeignKey("teams.Team", null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64)
    resource = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True, default="")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=1024)
    status_code = models.PositiveSmallIntegerField()

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [
            # GET /audits, newest first.
            models.Index(fields=["-created_at", "-id"], name="audit_created"),
            # GET /audits for a team admin.
            models.Index(fields=["team", "-created_at"], name="audit_team_created"),
        ]

    def __str__(self):
        return f"{self.user_name} {self.action} {self.resource} {self.object_id}"
