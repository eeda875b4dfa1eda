"""The one read path: a resource read as its serializer represents it.

A serializer declares a representation; ``Shape`` derives from it, once per serializer and model,
which column each field reads and how its value renders (``renderer``: the one way each field kind
renders, which is also how the serializers themselves render, ``DCIModelSerializer``). ``Reader``
reads pages, objects and embeds with statements it writes from that shape and the models' metadata,
a constant number per page: one for the rows and their to-one embeds (LEFT JOINs), one per to-many
embed keyed by the page's ids. Every table in those statements, the page's own and every embedded
one, carries its model's ``readable_sql``: a row, listed or embedded, is one its caller could read
directly (the model's one scope declaration). Values are converted as the ORM converts them (the
model field's ``from_db_value``) before they render.

A page chosen by anything else than the caller's scope and the sort (``where=``, a sub-route's
filter, a name lookup) is chosen by its queryset: its ids are read, then its rows by those ids.
"""

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import connections, models
from django.utils import timezone
from django.utils.module_loading import import_string
from rest_framework import relations, serializers
from rest_framework.settings import api_settings

from dciserver import prepared


def _identity(value):
    return value


def _datetime_renderer(field):
    output = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if type(field).to_representation is not serializers.DateTimeField.to_representation:
        return field.to_representation
    if not isinstance(output, str) or output.lower() == "iso-8601":
        return field.to_representation
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    if zone is None:
        return field.to_representation
    # What DateTimeField.to_representation does for a timestamp (the database gives aware ones),
    # without asking which time zone for every value.
    return lambda value: timezone.localtime(value, zone).strftime(output)


def renderer(field, model_field):
    """How ``field`` renders the (not null) value of ``model_field``: the value as
    ``field.to_representation`` writes it. Kinds whose representation is the value itself, or its
    text, skip the call."""
    kind = type(field)
    if isinstance(field, relations.PrimaryKeyRelatedField) and field.pk_field is None:
        return str if isinstance(model_field.target_field, models.UUIDField) else _identity
    if kind is serializers.UUIDField and field.uuid_format == "hex_verbose":
        return str
    if isinstance(field, serializers.DateTimeField) and isinstance(model_field, models.DateTimeField):
        return _datetime_renderer(field)
    if kind.to_representation is serializers.CharField.to_representation and isinstance(
        model_field, (models.CharField, models.TextField)
    ):
        return _identity
    if kind.to_representation is serializers.ChoiceField.to_representation and all(
        isinstance(value, str) for value in field.choices
    ):
        return _identity
    if (kind.to_representation, type(model_field)) in _SAME_VALUE:
        return _identity
    if kind.to_representation is serializers.JSONField.to_representation and not field.binary:
        return _identity
    return field.to_representation


_SAME_VALUE = {
    (serializers.BooleanField.to_representation, models.BooleanField),
    (serializers.IntegerField.to_representation, models.IntegerField),
    (serializers.IntegerField.to_representation, models.BigIntegerField),
    (serializers.IntegerField.to_representation, models.SmallIntegerField),
    (serializers.IntegerField.to_representation, models.PositiveIntegerField),
    (serializers.IntegerField.to_representation, models.PositiveSmallIntegerField),
}


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


class Shape:
    """What a serializer reads from a model's rows: for each readable field, its column and renderer.

    A serializer with a field that is no column (a method field, a property) reads every column,
    and that field renders from the model object those columns make."""

    def __init__(self, serializer_class, model):
        self.serializer_class, self.model = serializer_class, model
        fields = [field for field in serializer_class().fields.values() if not field.write_only]
        by_name = {field.field_name: field for field in fields}
        columns = {field.field_name: _column(field, model) for field in fields}
        self.computed = tuple(name for name, column in columns.items() if column is None)
        pk = model._meta.pk
        # The primary key first (an embedded row's id says whether there is one), then the rest.
        needed = model._meta.concrete_fields if self.computed else columns.values()
        self.selected = [pk, *{column: None for column in needed if column is not None and column is not pk}]
        self.attnames = tuple(column.attname for column in self.selected)
        self.concrete = tuple(field.attname for field in model._meta.concrete_fields)
        # (position in the row, the ORM's conversion) of each column that has one.
        self.conversions = tuple(
            (index, column.from_db_value)
            for index, column in enumerate(self.selected)
            if hasattr(column, "from_db_value")
        )
        # (name, attname or None where computed, renderer)
        self.fields = tuple(
            (name, None, None) if column is None else (name, column.attname, renderer(by_name[name], column))
            for name, column in columns.items()
        )

    @classmethod
    def of(cls, serializer_class, model):
        shape = _SHAPES.get((serializer_class, model))
        if shape is None:
            shape = _SHAPES[serializer_class, model] = cls(serializer_class, model)
        return shape

    def select(self, alias):
        return [f'{alias}."{column.column}"' for column in self.selected]

    def values(self, row, connection):
        """A row of this shape's columns as the ORM's Python values, by attname."""
        if self.conversions:
            row = list(row)
            for index, convert in self.conversions:
                if row[index] is not None:
                    row[index] = convert(row[index], None, connection)
        return dict(zip(self.attnames, row, strict=True))

    def render(self, values, serializer=None, instance=None):
        """The representation of a row (``values`` by attname). Computed fields render from
        ``instance`` (made from ``values`` where not given) through ``serializer``'s bound fields."""
        data = {}
        for name, attname, render in self.fields:
            if attname is None:
                if instance is None:
                    instance = self.model.from_db(None, self.concrete, [values[a] for a in self.concrete])
                field = serializer.fields[name]
                attribute = field.get_attribute(instance)
                data[name] = None if attribute is None else field.to_representation(attribute)
            else:
                value = values[attname]
                data[name] = None if value is None else render(value)
        return data

    def represent(self, instance, serializer):
        """The representation of a model object, read by ``serializer`` (its fields bound, its context)."""
        return self.render({attname: getattr(instance, attname) for attname in self.attnames}, serializer, instance)


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
        self.name, self.spec = name, spec
        *self.parents, self.leaf = name.split(".")
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


_READERS = {}


class Reader:
    """Reads a resource's rows, with the embeds asked for, as their representations."""

    def __init__(self, serializer_class, model, embeds=(), specs=None):
        self.model = model
        self.shape = Shape.of(serializer_class, model)
        self.parts = []
        by_name = {}
        for name in embeds:
            parent_name = ".".join(name.split(".")[:-1]) or None
            parent = by_name[parent_name] if parent_name else None
            part = by_name[name] = _Part(name, specs[name], parent, parent.model if parent else model)
            self.parts.append(part)
        self.to_one = [part for part in self.parts if not part.many]
        self.to_many = [part for part in self.parts if part.many]

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
        """``SELECT <columns> FROM <table> t0 <joins>`` and its parameters: the page's row and its
        to-one embeds, each joined where the caller may read it."""
        select, joins, params = self.shape.select("t0"), [], []
        aliases = {None: "t0"}
        for index, part in enumerate(self.to_one, start=1):
            alias = aliases[part] = f"t{index}"
            parent_alias = aliases[part.parent] if part.parent else "t0"
            condition, condition_params = _readable(part.model, user, alias)
            relation = part.relation
            joins.append(
                f'LEFT JOIN "{part.model._meta.db_table}" {alias} '
                f'ON {alias}."{relation.target_field.column}" = {parent_alias}."{relation.column}"'
                + (f" AND {condition}" if condition else "")
            )
            params += condition_params
            select += part.shape.select(alias)
        table = f'"{self.model._meta.db_table}"'
        return f"SELECT {', '.join(select)}{{count}} FROM {table} t0 {' '.join(joins)}", params

    def count(self, user):
        """``(sql, params)`` of how many rows ``user`` may read."""
        condition, params = _readable(self.model, user, "c")
        where = f" WHERE {condition}" if condition else ""
        return f'SELECT COUNT(*) FROM "{self.model._meta.db_table}" c{where}', params

    def page(self, user, context, order_by, limit, offset, count):
        """The page of the rows ``user`` may read, sorted by ``order_by``, and ``count`` (``(sql,
        params)`` of one value, read as a last column of the page's rows): ``(rows, count)``."""
        head, params = self._from(user)
        condition, condition_params = _readable(self.model, user, "t0")
        sql = (
            head.replace("{count}", f", ({count[0]})")
            + (f" WHERE {condition}" if condition else "")
            + _order_sql(self.model, order_by, "t0")
            + " LIMIT %s OFFSET %s"
        )
        rows = self._run(sql, [*count[1], *params, *condition_params, limit, offset])
        total = int(rows[0][-1]) if rows else None
        return self._render([row[:-1] for row in rows], user, context), total

    def by_ids(self, user, context, ids):
        """The rows ``ids`` (chosen by a queryset already scoped to ``user``), in that order."""
        if not ids:
            return []
        head, params = self._from(user)
        pk = self.model._meta.pk.column
        rows = self._run(f'{head.replace("{count}", "")} WHERE t0."{pk}" = ANY(%s)', [*params, list(ids)])
        position = {pk_value: index for index, pk_value in enumerate(ids)}
        rows.sort(key=lambda row: position[row[0]])
        return self._render(rows, user, context)

    def one(self, user, context, pk):
        """The row ``pk`` if ``user`` may read it, in a list of one, else an empty list."""
        head, params = self._from(user)
        condition, condition_params = _readable(self.model, user, "t0")
        sql = f'{head.replace("{count}", "")} WHERE t0."{self.model._meta.pk.column}" = %s'
        sql += f" AND {condition}" if condition else ""
        return self._render(self._run(sql, [*params, pk, *condition_params]), user, context)

    def _run(self, sql, params):
        with connections[self.model._default_manager.db].cursor() as cursor:
            prepared.execute(cursor, sql, params)
            return cursor.fetchall()

    # Rendering -------------------------------------------------------------------------------

    def _render(self, rows, user, context):
        connection = connections[self.model._default_manager.db]
        serializers_ = {}

        def serializer_of(shape):
            # Bound fields, for a shape's computed fields only (built once per read).
            if not shape.computed:
                return None
            if shape not in serializers_:
                serializers_[shape] = shape.serializer_class(context=context)
            return serializers_[shape]

        own = self.shape
        own_serializer = serializer_of(own)
        width = len(own.attnames)
        seen = {}
        data = []
        for row in rows:
            item = own.render(own.values(row[:width], connection), own_serializer)
            objects = {None: item}
            start = width
            for part in self.to_one:
                shape = part.shape
                end = start + len(shape.attnames)
                holder = objects.get(part.parent)
                related = row[start]  # the embedded row's id, first of its columns
                if holder is None:
                    objects[part] = None
                elif related is None:
                    holder[part.leaf] = objects[part] = None
                else:
                    rendered = seen.get((part, related))
                    if rendered is None:
                        rendered = shape.render(shape.values(row[start:end], connection), serializer_of(shape))
                        seen[part, related] = rendered
                    holder[part.leaf] = objects[part] = rendered
                start = end
            data.append(item)
        if self.to_many and data:
            ids = [row[0] for row in rows]
            for part in self.to_many:
                children = self._children(part, user, ids, connection, serializer_of(part.shape))
                for pk, item in zip(ids, data, strict=True):
                    item[part.leaf] = children.get(pk, [])
        return data

    def _children(self, part, user, ids, connection, serializer):
        """The rows of a to-many embed for the page's ``ids``, rendered and grouped by id."""
        shape, relation = part.shape, part.relation
        table = f'"{part.model._meta.db_table}"'
        if relation.many_to_many:
            through = relation.remote_field.through._meta.db_table
            link = f'm."{relation.m2m_column_name()}"'
            joined = f'JOIN "{through}" m ON m."{relation.m2m_reverse_name()}" = r."{part.model._meta.pk.column}"'
        else:
            link, joined = f'r."{relation.field.column}"', ""
        condition, params = _readable(part.model, user, "r")
        sql = (
            f"SELECT {', '.join(shape.select('r'))}, {link} FROM {table} r {joined} WHERE {link} = ANY(%s)"
            + (f" AND {condition}" if condition else "")
            + _order_sql(part.model, (*part.spec.order_by, part.model._meta.pk.name), "r")
        )
        grouped = {}
        for row in self._run(sql, [list(ids), *params]):
            grouped.setdefault(row[-1], []).append(shape.render(shape.values(row[:-1], connection), serializer))
        return grouped
