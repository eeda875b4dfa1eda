"""Serializer pieces shared by every resource."""

import copy
import uuid

from django.db import models
from django.utils import timezone
from rest_framework import serializers

from dciserver.api.parsers import MAX_DEPTH
from dciserver.models import BaseModel


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A related id, resolved among the rows the caller may see.

    Another team's id is as unknown as a made-up one: no existence leak.
    """

    default_error_messages = {
        "does_not_exist": 'Unknown id "{pk_value}".',
        "incorrect_type": "Expected an id (a UUID), got {data_type}.",
        "invalid_uuid": '"{value}" is not a valid UUID.',
    }

    def __init__(self, *, found_by_write=False, **kwargs):
        # ``found_by_write``: the id is checked in form only, and answered unknown by the write
        # that uses it, whose statement finds the row in the caller's scope itself (a jobstate's
        # job): the row read once, by the write, under its lock, instead of before it.
        self.found_by_write = found_by_write
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        return self.queryset.for_user(getattr(request, "user", None))

    def __deepcopy__(self, memo):
        # DRF copies every field of every serializer instance, and deep-copying a queryset
        # clones its whole query. The queryset is only ever a template here (get_queryset
        # derives a new one), so the copies share it (validators are shared, as DRF does).
        kwargs = {
            key: value if key in ("queryset", "validators", "regex") else copy.deepcopy(value, memo)
            for key, value in self._kwargs.items()
        }
        return self.__class__(*self._args, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, uuid.UUID)):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            pk = uuid.UUID(str(data))
        except ValueError:
            self.fail("invalid_uuid", value=str(data)[:64])
        if self.pk_field is not None:
            return super().to_internal_value(data)
        if self.found_by_write:
            return pk
        request = self.context.get("request")
        row = self.queryset.get_for_user(getattr(request, "user", None), pk)
        if row is None:
            self.fail("does_not_exist", pk_value=data)
        return row


class StorableJSONField(serializers.JSONField):
    """A JSON value for a ``jsonb`` column: refuses what PostgreSQL cannot store and absurd nesting.

    PostgreSQL rejects NUL (``\\u0000``) and lone surrogates in ``jsonb``, and a value nested
    thousands deep overflows the encoder on its way to the database: all three would be 500s.
    """

    MAX_DEPTH = MAX_DEPTH
    default_error_messages = {
        "too_deep": f"Nested deeper than {MAX_DEPTH} levels.",
        "unstorable": "Strings may not contain NUL characters or lone surrogates.",
    }

    def to_internal_value(self, data):
        stack = [(data, 1)]  # no recursion: the check itself must not overflow
        while stack:
            value, depth = stack.pop()
            if isinstance(value, (dict, list)):
                if depth > self.MAX_DEPTH:
                    self.fail("too_deep")
                pairs = value.items() if isinstance(value, dict) else ((None, item) for item in value)
                for key, item in pairs:
                    stack.extend([(key, depth), (item, depth + 1)] if key is not None else [(item, depth + 1)])
            elif isinstance(value, str) and not storable_text(value):
                self.fail("unstorable")
        return super().to_internal_value(data)


class JSONObjectField(StorableJSONField):
    """A storable JSON value that must be an object (a remoteci's, a feeder's, a topic's ``data``)."""

    default_error_messages = {"not_an_object": "Expected a JSON object."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_an_object")
        return super().to_internal_value(data)


def storable_text(text):
    """Whether PostgreSQL can store ``text``: no NUL, no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class ActiveField(serializers.BooleanField):
    """The 2016 boolean ``active``, stored as ``state`` (the two are one fact)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("source", "state")
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        # The 2016 client's remoteci update sends ``"active": null`` when it means "unchanged".
        if data is None:
            raise serializers.SkipField()
        return super().validate_empty_values(data)

    def to_representation(self, value):
        return value == BaseModel.State.ACTIVE

    def to_internal_value(self, data):
        return BaseModel.State.ACTIVE if super().to_internal_value(data) else BaseModel.State.INACTIVE


class DCIDateTimeField(serializers.DateTimeField):
    """A timestamp in the server's time zone (UTC), without asking for the active one per value.

    DRF asks ``timezone.get_current_timezone()`` for every timestamp it renders; that reads an
    asgiref ``Local`` which takes a process-wide lock, and in a threaded worker rendering a page of
    jobs the threads queue on it (a fifth of a list's time in the bench profile). dciserver never
    activates another time zone, so the current one is always the default one.
    """

    def default_timezone(self):
        return timezone.get_default_timezone()


class StringField(serializers.CharField):
    """A JSON string, and only a string.

    DRF's ``CharField`` also takes a number (``123`` → ``"123"``), a body the schema calls invalid:
    a name, a comment or a password sent as a number is a client's mistake, answered 400.
    """

    default_error_messages = {"invalid": "Not a valid string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class TagsField(serializers.ListField):
    """A list of tags (``["agent:openshift", "nightly"]``); blank tags are dropped, as the modern
    server drops them."""

    def __init__(self, **kwargs):
        super().__init__(child=StringField(max_length=255, allow_blank=True), **kwargs)

    def to_internal_value(self, data):
        return [tag for tag in super().to_internal_value(data) if tag.strip()]


class DCIModelSerializer(serializers.ModelSerializer):
    """Ids, timestamps and etags are read-only on every resource; names are bounded."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StringField,
        models.TextField: StringField,
        models.DateTimeField: DCIDateTimeField,
    }

    id = serializers.UUIDField(read_only=True)
    created_at = DCIDateTimeField(read_only=True)
    state = serializers.ChoiceField(choices=BaseModel.State.choices, required=False)

    serializer_related_field = ScopedRelatedField

    def get_fields(self):
        # DRF builds a serializer's fields anew for every instance: each model field's from the
        # model's metadata, each declared one deep-copied by re-running its constructor (for a
        # jobstate report, most of its validation's Python). They depend on the class alone (no
        # serializer here builds them from its context), so a class builds them once and each
        # instance binds copies: a copy's binding sets its own name, parent and source only.
        # Fields holding other fields (nested serializers, lists, many-related) bind those
        # children to themselves, so they are copied the DRF way.
        built = _built_once(type(self), "_built_fields", super().get_fields)
        return {name: _copy_field(field) for name, field in built.items()}

    def get_validators(self):
        # The model's unique-together validators, also rebuilt by DRF per instance from the class
        # alone; they keep no state of their own (DRF passes them the serializer), so they are shared.
        return list(_built_once(type(self), "_built_validators", super().get_validators))


def _built_once(cls, name, build):
    """``build()``, kept on ``cls`` itself (not inherited) as ``name``. Two threads may both build
    it the first time: the same value, either kept."""
    built = cls.__dict__.get(name)
    if built is None:
        built = build()
        setattr(cls, name, built)
    return built


def _copy_field(field):
    """An unbound copy of ``field`` for a serializer instance to bind (``get_fields``)."""
    if isinstance(field, (serializers.BaseSerializer, serializers.ManyRelatedField)) or hasattr(field, "child"):
        return copy.deepcopy(field)
    # ``copy.copy``'s result, without its generic protocol (a quarter of the time).
    clone = object.__new__(type(field))
    clone.__dict__.update(field.__dict__)
    return clone
