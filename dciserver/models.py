"""The abstract base models every dciserver table stands on."""

import contextlib
import functools
import uuid

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Q
from django.utils import timezone

from dciserver import prepared
from dciserver.api.exceptions import REPLAY_CONSTRAINT, Conflict, NotFound, PreconditionFailed, is_replay

UNIQUE_VIOLATION = "23505"


def new_etag():
    return uuid.uuid4().hex


@functools.cache
def _insert_statement(model):
    fields = model._meta.concrete_fields
    columns = ", ".join(f'"{field.column}"' for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return f'INSERT INTO "{model._meta.db_table}" ({columns}) VALUES ({placeholders})', fields


@functools.cache
def _select_statement(model, related=None):
    """``SELECT`` of a live row by primary key, with the row of the foreign key ``related`` joined."""
    table = model._meta.db_table
    fields = model._meta.concrete_fields
    columns = [f'"{table}"."{field.column}"' for field in fields]
    join, related_fields = "", ()
    if related is not None:
        foreign_key = model._meta.get_field(related)
        other = foreign_key.related_model
        related_fields = other._meta.concrete_fields
        columns += [f'r."{field.column}"' for field in related_fields]
        join = (
            f' LEFT JOIN "{other._meta.db_table}" r '
            f'ON r."{foreign_key.target_field.column}" = "{table}"."{foreign_key.column}"'
        )
    where = f'"{table}"."{model._meta.pk.column}" = %s AND "{table}"."archived_at" IS NULL'
    return f'SELECT {", ".join(columns)} FROM "{table}"{join} WHERE {where}', fields, related_fields


def from_db_row(model, fields, row, connection, using):
    """The instance of ``model`` whose ``fields`` a statement read as ``row``, each value converted as a
    queryset converts it (JSON parsed...)."""
    values = [
        value if value is None or convert is None else convert(value, None, connection)
        for value, convert in zip(row, (getattr(f, "from_db_value", None) for f in fields), strict=True)
    ]
    return model.from_db(using, [f.attname for f in fields], values)


def insert(instance):
    """Insert ``instance`` as ``save(force_insert=True)`` would store it, by a statement built once
    per model instead of compiled by the ORM for every row (the hottest write of all requests:
    audit entries).

    For models without save hooks or signals, with every value set in Python (defaults included).
    """
    model = type(instance)
    using = router.db_for_write(model, instance=instance)
    connection = connections[using]
    sql, values = _insert_parts(instance, connection)
    with connection.cursor() as cursor:
        prepared.execute(cursor, sql, values)
    instance._state.adding = False
    instance._state.db = using
    return instance


def _insert_parts(instance, connection):
    sql, fields = _insert_statement(type(instance))
    return sql, [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]


@contextlib.contextmanager
def conflicts_as(resource):
    """A unique constraint violated by a write → ``Conflict`` (422 ``conflict on <resource>``)."""
    try:
        yield
    except IntegrityError as exc:
        cause = exc.__cause__
        if getattr(cause, "pgcode", None) != UNIQUE_VIOLATION or is_replay(exc):
            raise
        constraint = getattr(getattr(cause, "diag", None), "constraint_name", "") or ""
        field = "name" if "name" in constraint else constraint
        raise Conflict(resource, field) from None


def _lifetime_children(model):
    """The reverse foreign keys of ``model`` whose rows share its lifetime: ``(child model, field name)``
    for each child model that names the foreign key in its ``archived_with``."""
    return [
        (relation.related_model, relation.field.name)
        for relation in model._meta.related_objects
        if not relation.many_to_many and relation.field.name in getattr(relation.related_model, "archived_with", ())
    ]


def _archive_children(model, parents, now):
    """Archive the live rows archived with ``parents`` (a queryset of ``model``), and theirs, at ``now``."""
    for child, field in _lifetime_children(model):
        children = child._base_manager.filter(**{f"{field}__in": parents})
        children.filter(archived_at__isnull=True).update(archived_at=now)
        _archive_children(child, children.filter(archived_at=now), now)


def _restored(model):
    """The columns of a row brought back: no longer archived, and a mutable row at a new version
    (an etag read before the archive must not write the restored row)."""
    if any(field.name == "etag" for field in model._meta.concrete_fields):
        return {"archived_at": None, "etag": new_etag(), "updated_at": timezone.now()}
    return {"archived_at": None}


def _restore(model, rows, archived_at):
    """Restore ``rows`` (a queryset of ``model``) and the rows archived with them (at ``archived_at``).

    A unique name taken meanwhile by a live row: ``Conflict`` naming the model of the row restored.
    """
    for child, field in _lifetime_children(model):
        # Children first: once restored, their parents no longer carry the instant.
        _restore(child, child._base_manager.filter(**{f"{field}__in": rows}, archived_at=archived_at), archived_at)
    changes = _restored(model)
    with conflicts_as(model._meta.verbose_name):
        rows.update(**changes)
    return changes


def team_members(user, path):
    """The rows whose ``path`` is ``user``'s team (none for a user without a team): what most
    models declare as their scope (``visible_to``)."""
    return None if user.team_id is None else Q(**{path: user.team_id})


def through(model, relation, user, few=False):
    """A scope read from another model's: ``model``'s rows are read by whoever may read the row its
    ``relation`` points to (a component by whoever reads its topic, a live topic). ``few``: a
    caller reaches few rows there (a team's topics), read once per statement into an array
    (``any_of``); otherwise PostgreSQL chooses how to join them."""
    target = model._meta.get_field(relation).related_model
    declared = getattr(target, "visible_to", None)
    scope = None if declared is None else declared(user)
    if scope is None:
        return None
    rows = _readable_rows(target, target._default_manager.get_queryset().readable & scope)
    return Q(**{f"{relation}__{'any_of' if few else 'in'}": rows})


@models.ForeignKey.register_lookup
class AnyOf(models.Lookup):
    """``<key> = ANY(ARRAY(<subquery>))``: the subquery is run once per statement. Its ``IN`` form
    is joined into the statement, and where the check sits in an embed's ``LEFT JOIN`` PostgreSQL
    ran that join again for every row checked (a page's 50 job definitions each rebuilt the hash
    of their topics' subscriptions). For few rows only: each check scans the array."""

    lookup_name = "any_of"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY(ARRAY{rhs})", [*lhs_params, *rhs_params]


def _readable_rows(model, condition):
    """The ids of ``model``'s rows meeting ``condition``, as a subquery: the same object for the same
    condition, so that a scope holding it is compiled once (``_condition_sql``'s cache).

    A subquery rather than a join: PostgreSQL reads the few rows a caller reaches (a team's topics)
    once per statement, where the join was evaluated again for each row checked (each component
    of a page's 50 jobs). The query is never run by itself, only compiled into others'."""
    key = (model, _key(condition))
    rows = _READABLE_ROWS.get(key)
    if rows is None:
        if len(_READABLE_ROWS) >= _MAX_CONDITIONS:
            _READABLE_ROWS.clear()
        rows = _READABLE_ROWS[key] = model._base_manager.filter(condition).values("pk")
    return rows


_READABLE_ROWS = {}


def _key(condition):
    """What makes a ``Q`` the condition it is, hashable where its values are (cheaper than ``Q``'s own hash)."""
    return (
        condition.connector,
        condition.negated,
        *(_key(child) if isinstance(child, Q) else child for child in condition.children),
    )


# Compiled conditions, by model, alias, database and condition: a caller's scope is compiled once.
_CONDITIONS = {}
_MAX_CONDITIONS = 4096


def _condition_sql(model, readable, scope, alias, using, literal=False):
    """``readable & scope`` (``Q``s on ``model``) as SQL on the table aliased ``alias`` (by its name
    where ``None``): ``(sql, params, joined)``. A condition that needs joins (``joined``) is written
    as the subquery of the rows meeting it (``<alias>.pk IN (...)``); one every row meets as ``""``.
    ``literal``: its values written in the SQL, no parameters."""
    try:
        key = (model, alias, using, _key(readable), _key(scope), literal)
        compiled = _CONDITIONS.get(key)
    except TypeError:  # a value that can't be hashed: compiled each time
        return _compile(model, readable & scope, alias, using, literal)
    if compiled is None:
        if len(_CONDITIONS) >= _MAX_CONDITIONS:
            _CONDITIONS.clear()
        compiled = _CONDITIONS[key] = _compile(model, readable & scope, alias, using, literal)
    return compiled


def condition_sql(model, condition, alias=None):
    """``condition`` (a ``Q`` on ``model``) as SQL on the table aliased ``alias``: ``(sql, params)``,
    compiled once (``""`` where every row meets it)."""
    sql, params, _ = _condition_sql(model, condition, Q(), alias, model._default_manager.db)
    return sql, list(params)


def _compile(model, condition, alias, using, literal=False):
    """``_condition_sql``'s answer, compiled by the ORM."""
    table = model._meta.db_table
    query = model._base_manager.filter(condition).query
    try:
        if any(query.alias_refcount[joined] for joined in list(query.alias_map)[1:]):
            inner = model._base_manager.filter(condition).values("pk").query
            sql, params = inner.get_compiler(using=using).as_sql()
            qualified = f'{connections[using].ops.quote_name(alias or table)}."{model._meta.pk.column}"'
            sql, params, joined = f"{qualified} IN ({sql})", tuple(params), True
        else:
            where = query.where if alias is None else query.where.relabeled_clone({table: alias})
            sql, params = query.get_compiler(using=using).compile(where)
            sql, params, joined = sql, tuple(params), False
    except EmptyResultSet:
        return "FALSE", (), False
    except FullResultSet:
        return "", (), False
    if literal and params:
        # Quoted by the driver, once per condition; ``%`` doubled, as the text is a statement's
        # whose parameters follow.
        sql, params = connections[using].ops.compose_sql(sql, params).replace("%", "%%"), ()
    return sql, params, joined


class ScopedQuerySet(models.QuerySet):
    """Rows read on someone's behalf: who may read them is declared once, by the model.

    A model declares ``visible_to(user)`` (a classmethod): the ``Q`` its rows meet to be read by
    ``user``, an authenticated user who is not a super admin, or ``None`` for no row. Super admins
    read every row, anonymous callers none, and a model that declares nothing shows its rows to
    super admins only (it fails closed). Every read on a caller's behalf derives from that one
    declaration: ``for_user`` (querysets, serializers' related fields, embeds read by the ORM) and
    ``readable_sql`` (the same rows as an SQL condition: statements dciserver writes itself, the
    LEFT JOINs of embeds read from columns).
    """

    # The condition of every row anyone may read at all (``DCIQuerySet``: the live ones).
    readable = Q()

    def scope(self, user):
        """The ``Q`` of the rows ``user`` may read beside ``readable``, or ``None`` for none."""
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        if user.is_super_admin:
            return Q()
        declared = getattr(self.model, "visible_to", None)
        return None if declared is None else declared(user)

    def for_user(self, user):
        """The rows ``user`` may read: another team's row is simply not among them."""
        scope = self.scope(user)
        return self.none() if scope is None else self.filter(self.readable & scope)

    def readable_sql(self, user, alias=None):
        """``for_user(user)`` as one SQL condition on the table aliased ``alias`` (by its name where
        ``None``): ``(sql, params)``, ``sql`` empty where every row is readable.

        Who reads is written in the text (a team's id as a literal; ``params`` is empty): each
        caller's statement is then prepared with the values PostgreSQL plans it for, and keeps that
        plan. With the team as a parameter, PostgreSQL weighs a generic plan against planning anew
        on each run, and for a team of more than the average number of jobs it planned every run
        (docs/performance.md)."""
        scope = self.scope(user)
        if scope is None:
            return "FALSE", []
        sql, params, _ = _condition_sql(self.model, self.readable, scope, alias, self.db, literal=True)
        return sql, list(params)


class DCIQuerySet(ScopedQuerySet):
    """Rows of the API: archived rows are hidden, and every read is scoped by ``for_user``."""

    readable = Q(archived_at__isnull=True)

    def live(self):
        return self.filter(archived_at__isnull=True)

    def archived(self):
        return self.filter(archived_at__isnull=False)

    def get_for_user(self, user, pk):
        """The row ``pk`` if ``user`` may see it, else ``None``: ``for_user(user).filter(pk=pk).first()``,
        by ``select_by_pk`` (the queryset's own filters, where it has any, by the ORM)."""
        if self.query.where:
            return self.for_user(user).filter(pk=pk).first()
        condition, params = self.readable_sql(user)
        return self.select_by_pk(pk, f" AND {condition}" if condition else "", params)

    def select_by_pk(self, pk, condition="", params=(), related=None):
        """The live row ``pk`` (and ``condition``, SQL on its own table), as a model instance, or
        ``None``: one statement built once per model instead of a queryset built for each lookup
        (building the queryset cost most of a jobstate's validation). ``related``: a foreign key
        whose row is joined and cached on the instance, as ``select_related`` does."""
        sql, fields, related_fields = _select_statement(self.model, related)
        connection = connections[self.db]
        with connection.cursor() as cursor:
            prepared.execute(cursor, f"{sql}{condition}", [pk, *params])
            row = cursor.fetchone()
        if row is None:
            return None
        instance = from_db_row(self.model, fields, row[: len(fields)], connection, self.db)
        if related is not None:
            foreign_key = self.model._meta.get_field(related)
            rest = row[len(fields) :]
            other = None
            if rest[[f.attname for f in related_fields].index(foreign_key.target_field.attname)] is not None:
                other = from_db_row(foreign_key.related_model, related_fields, rest, connection, self.db)
            foreign_key.set_cached_value(instance, other)
        return instance


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

    # The foreign keys whose row this one lives and dies with: archiving that row archives this
    # one, restoring it restores this one (declared by the child, so a parent need not know them).
    archived_with = ()

    def archive(self, *, etag=None):
        """DELETE: hide the row, and the rows archived with it (``archived_with``), from the API.

        They stay in the database until purged. With ``etag`` (a mutable row), the check and the
        write are one conditional UPDATE: a stale etag is 412. A row already archived is 404.
        """
        model = type(self)
        rows = model._base_manager.filter(pk=self.pk, archived_at__isnull=True)
        now = timezone.now()
        changes = {"archived_at": now}
        if etag is not None:
            rows = rows.filter(etag=etag)
            changes["etag"] = new_etag()
        with transaction.atomic(savepoint=False):
            archived = rows.update(**changes) == 1
            if archived:
                _archive_children(model, model._base_manager.filter(pk=self.pk), now)
        # Raised outside the block: nothing was written, and the caller's transaction stays usable.
        if not archived:
            raise PreconditionFailed("etag mismatch") if etag is not None else NotFound()
        for name, value in changes.items():
            setattr(self, name, value)

    def restore(self):
        """Bring an archived row back, with the rows archived with it (those archived at the same
        instant, not those archived before on their own). A unique name taken meanwhile by a live
        row is a ``Conflict``, and nothing is restored. Returns whether the row was archived."""
        model = type(self)
        archived_at = model._base_manager.filter(pk=self.pk).values_list("archived_at", flat=True).first()
        if archived_at is None:
            return False
        with transaction.atomic():
            changes = _restore(model, model._base_manager.filter(pk=self.pk, archived_at=archived_at), archived_at)
        for name, value in changes.items():
            setattr(self, name, value)
        return True


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

    def update_with_etag(self, etag, changes):
        """Write ``changes`` if and only if the live row still carries ``etag``; return the new etag.

        The check and the write are one conditional UPDATE, so of N concurrent writers
        holding the same etag exactly one wins and the others get 412.
        """
        fresh = new_etag()
        rows = (
            type(self)
            ._base_manager.filter(pk=self.pk, etag=etag, archived_at__isnull=True)
            .update(**changes, etag=fresh, updated_at=timezone.now())
        )
        if rows != 1:
            raise PreconditionFailed("etag mismatch")
        for name, value in changes.items():
            setattr(self, name, value)
        self.etag = fresh
        return fresh


class AuditLog(models.Model):
    """One write through the API: who, what, which object, when. Append-only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    user = models.ForeignKey("teams.User", null=True, on_delete=models.SET_NULL, related_name="+")
    user_name = models.CharField(max_length=255)
    team = models.ForeignKey(
        "teams.Team", null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )  # audit_team_created leads with it
    action = models.CharField(max_length=64)
    resource = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True, default="")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=1024)
    status_code = models.PositiveSmallIntegerField()
    # The HMAC signature of a signed write (SPEC §10): unique, so a signed write is accepted once
    # on every app server, atomically with the write it audits (a write rolled back leaves its
    # signature usable, as clients retry with the same signed headers).
    signature = models.CharField(max_length=64, null=True, blank=True, editable=False)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [
            # GET /audits, newest first.
            models.Index(fields=["-created_at", "-id"], name="audit_created"),
            # GET /audits for a team admin.
            models.Index(fields=["team", "-created_at"], name="audit_team_created"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["signature"], condition=Q(signature__isnull=False), name=REPLAY_CONSTRAINT),
        ]

    def __str__(self):
        return f"{self.user_name} {self.action} {self.resource} {self.object_id}"

    @classmethod
    def visible_to(cls, user):
        """A team admin reads their team's entries (super admins read every one)."""
        return team_members(user, "team") if user.is_team_admin else None
