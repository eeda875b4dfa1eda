"""The one read path: every representation the API answers, read as its serializer declares it.

``Shape`` derives from a serializer, once, the SQL reading each field and its renderer: a kind whose
representation PostgreSQL writes itself (a UUID's text, a timestamp in DRF's format) is read as
that text (as are JSON and decimals, which their conversion or field reads from text); any other
value is converted as the ORM converts it and rendered by the field's own ``to_representation``
(skipped where the value is its representation). ``Reader`` reads pages, objects and embeds with
one statement it writes from shapes and the models' metadata: the rows with their to-one embeds
(LEFT JOINs), each to-many embed's rows as a JSON array of their values (one correlated subquery
per embed, the same SQL per value as a column: a value reads the same either way, which ``Shape``
checks, ``json_safe``) and the count. Every table in it carries its model's ``readable_sql``
(the model's one scope declaration): a row, listed or embedded, is one its caller could read
directly. A page chosen by more than the caller's scope and the sort (``where=``, a sub-route, a
name) is chosen by its queryset: its ids, then its rows by them. A write answers its row read
back the same way (``DCIViewSet.read``), so each field kind renders one way everywhere.
"""

import json
import re
from functools import partial

import orjson
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import connections, models
from django.utils.functional import SimpleLazyObject
from django.utils.module_loading import import_string
from rest_framework import relations, serializers
from rest_framework.settings import api_settings

from dciserver import prepared
from dciserver.models import condition_sql


def _identity(value):
    return value


# DRF's format of dciserver's timestamps, and the ``to_char`` pattern writing the same text
# (``FM``: the year unpadded, as ``strftime`` writes it).
ISO_MICROSECONDS = "%Y-%m-%dT%H:%M:%S.%f"
TO_CHAR_ISO = """to_char({} AT TIME ZONE '%s', 'FMYYYY-MM-DD"T"HH24:MI:SS.US')"""


def _kind(model_field):
    """The field whose kind of value ``model_field`` holds (a generated column's output field)."""
    return model_field.output_field if isinstance(model_field, models.GeneratedField) else model_field


def _expression(field, model_field):
    """How a statement reads ``field`` from the column of ``model_field``: ``(SQL, renderer)``, the
    SQL's ``{}`` the column, the renderer what turns the value read into its representation.

    A kind whose representation is text PostgreSQL writes itself (a UUID, a timestamp in DRF's
    format) is read as that text: the one way it renders, cheaper than building Python objects
    to format them. Any other field renders its value by its own ``to_representation``, but where
    the value is its representation (text, a boolean, an integer, JSON)."""
    model_field = _kind(model_field)
    kind = type(field).to_representation
    if _text(model_field) and (
        (isinstance(field, relations.PrimaryKeyRelatedField) and field.pk_field is None)
        or (type(field) is serializers.UUIDField and field.uuid_format == "hex_verbose")
    ):
        return "{}::text", _identity
    if kind is serializers.DateTimeField.to_representation and isinstance(model_field, models.DateTimeField):
        zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
        if getattr(field, "format", api_settings.DATETIME_FORMAT) == ISO_MICROSECONDS and hasattr(zone, "key"):
            return TO_CHAR_ISO % zone.key.replace("'", ""), _identity
    same_value = {
        serializers.CharField.to_representation: (models.CharField, models.TextField),
        serializers.BooleanField.to_representation: models.BooleanField,
        serializers.IntegerField.to_representation: models.IntegerField,
    }
    if isinstance(model_field, same_value.get(kind, ())):
        return "{}", _identity
    if (
        kind is serializers.ListField.to_representation
        and isinstance(model_field, ArrayField)
        and isinstance(model_field.base_field, (models.CharField, models.TextField))
        and type(field.child).to_representation is serializers.CharField.to_representation
    ):
        return "{}", _identity  # text[] is read as a list of str
    if kind is serializers.ChoiceField.to_representation and all(isinstance(v, str) for v in field.choices):
        return "{}", _identity
    if isinstance(model_field, models.DecimalField):
        # As text, which the field renders as it renders a Decimal, exactly, column or JSON.
        return "{}::text", field.to_representation
    if isinstance(model_field, models.JSONField):
        # As text, parsed by ``_conversion`` (the text psycopg2 gives Django anyway), column or JSON.
        identity = kind is serializers.JSONField.to_representation and not field.binary
        return "{}::text", _identity if identity else field.to_representation
    return "{}", field.to_representation


def _column(field, model):
    """The model field whose column ``field`` reads, or ``None``: a field computed from the object."""
    if len(field.source_attrs) != 1:
        return None
    try:
        model_field = model._meta.get_field(field.source)
    except FieldDoesNotExist:
        return None
    if not model_field.concrete or model_field.many_to_many:
        return None
    if isinstance(field, relations.RelatedField):
        pk_only = (
            type(field).to_representation is relations.PrimaryKeyRelatedField.to_representation
            and type(field).get_attribute is relations.RelatedField.get_attribute
            and field.pk_field is None
        )
        return model_field if pk_only and model_field.is_relation else None
    if type(field).get_attribute is not serializers.Field.get_attribute:
        return None
    if model_field.is_relation and field.source != model_field.attname:
        return None  # a plain field naming a foreign key reads the related object
    return model_field


_SHAPES = {}
# Statement heads kept per reader (``Reader._from``): one per team reading through it.
_MAX_HEADS = 1024


class Shape:
    """What a serializer reads from a model's rows: for each readable field, the SQL reading it and
    its renderer. A serializer with a field that is no column (a method field, a property) also
    reads every column as it is: that field renders from the model object they make."""

    def __init__(self, serializer_class, model):
        self.serializer_class, self.model = serializer_class, model
        fields = {field.field_name: field for field in serializer_class().fields.values() if not field.write_only}
        columns = {name: _column(field, model) for name, field in fields.items()}
        pk = model._meta.pk
        # The SQL of each value read, on ``{alias}``: the primary key first, as text (an embedded
        # row's id says whether there is one; ids are keys), then one per field reading a column.
        self.selected = [f'{{alias}}."{pk.column}"{_text(pk)}']
        self.plain, self.rendered, self.computed = [], [], []  # (name, position[, renderer])
        # Whether every value is read the same inside JSON (a to-many embed's) as a column.
        self.json_safe = True
        for name, column in columns.items():
            if column is None:
                self.computed.append(name)
                continue
            sql, render = _expression(fields[name], column)
            convert = _conversion(column)
            if convert is not None and not (sql.endswith("::text") and _text(column)):  # a UUID read as text stays text
                render = convert if render is _identity else _composed(render, convert)
            self.json_safe = self.json_safe and _json_safe(sql, column)
            sql = sql.format(f'{{alias}}."{column.column}"')
            if sql in self.selected:
                position = self.selected.index(sql)  # the id, read once
            else:
                position = len(self.selected)
                self.selected.append(sql)
            if render is _identity:
                self.plain.append((name, position))
            else:
                self.rendered.append((name, position, render))
        self.concrete = model._meta.concrete_fields
        self.first_concrete = len(self.selected)
        self.instance_conversions = [_from_text(field) for field in self.concrete]
        if self.computed:
            # Every column as text, converted as its field converts text: the same values whether the
            # row comes as columns or inside a to-many embed's JSON, and made into Python objects
            # only for an object a field reads.
            self.selected += [f'{{alias}}."{field.column}"::text' for field in self.concrete]

    @classmethod
    def of(cls, serializer_class, model):
        shape = _SHAPES.get((serializer_class, model))
        if shape is None:
            shape = _SHAPES[serializer_class, model] = cls(serializer_class, model)
        return shape

    def select(self, alias):
        return [sql.replace("{alias}", alias) for sql in self.selected]

    def renderer(self, start=0):
        """A function rendering the row whose values (in ``selected``'s order) start at ``start``,
        given the serializer whose bound fields render the computed ones."""
        # One dict display per shape, written once: every row of every page goes through it, and
        # a display builds the dict in one step where a loop over the fields fills it one by one.
        # The values that are their representation first, then those rendered, then the computed.
        entries = [f"{name!r}: row[{start + position}]" for name, position in self.plain]
        namespace = {"_computed": self._render_computed, "_first": start + self.first_concrete}
        for index, (name, position, render_value) in enumerate(self.rendered):
            namespace[f"_r{index}"] = render_value
            entries.append(f"{name!r}: None if (v := row[{start + position}]) is None else _r{index}(v)")
        body = f"    data = {{{', '.join(entries)}}}\n"
        if self.computed:
            body += "    _computed(data, row, _first, serializer)\n"
        exec(f"def render(row, serializer=None):\n{body}    return data\n", namespace)
        return namespace["render"]

    def _render_computed(self, data, row, first, serializer):
        """The computed fields of a row whose columns start at ``first``, rendered into ``data``
        by ``serializer``'s bound fields."""
        # The model object is made when a field reads it (a file's content does only where it is
        # inlined).
        instance = SimpleLazyObject(partial(self.instance, row[first : first + len(self.concrete)]))
        for name in self.computed:
            field = serializer.fields[name]
            attribute = field.get_attribute(instance)
            data[name] = None if attribute is None else field.to_representation(attribute)

    def instance(self, values):
        """The model object of a row's columns, as the ORM makes it."""
        converted = [
            value if value is None else convert(value)
            for convert, value in zip(self.instance_conversions, values, strict=True)
        ]
        return self.model.from_db(None, [field.attname for field in self.concrete], converted)


def _text(field):
    """``::text`` where ``field`` holds UUIDs: read as text, the representation of a UUID."""
    return "::text" if isinstance(getattr(field, "target_field", field), models.UUIDField) else ""


# Integers beyond 64 bits: orjson would read them as floats, the standard parser keeps them exact.
_LONG_NUMBER = re.compile(r"\d{19}")


def json_loads(text):
    """``json.loads``, what ``JSONField.from_db_value`` calls, by orjson where it reads the same."""
    if len(text) > 18 and _LONG_NUMBER.search(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _conversion(field):
    """How a value of ``field`` read by the reader becomes the ORM's Python value, or ``None`` where
    it already is: JSON parsed as ``from_db_value`` parses it, a UUID from the text it is read as."""
    if isinstance(field, models.JSONField) and field.decoder is None:
        return json_loads
    if hasattr(field, "from_db_value"):
        return partial(field.from_db_value, expression=None, connection=None)
    return field.to_python if _text(field) else None


def _from_text(field):
    """How the text of a value of ``field`` becomes the ORM's Python value."""
    field = _kind(field)
    if isinstance(field, models.JSONField) and field.decoder is None:
        return json_loads
    return field.to_python


def _json_safe(sql, model_field):
    """Whether the value ``sql`` reads from ``model_field``'s column is the same Python value inside
    JSON (a to-many embed's) as read as a column: text, numbers, booleans, lists of text."""
    model_field = _kind(model_field)
    if sql.endswith("::text") or sql.startswith("to_char("):
        return True
    if isinstance(model_field, ArrayField):
        return isinstance(model_field.base_field, (models.CharField, models.TextField))
    plain = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.FloatField)
    return isinstance(model_field, plain)


def _composed(render, convert):
    return lambda value: render(convert(value))


def _array(keys):
    """``keys`` (text or numbers) as the text of a PostgreSQL array, which the statement casts."""
    return "{" + ",".join(map(str, keys)) + "}"


def _readable(model, user, alias):
    """``model``'s scope for ``user`` on ``alias``: SQL and parameters (none where it declares none)."""
    readable_sql = getattr(model._default_manager, "readable_sql", None)
    return readable_sql(user, alias) if readable_sql is not None else ("FALSE", [])


def _order_sql(model, order_by, alias):
    terms = []
    for key in order_by:
        field = model._meta.get_field(key.lstrip("-"))
        terms.append(f'{alias}."{field.column}" {"DESC" if key.startswith("-") else "ASC"}')
    return f" ORDER BY {', '.join(terms)}" if terms else ""


class _Part:
    """One embed's place in a read: its shape, where it hangs, how it is reached."""

    def __init__(self, name, spec, parent, model):
        self.spec, self.leaf = spec, name.split(".")[-1]
        self.parent = parent  # the part it hangs from (None: the page's row)
        relation = model._meta.get_field(spec.path.split("__")[-1])
        self.relation = relation
        self.model = relation.related_model
        serializer = spec.serializer
        if isinstance(serializer, str):  # named where importing it would be circular
            serializer = import_string(serializer)
        self.shape = Shape.of(serializer, self.model)
        self.many = spec.many
        if self.many != (relation.one_to_many or relation.many_to_many):
            raise ImproperlyConfigured(f"Embed {name!r}: many={spec.many} does not match its relation.")
        if parent is not None and parent.many:
            raise ImproperlyConfigured(f"Embed {name!r}: no embed hangs from a to-many embed.")
        if self.many and parent is not None:
            raise ImproperlyConfigured(f"Embed {name!r}: a to-many embed hangs from the listed row only.")
        if self.many and not self.shape.json_safe:
            raise ImproperlyConfigured(f"Embed {name!r}: a value of its rows would not read the same from JSON.")
        if self.many and len(self.shape.selected) > _MAX_ARGUMENTS:
            raise ImproperlyConfigured(f"Embed {name!r}: more values than json_build_array takes.")


# What a PostgreSQL function takes at most (FUNC_MAX_ARGS): json_build_array's values of a row.
_MAX_ARGUMENTS = 100
_READERS = {}


class Reader:
    """Reads a resource's rows, with the embeds asked for, as their representations."""

    def __init__(self, serializer_class, model, embeds=(), specs=None):
        self.model = model
        self.shape = Shape.of(serializer_class, model)
        # The SQL type of the page's ids, which statements receive as the text of an array (``_array``).
        self.key_type = model._meta.pk.db_type(connections[model._default_manager.db])
        self.parts = []
        by_name = {}
        for name in embeds:
            parent_name = ".".join(name.split(".")[:-1]) or None
            parent = by_name[parent_name] if parent_name else None
            part = by_name[name] = _Part(name, specs[name], parent, parent.model if parent else model)
            self.parts.append(part)
        self.to_one = [part for part in self.parts if not part.many]
        self._heads = {}  # the statement's head by the embeds' scope conditions (``_from``)
        self.to_many = [part for part in self.parts if part.many]
        # Where each to-one embed's columns start in the page's rows, which column holds each to-many
        # embed's rows (as JSON), and how each part renders.
        self.render = self.shape.renderer()
        start = len(self.shape.selected)
        for part in self.to_one:
            part.start, part.render = start, part.shape.renderer(start)
            start += len(part.shape.selected)
        for part in self.to_many:
            part.column, part.render = start, part.shape.renderer(0)
            start += 1

    @classmethod
    def of(cls, serializer_class, model, embeds=(), specs=None):
        """The reader of a serializer with ``embeds`` (names, parents first), built once."""
        key = (serializer_class, model, tuple(embeds), id(specs))
        reader = _READERS.get(key)
        if reader is None:
            reader = _READERS[key] = cls(serializer_class, model, tuple(embeds), specs)
        return reader

    # Statements ---------------------------------------------------------------------------

    def _from(self, user):
        """``SELECT <columns> FROM <table> t0 <joins>``, the parameters of its columns and of its joins:
        the page's row, its to-one embeds joined and its to-many embeds read by one subquery each
        (their rows as a JSON array), every one where the caller may read it. The text depends on
        who reads (``readable_sql`` writes a team's id in it): built once per team and kind of
        caller, and kept for the most recent ``_MAX_HEADS``."""
        scopes = [_readable(part.model, user, f"t{index}") for index, part in enumerate(self.to_one, start=1)]
        many = [self._many_condition(part, user) for part in self.to_many]
        conditions = (tuple(condition for condition, _ in scopes), tuple(condition for condition, _ in many))
        head = self._heads.get(conditions)
        if head is None:
            if len(self._heads) >= _MAX_HEADS:
                self._heads.clear()
            select, joins, aliases = self.shape.select("t0"), [], {None: "t0"}
            for index, (part, condition) in enumerate(zip(self.to_one, conditions[0], strict=True), start=1):
                alias = aliases[part] = f"t{index}"
                relation = part.relation
                joins.append(
                    f'LEFT JOIN "{part.model._meta.db_table}" {alias} '
                    f'ON {alias}."{relation.target_field.column}" = {aliases[part.parent]}."{relation.column}"'
                    + (f" AND {condition}" if condition else "")
                )
                select += part.shape.select(alias)
            select += [self._many_sql(part, cond) for part, cond in zip(self.to_many, conditions[1], strict=True)]
            table = f'"{self.model._meta.db_table}"'
            head = self._heads[conditions] = f"SELECT {', '.join(select)}{{count}} FROM {table} t0 {' '.join(joins)}"
        return head, [p for _, params in many for p in params], [p for _, params in scopes for p in params]

    def _many_condition(self, part, user):
        """Which rows of a to-many embed its caller reads (and the embed chooses): SQL on ``r``."""
        condition, params = _readable(part.model, user, "r")
        if part.spec.where is not None:
            chosen, chosen_params = condition_sql(part.model, part.spec.where, "r")
            condition = " AND ".join(c for c in (condition, chosen) if c)
            params = [*params, *chosen_params]
        return condition, params

    def _many_sql(self, part, condition):
        """The subquery of a to-many embed's rows of the row ``t0``, in order, as a JSON array of
        arrays: each its shape's values, read by the same SQL as a column would read them."""
        model, relation = part.model, part.relation
        pk = model._meta.pk
        if relation.many_to_many:
            through = relation.remote_field.through._meta.db_table
            link = f'm."{relation.m2m_column_name()}"'
            joined = f' JOIN "{through}" m ON m."{relation.m2m_reverse_name()}" = r."{pk.column}"'
        else:
            link, joined = f'r."{relation.field.column}"', ""
        where = f'{link} = t0."{self.model._meta.pk.column}"' + (f" AND {condition}" if condition else "")
        order = _order_sql(model, (*part.spec.order_by, pk.name), "r")
        values = ", ".join(part.shape.select("r"))
        return (
            f"(SELECT coalesce(json_agg(json_build_array({values}){order}), '[]')::text "
            f'FROM "{model._meta.db_table}" r{joined} WHERE {where})'
        )

    def count(self, user, chosen=None, source=None):
        """``(sql, params)`` of how many rows ``user`` may read (among those ``chosen``, a ``Q``;
        of ``source``, see ``page``)."""
        condition, params = self._where(user, chosen, "c")
        where = f" WHERE {condition}" if condition else ""
        table, source_params = self._table(source)
        return f"SELECT COUNT(*) FROM {table} c{where}", [*source_params, *params]

    def _table(self, source):
        """What the rows are read from: the model's table, or ``source``."""
        if source is None:
            return f'"{self.model._meta.db_table}"', []
        return f"({source[0]})", list(source[1])

    def _where(self, user, chosen, alias):
        """The rows ``user`` may read and ``chosen`` (a ``Q``: a list's ``where=``, ``query=``) keeps,
        as SQL on ``alias``."""
        condition, params = _readable(self.model, user, alias)
        if chosen:
            extra, extra_params = condition_sql(self.model, chosen, alias)
            condition = " AND ".join(c for c in (condition, extra) if c)
            params = [*params, *extra_params]
        return condition, params

    def page(self, user, context, order_by, limit, offset, count, chosen=None, source=None):
        """The page of the rows ``user`` may read (among those ``chosen``, a ``Q``), sorted by
        ``order_by``, and ``count`` (``(sql, params)`` of one value, read as a last column of the
        page's rows): ``(rows, count)``. ``source``: ``(sql, params)`` of rows with the model's
        columns, read instead of its table (a comparison computed as it is read), scoped the same."""
        head, select_params, join_params = self._from(user)
        condition, condition_params = self._where(user, chosen, "t0")
        table, source_params = self._table(source)
        if source is not None:
            head = head.replace(f'FROM "{self.model._meta.db_table}" t0 ', f"FROM {table} t0 ", 1)
        sql = (
            head.replace("{count}", f", ({count[0]})")
            + (f" WHERE {condition}" if condition else "")
            + _order_sql(self.model, order_by, "t0")
            # Numbers in the text, not parameters: a statement prepared per page size keeps one
            # generic plan, where PostgreSQL replans one with a parameterized LIMIT on every run.
            + f" LIMIT {int(limit)} OFFSET {int(offset)}"
        )
        rows = self._run(sql, [*select_params, *count[1], *source_params, *join_params, *condition_params])
        total = int(rows[0][-1]) if rows else None
        # The count, a last column, is past every part's columns: rendering never reads it.
        return self._render(rows, user, context), total

    def by_ids(self, user, context, ids):
        """The rows ``ids`` (chosen by a queryset already scoped to ``user``), in that order."""
        if not ids:
            return []
        head, select_params, join_params = self._from(user)
        pk = self.model._meta.pk.column
        sql = f'{head.replace("{count}", "")} WHERE t0."{pk}" = ANY(%s::{self.key_type}[])'
        rows = self._run(sql, [*select_params, *join_params, _array(ids)])
        position = {str(pk_value): index for index, pk_value in enumerate(ids)}
        rows.sort(key=lambda row: position[str(row[0])])
        return self._render(rows, user, context)

    def one(self, user, context, pk):
        """The row ``pk`` if ``user`` may read it, in a list of one, else an empty list."""
        head, select_params, join_params = self._from(user)
        condition, condition_params = _readable(self.model, user, "t0")
        sql = f'{head.replace("{count}", "")} WHERE t0."{self.model._meta.pk.column}" = %s'
        sql += f" AND {condition}" if condition else ""
        return self._render(self._run(sql, [*select_params, *join_params, pk, *condition_params]), user, context)

    def returning(self, alias):
        """The values of this resource's representation read from the row aliased ``alias`` (a
        write's own statement giving back what it wrote), for ``render_returned``."""
        if self.parts:
            raise ImproperlyConfigured("A written row is answered without embeds.")
        return ", ".join(self.shape.select(alias))

    def render_returned(self, values, context):
        """The representation of the values ``returning``'s SQL read."""
        return self._render([values], None, context)[0]

    def _run(self, sql, params):
        with connections[self.model._default_manager.db].cursor() as cursor:
            prepared.execute(cursor, sql, params)
            return cursor.fetchall()

    # Rendering -------------------------------------------------------------------------------

    def _render(self, rows, user, context):
        bound = {}

        def serializer_of(shape):
            # Bound fields, for a shape's computed fields only (built once per read).
            if shape.computed and shape not in bound:
                bound[shape] = shape.serializer_class(context=context)
            return bound.get(shape)

        own = self.shape
        serializer = serializer_of(own)
        many = [(part, serializer_of(part.shape)) for part in self.to_many]
        # A related row met again (a team's jobs share their team) is rendered once.
        seen = {}
        data = []
        for row in rows:
            item = self.render(row, serializer)
            objects = {None: item}
            for part in self.to_one:
                holder, related = objects.get(part.parent), row[part.start]  # its id, first of its columns
                if holder is None or related is None:
                    objects[part] = None
                    if holder is not None:
                        holder[part.leaf] = None
                    continue
                rendered = seen.get((part, related))
                if rendered is None:
                    rendered = seen[part, related] = part.render(row, serializer_of(part.shape))
                holder[part.leaf] = objects[part] = rendered
            data.append(item)
            for part, part_serializer in many:
                children = []
                # orjson at once: the array's numbers are the columns' (64 bits at most), its JSON
                # values text that ``_conversion`` parses.
                for child in orjson.loads(row[part.column]):
                    rendered = seen.get((part, child[0]))
                    if rendered is None:
                        rendered = seen[part, child[0]] = part.render(child, part_serializer)
                    children.append(rendered)
                item[part.leaf] = children
        return data
