"""Reading a resource's representation straight from columns: no model instances, no DRF fields.

Most of a list's cost was objects: a page of 50 jobs with three embeds became 200 model
instances, then 200 dicts through DRF field objects, and the ORM compiled a 40-column join for
every request. When every readable field of a serializer reads one column (the plan
``DCIModelSerializer`` makes for its own fast path), a page is read by one SQL statement whose
select list is built once per resource and embeds, and PostgreSQL itself writes ids and
timestamps as the text the serializer would give; the few other values go through the field's
own ``to_representation``. The ORM still builds what varies per request — the caller's scope,
``where``, ``sort``, ``limit`` and ``offset`` — as the subquery choosing the page's ids.

The output is the serializer's (``dciserver/tests/test_representation.py`` compares the JSON
of both paths for every resource, embed and field kind); a serializer with any other kind of
field (a method field, a custom ``to_representation``) has no plan and keeps DRF's path.
"""

import copy
import json
import re

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from rest_framework import serializers
from rest_framework.settings import api_settings

from dciserver import prepared
from dciserver.api.serializers import ActiveField, DCIDateTimeField, DCIModelSerializer, field_plan
from dciserver.models import BaseModel

# Where the resource's own table goes in the statements (its name, or ``t0`` in a subquery's form).
BASE = "\x00base\x00"
# Where a count's subquery goes in ``read_live_counted``'s statement.
COUNT = "\x00count\x00"


def _scope(index):
    """Where the caller's scope on the ``index``-th embedded model goes, in its LEFT JOIN's ``ON``."""
    return f"\x00scope{index}\x00"


# The DRF format of dciserver's timestamps, and the PostgreSQL ``to_char`` pattern writing the
# same text (``FM``: the year unpadded, as ``strftime`` writes it).
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
SQL_DATETIME = """to_char({} AT TIME ZONE 'UTC', 'FMYYYY-MM-DD"T"HH24:MI:SS.US')"""


# Integers beyond 64 bits: orjson would read them as floats, the standard parser keeps them exact.
_LONG_NUMBER = re.compile(r"\d{19}")


def json_loads(text):
    """``json.loads`` (what ``JSONField.from_db_value`` calls), by orjson where it gives the same."""
    if _LONG_NUMBER.search(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


_SAME_VALUE = {
    (serializers.BooleanField, models.BooleanField),
    (serializers.IntegerField, models.IntegerField),
    (serializers.IntegerField, models.PositiveSmallIntegerField),
    (serializers.IntegerField, models.PositiveIntegerField),
    (serializers.IntegerField, models.SmallIntegerField),
}


_STR = frozenset({str})


def _strings_or(value, convert):
    if type(value) is list and _STR.issuperset(map(type, value)):
        return value
    return convert(value)


def _column(alias, model_field, field, convert):
    """``(SQL expression, convert or None)`` for one readable field read from ``alias``."""
    column = f'{alias}."{model_field.column}"'
    target = model_field.target_field if model_field.is_relation else model_field
    if isinstance(target, models.UUIDField) and (convert is None or convert is str):
        return f"{column}::text", None
    if (
        type(field) is DCIDateTimeField
        and getattr(field, "format", api_settings.DATETIME_FORMAT) == DATETIME_FORMAT
        and isinstance(model_field, models.DateTimeField)
    ):
        return SQL_DATETIME.format(column), None
    if isinstance(model_field, (models.CharField, models.TextField)) and convert in (None, str):
        return column, None
    if isinstance(field, serializers.ChoiceField) and all(isinstance(v, str) for v in field.choices):
        # Text choices render as the stored text.
        return column, None
    if type(field) is ActiveField and isinstance(model_field, models.CharField):
        return f"({column} = '{BaseModel.State.ACTIVE}')", None
    if (type(field), type(model_field)) in _SAME_VALUE:
        # A boolean or an integer renders as the value PostgreSQL gives.
        return column, None
    if isinstance(model_field, models.JSONField) and model_field.decoder is None:
        # The column's text, parsed as the model field would, by a faster parser.
        if type(field).to_representation is serializers.JSONField.to_representation and not field.binary:
            return column, json_loads
        if isinstance(field, serializers.ListField) and type(field.child) is serializers.CharField:
            # A list of strings renders as it is (each item's ``str``); anything else through the field.
            return column, lambda value: _strings_or(json_loads(value), convert)
        return column, lambda value: convert(json_loads(value))
    from_db = getattr(model_field, "from_db_value", None)
    if from_db is None:
        return column, convert
    if convert is None:
        return column, lambda value: from_db(value, None, None)
    return column, lambda value: convert(from_db(value, None, None))


def _plan(serializer_class, model):
    """``[(name, model field, serializer field, convert)]``, or ``None`` when a field is not a column."""
    if not issubclass(serializer_class, DCIModelSerializer) or not issubclass(model, models.Model):
        return None
    if serializer_class.to_representation is not DCIModelSerializer.to_representation:
        return None
    plan = []
    for field in serializer_class()._readable_fields:
        name, attname, convert, _ = field_plan(field, model)
        if attname is None:
            return None
        plan.append((name, model._meta.get_field(field.source), field, convert))
    return plan


_READERS = {}


def page_reader(serializer_class, model, embeds=(), specs=None):
    """The ``PageReader`` of a serializer with ``embeds`` (a tuple of names), built once per
    combination; ``None`` when any part has no plan."""
    key = (serializer_class, model, embeds, id(specs))
    if key not in _READERS:
        _READERS[key] = PageReader.build(serializer_class, model, embeds, specs)
    return _READERS[key]


class PageReader:
    """Reads rows of a resource, with its to-one embeds, as their representations.

    An embedded row is read as its caller may read it directly: its LEFT JOIN carries the
    embedded model's scope (``readable_sql``, from the model's one declaration), so a row the
    caller may not read is no row, and renders as ``null``. A reader is built once per resource
    and embeds (``page_reader``), and bound to a caller (``for_user``) for each request.
    """

    def __init__(self, model, parts, select, joins, scoped=()):
        self.model = model
        # The embedded models and their aliases, whose scopes the bound reader puts in their joins.
        self.scoped = tuple(scoped)
        # The parameters of those scopes, first in every statement's parameters.
        self.join_params = ()
        # The statements bound to each set of scope conditions (``for_user``).
        self._bound = {}
        # (dotted name or None for the row itself, names, slice start, id index, converts)
        self.parts = parts
        table = f'"{model._meta.db_table}"'
        columns, joined = ", ".join(select), " ".join(joins)
        # The page's own query with another select list, where the ORM's query reads the table
        # alone (the usual case: a scope and filters on the resource's columns): one level,
        # planned in a fraction of the time of the other form.
        self.ids_prefix = f'SELECT {table}."{model._meta.pk.column}" AS "pk" FROM {table} '
        self.direct = f"SELECT {columns.replace(BASE, table)} FROM {table} {joined.replace(BASE, table)} "
        # The same with a last column, a scalar subquery: a count read by the page's statement.
        self.direct_counted = (
            f"SELECT {columns.replace(BASE, table)}, ({COUNT}) FROM {table} {joined.replace(BASE, table)} "
        )
        # Otherwise (a scope through a join), the ORM's query chooses the ids.
        self.nested = (
            f"SELECT {columns.replace(BASE, 't0')} FROM {table} t0 {joined.replace(BASE, 't0')} "
            f'WHERE t0."{model._meta.pk.column}" IN '
        )

    @classmethod
    def build(cls, serializer_class, model, embeds=(), specs=None):
        plan = _plan(serializer_class, model)
        if plan is None:
            return None
        select, joins, parts, scoped = [], [], [], []
        aliases = {None: (BASE, model)}
        for name in (None, *embeds):
            if name is None:
                alias, part_model, part_plan = BASE, model, plan
            else:
                spec = specs[name]
                if spec.many or isinstance(spec.serializer, str):
                    return None
                parent = ".".join(name.split(".")[:-1]) or None
                if parent not in aliases:
                    return None  # a nested embed comes after its parent (``parse_embed``'s order)
                parent_alias, parent_model = aliases[parent]
                relation = parent_model._meta.get_field(spec.path.split("__")[-1])
                if not (relation.many_to_one or relation.one_to_one) or not relation.concrete:
                    return None
                part_model = relation.related_model
                part_plan = _plan(spec.serializer, part_model)
                if part_plan is None or "id" not in [n for n, *_ in part_plan]:
                    return None
                alias = f"t{len(aliases)}"
                aliases[name] = (alias, part_model)
                joins.append(
                    f'LEFT JOIN "{part_model._meta.db_table}" {alias} '
                    f'ON {alias}."{relation.target_field.column}" = {parent_alias}."{relation.column}"'
                    f"{_scope(len(scoped))}"
                )
                scoped.append((part_model, alias))
            start = len(select)
            converts = []
            for offset, (_, model_field, field, convert) in enumerate(part_plan):
                expression, convert = _column(alias, model_field, field, convert)
                select.append(expression)
                if convert is not None:
                    converts.append((part_plan[offset][0], start + offset, convert))
            names = tuple(n for n, *_ in part_plan)
            parts.append((name, names, start, start + names.index("id") if name else None, converts))
        return cls(model, parts, select, joins, scoped)

    def for_user(self, user):
        """This reader for ``user``: each embedded row is joined only where ``user`` may read it."""
        if not self.scoped:
            return self
        conditions, params = [], []
        for model, alias in self.scoped:
            readable_sql = getattr(model._default_manager, "readable_sql", None)
            # A model that declares no scope shows its rows to no embed.
            condition, condition_params = readable_sql(user, alias) if readable_sql is not None else ("FALSE", [])
            conditions.append(f" AND {condition}" if condition else "")
            params += condition_params
        conditions = tuple(conditions)
        bound = self._bound.get(conditions)
        if bound is None:
            # Few: one per kind of caller (a super admin, a team's member, a user without a team).
            bound = self._bound[conditions] = copy.copy(self)
            for statement in ("direct", "direct_counted", "nested"):
                text = getattr(self, statement)
                for index, condition in enumerate(conditions):
                    text = text.replace(_scope(index), condition)
                setattr(bound, statement, text)
            bound.scoped, bound._bound = (), {}
        bound = copy.copy(bound)
        bound.join_params = tuple(params)
        return bound

    def order_sql(self, order_by, alias="t0"):
        """``ORDER BY`` for the ORM ordering ``order_by`` (local fields, ``-`` descending)."""
        terms = []
        for key in order_by:
            field = self.model._meta.get_field(key.lstrip("-"))
            terms.append(f'{alias}."{field.column}" {"DESC" if key.startswith("-") else "ASC"}')
        return f" ORDER BY {', '.join(terms)}" if terms else ""

    def live_where(self, condition):
        """``WHERE`` the live rows for which ``condition`` (``scope_sql``'s) holds."""
        return f'WHERE ("{self.model._meta.db_table}"."archived_at" IS NULL{condition})'

    def live_page(self, condition, order_by, limit, offset):
        """``live_where``, ordered by ``order_by`` and sliced: the tail of a page's statement."""
        order = self.order_sql(order_by, f'"{self.model._meta.db_table}"')
        return f"{self.live_where(condition)}{order} LIMIT {int(limit)}" + (f" OFFSET {int(offset)}" if offset else "")

    def count_live(self, db, condition, params):
        """How many live rows ``condition`` holds for: ``read_live``'s ``_meta.count``."""
        sql = f'SELECT COUNT(*) FROM "{self.model._meta.db_table}" {self.live_where(condition)}'
        with connections[db].cursor() as cursor:
            prepared.execute(cursor, sql, params)
            return cursor.fetchone()[0]

    def read_live(self, db, condition, params, order_by, limit, offset=0):
        """The representations of a page of the live rows where ``condition`` holds (SQL on the
        resource's table, as ``scope_sql`` gives it), without building a queryset: the page of
        ``for_user(user).order_by(*order_by)[offset:offset + limit]``, by the statement the ORM
        would have written for it (the tests compare the two for every role, sort and slice)."""
        sql = f"{self.direct}{self.live_page(condition, order_by, limit, offset)}"
        with connections[db].cursor() as cursor:
            prepared.execute(cursor, sql, [*self.join_params, *params])
            return self.render_all(cursor.fetchall())

    def read_live_counted(self, db, condition, params, order_by, limit, offset, count_sql):
        """``read_live`` and the value of ``count_sql`` (``(sql, params)`` of one value, such as a
        kept count), read as a last column of the page's rows: ``(data, count)``, the count
        ``None`` when the page has no row."""
        sql = f"{self.direct_counted.replace(COUNT, count_sql[0])}{self.live_page(condition, order_by, limit, offset)}"
        with connections[db].cursor() as cursor:
            prepared.execute(cursor, sql, [*count_sql[1], *self.join_params, *params])
            rows = cursor.fetchall()
        # The render reads each part's columns by position: the count after them is left alone.
        return self.render_all(rows), (int(rows[0][-1]) if rows else None)

    def read(self, queryset, order_by=()):
        """The representations of the rows ``queryset`` selects (ordered by ``order_by`` and sliced)."""
        ids = queryset.values_list("pk")
        try:
            ids_sql, params = ids.query.get_compiler(using=ids.db).as_sql()
        except EmptyResultSet:
            return []  # ``none()``: a scope that sees nothing (a user without a team)
        rest = ids_sql[len(self.ids_prefix) :]
        if ids_sql.startswith(self.ids_prefix) and rest.startswith(("WHERE ", "ORDER BY ", "LIMIT ")):
            # The ORM's query reads the table alone (no join follows it).
            sql = self.direct + rest
        else:
            sql = f"{self.nested}({ids_sql}){self.order_sql(order_by)}"
        with connections[ids.db].cursor() as cursor:
            prepared.execute(cursor, sql, [*self.join_params, *params])
            return self.render_all(cursor.fetchall())

    def render_all(self, rows):
        # A related row met again on the page (a team's jobs share their team) is rendered once.
        seen = {}
        return [self.render(values, seen) for values in rows]

    def render(self, values, seen=None):
        """One row's representation; ``seen``: the related rows already rendered, by embed and id,
        whose representation is shared (the same values, read by the same statement)."""
        row = None
        for name, names, start, id_index, converts in self.parts:
            if name is None:
                row = target = dict(zip(names, values[start : start + len(names)], strict=True))
            else:
                *parents, leaf = name.split(".")
                parent = row
                for key in parents:
                    parent = parent.get(key) if parent is not None else None
                if parent is None:
                    continue
                related = values[id_index]
                if related is None:
                    # A null foreign key: no related row (a job without a job definition).
                    parent[leaf] = None
                    continue
                if seen is not None:
                    rendered = seen.get((name, related))
                    if rendered is not None:
                        parent[leaf] = rendered
                        continue
                target = parent[leaf] = dict(zip(names, values[start : start + len(names)], strict=True))
                if seen is not None:
                    seen[name, related] = target
            for key, index, convert in converts:
                value = values[index]
                target[key] = None if value is None else convert(value)
        return row
