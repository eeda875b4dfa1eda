"""What a list may be filtered on: each resource's keys, declared once as a django-filter ``FilterSet``.

A resource's FilterSet sits beside its viewset and names the columns clients filter on::

    class JobFilter(DCIFilterSet):
        class Meta:
            model = Job
            fields = ["status", "remoteci_id", ...]

``where=key:value`` and the plain ``key=value`` parameters of the 2016 client become its data
(``dciserver.api.query``); its filter names are the valid keys, and each filter says which column a
key reads and how a wire value becomes a condition on it, for ``where=`` and the ``query=`` language.
"""

import copy
import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import BooleanField, Q
from django.utils import timezone
from django_filters import Filter, FilterSet
from django_filters.utils import get_model_field

from dciserver.models import BaseModel

# SPEC §3: every resource has an id, a creation time and a state, and modern clients send
# ``where=state:active`` by default, so these keys exist wherever the model has the column.
COMMON_FIELDS = ("id", "state", "created_at")
# SPEC §4: never a key, whatever a FilterSet declares.
SECRET_FIELDS = frozenset({"password", "api_secret"})
TEXT_FIELDS = frozenset({"CharField", "TextField"})


class EveryValue(forms.Widget):
    """Every value a key is given (``where=name:a,name:b``), not only the last one."""

    def value_from_datadict(self, data, files, name):
        return data.getlist(name)


class ConditionsField(forms.Field):
    """The values given to one key, cleaned into conditions on its column by its filter."""

    widget = EveryValue

    def __init__(self, *, where_filter, **kwargs):
        super().__init__(**kwargs)
        self.where_filter = where_filter

    def to_python(self, values):
        conditions = []
        for index, value in enumerate(values or ()):
            try:
                conditions.append(self.where_filter.condition(value))
            except ValidationError as exc:
                # Which of the key's values it is, for the 400 to name the request's first bad clause.
                raise ValidationError(exc.message, code=exc.code, params={**exc.params, "index": index}) from None
        return conditions


class WhereFilter(Filter):
    """A key of the list language (SPEC §4) reading one column.

    Each value it is given is one condition, and they are ANDed: an equality; a prefix where the
    value ends in ``*`` and the column is text; NULL where the value is empty.
    """

    def __deepcopy__(self, memo):
        # A FilterSet copies its class's filters for every request; a WhereFilter holds nothing a
        # request changes (its model and FilterSet are set again on the copy, and a form copies
        # its fields), so a shallow copy is enough.
        return copy.copy(self)

    @property
    def field(self):
        if not hasattr(self, "_field"):
            self._field = ConditionsField(where_filter=self, required=False)
        return self._field

    @property
    def model_field(self):
        """The column's model field (for a foreign key, the field it points at)."""
        if getattr(self, "_model_field", (None, None))[0] is not self.model:
            field = get_model_field(self.model, self.field_name)
            self._model_field = (self.model, field.target_field if field.is_relation else field)
        return self._model_field[1]

    def column_value(self, value):
        """A wire value as the column stores it."""
        return value

    def typed(self, value):
        """A column value as the model field's Python value: ``ValidationError`` when it is not one
        (its ``params["value"]`` the value read, its message the model field's)."""
        if isinstance(self.model_field, BooleanField):
            # The wire's booleans are JSON's (``where=recheck:true``); Django reads ``True``/``t``/``1``.
            value = {"true": "1", "false": "0"}.get(value.lower(), value)
        try:
            typed = self.model_field.to_python(value)
        except ValidationError as exc:
            raise ValidationError(
                "%(message)s", code="invalid", params={"message": exc.messages[0], "value": value}
            ) from None
        if isinstance(typed, datetime.datetime) and timezone.is_naive(typed):
            # The wire's times carry no zone and are UTC (as the representations show them).
            typed = typed.replace(tzinfo=datetime.UTC)
        return typed

    def condition(self, value):
        """One wire value → ``(lookup, operand)`` on the column."""
        if value == "":
            return "isnull", True
        value = self.column_value(value)
        if value.endswith("*") and self.model_field.get_internal_type() in TEXT_FIELDS:
            return "startswith", value[:-1]
        return "exact", self.typed(value)

    def q(self, conditions, case_insensitive=False):
        """The ``Q`` of ``condition``'s results, ANDed; with ``case_insensitive`` (the modern wire,
        SPEC §9) text compares regardless of case and a ``*`` value is a substring, not a prefix."""
        if case_insensitive and self.model_field.get_internal_type() in TEXT_FIELDS:
            if self.model_field.choices:
                # A column of fixed values (``state``, ``status``): the one a value names regardless
                # of case, compared exactly. UPPER() on the column would hide it from its indexes and
                # statistics (the planner took ``where=state:active`` for a rare value: 40 ms a page).
                fixed = {str(value).lower(): value for value, _ in self.model_field.flatchoices}
                conditions = [
                    (lookup, fixed.get(operand.lower(), operand) if lookup == "exact" else operand)
                    for lookup, operand in conditions
                ]
                modern = {"startswith": "icontains"}
            else:
                modern = {"exact": "iexact", "startswith": "icontains"}
            conditions = [(modern.get(lookup, lookup), operand) for lookup, operand in conditions]
        return Q(*[(f"{self.field_name}__{lookup}", operand) for lookup, operand in conditions])

    def filter(self, qs, value):
        return qs.filter(self.q(value)) if value else qs


class ActiveFilter(WhereFilter):
    """``active:true`` (the 2016 boolean) reads the ``state`` column: one fact (SPEC §3)."""

    def __init__(self, **kwargs):
        super().__init__("state", **kwargs)

    def column_value(self, value):
        truthy = value.strip().lower() in ("1", "true", "yes", "on")
        return BaseModel.State.ACTIVE if truthy else BaseModel.State.INACTIVE


class TagFilter(WhereFilter):
    """``tags:x``: the row's array of tags holds ``x`` (SPEC §9), given twice, both."""

    def __init__(self, **kwargs):
        super().__init__("tags", **kwargs)

    @property
    def model_field(self):
        return super().model_field.base_field

    def condition(self, value):
        if value == "":
            return super().condition(value)
        return "contains", [self.typed(value)]

    def q(self, conditions, case_insensitive=False):
        return Q(*[(f"{self.field_name}__{lookup}", operand) for lookup, operand in conditions])


class DCIFilterSet(FilterSet):
    """The base of every resource's FilterSet.

    ``Meta.fields`` lists the columns by their wire keys (a foreign key by its ``<x>_id``
    attribute, as the wire names it); each becomes a ``WhereFilter``. Only keys that convert
    their value (``active``) are declared as filters. ``id``, ``state`` and ``created_at`` are keys
    of every resource whose model has them.
    """

    def get_form_class(self):
        # The keys the request gives, not every key: the form cleans and copies only those.
        fields = {name: where_filter.field for name, where_filter in self.filters.items() if name in self.data}
        return type(f"{type(self).__name__}Form", (self._meta.form,), fields)

    # How text compares: the seed wire's exact values, or the modern wire's (``where_filterset``).
    case_insensitive = False

    def condition(self):
        """Every key's conditions ANDed, as one ``Q`` on the model (what a list's statement reads)."""
        conditions = self.form.cleaned_data.items()
        insensitive = self.case_insensitive
        return Q(*[self.filters[name].q(value, insensitive) for name, value in conditions if value])

    def filter_queryset(self, queryset):
        return queryset.filter(self.condition())

    @classmethod
    def get_fields(cls):
        columns = {field.name for field in cls._meta.model._meta.get_fields()}
        common = {name: ["exact"] for name in COMMON_FIELDS if name in columns}
        return {**common, **super().get_fields()}

    @classmethod
    def filter_for_field(cls, field, field_name, lookup_expr=None):
        if lookup_expr not in (None, "exact"):
            raise TypeError(f"{cls.__name__}: a where key is an equality, not {field_name}__{lookup_expr}.")
        return WhereFilter(field_name)

    @classmethod
    def get_filters(cls):
        filters = super().get_filters()
        model = cls._meta.model
        for name, where_filter in filters.items():
            if not isinstance(where_filter, WhereFilter):
                raise TypeError(f"{cls.__name__}.{name}: a where key is a WhereFilter.")
            field = get_model_field(model, where_filter.field_name) if model else None
            if model and field is None:
                raise TypeError(f"{cls.__name__}.{name}: {model.__name__} has no {where_filter.field_name!r}.")
            if {name, where_filter.field_name, getattr(field, "name", None)} & SECRET_FIELDS:
                raise TypeError(f"{cls.__name__}.{name}: secrets are never filtered on.")
            # Known before a request binds the FilterSet, for the query language to read.
            where_filter.model = model
        return filters
