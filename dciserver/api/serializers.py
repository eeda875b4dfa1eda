"""Serializer pieces shared by every resource."""

import uuid

from rest_framework import serializers

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

    def get_queryset(self):
        request = self.context.get("request")
        return self.queryset.for_user(getattr(request, "user", None))

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, uuid.UUID)):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            uuid.UUID(str(data))
        except ValueError:
            self.fail("invalid_uuid", value=str(data)[:64])
        return super().to_internal_value(data)


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


def active_filter_value(value):
    """``where=active:true`` reads the ``state`` column."""
    truthy = value.strip().lower() in ("1", "true", "yes", "on")
    return BaseModel.State.ACTIVE if truthy else BaseModel.State.INACTIVE


class DCIModelSerializer(serializers.ModelSerializer):
    """Ids, timestamps and etags are read-only on every resource; names are bounded."""

    id = serializers.UUIDField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    state = serializers.ChoiceField(choices=BaseModel.State.choices, required=False)

    serializer_related_field = ScopedRelatedField
