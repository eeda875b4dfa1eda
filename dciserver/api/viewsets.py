"""The one way every DCI resource is served: envelopes, scoping, ETags and the list language."""

import contextlib
import uuid

from django.db import IntegrityError, connections, models, transaction
from django.db.models import Q
from django.template.response import SimpleTemplateResponse
from rest_framework import status, viewsets
from rest_framework.exceptions import APIException, MethodNotAllowed, PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from dciserver import prepared
from dciserver.api import query, query_language
from dciserver.api.authentication import settle_signed_body
from dciserver.api.exceptions import DCIError, NotFound, PreconditionFailed, is_replay
from dciserver.api.reader import Reader
from dciserver.api.wire import wire_of
from dciserver.models import AuditLog, MutableModel, conflicts_as, insert

AUDITED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _is_uuid(value):
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def _pk(model, value):
    """``value`` (a URL's) as ``model``'s primary key (a UUID, or a 64-bit integer), or ``None``
    where it cannot be one."""
    if isinstance(model._meta.pk, models.UUIDField):
        return uuid.UUID(value) if _is_uuid(value) else None
    try:
        pk = int(value)
    except (TypeError, ValueError):
        return None
    return pk if -(1 << 63) <= pk < 1 << 63 else None


def bare_etag(raw):
    """An etag as a client may echo it (``abc``, ``"abc"``, ``W/"abc"``) → ``abc``."""
    raw = raw.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    return raw.strip().strip('"')


def _forget_itself(response):
    """Once rendered, a response no longer needs itself in its renderer context (DRF's)."""
    context = getattr(response, "renderer_context", None)
    if context is not None:
        context.pop("response", None)


def request_etag(request, required=True):
    """The etag a client sends back: ``If-Match`` (real clients) or ``ETag`` (the seed).

    Missing → 412, unless not ``required`` (then ``None``: nothing to check).
    """
    raw = request.headers.get("If-Match") or request.headers.get("ETag")
    if not raw:
        if not required:
            return None
        raise PreconditionFailed("'If-match' header must be provided")
    return bare_etag(raw)


def none_match(request, etag):
    """``If-None-Match`` names ``etag`` (or ``*``): the client's copy is current."""
    raw = request.headers.get("If-None-Match", "")
    return any(sent == "*" or bare_etag(sent) == etag for sent in raw.split(",") if sent.strip())


def _value(model, statement):
    """The one value ``statement`` (``(sql, params)``) reads."""
    with connections[model._default_manager.db].cursor() as cursor:
        prepared.execute(cursor, *statement)
        return int(cursor.fetchone()[0])


def same_value(sent, current):
    """Whether a value a body sends is the one the representation shows (an id in any UUID spelling)."""
    if isinstance(current, uuid.UUID):  # a related id, before rendering
        current = str(current)
    if sent == current:
        return True
    if isinstance(sent, str) and isinstance(current, str):
        try:
            return uuid.UUID(sent) == uuid.UUID(current)
        except ValueError:
            return False
    return False


def unchangeable(status_code, fields, why):
    """The error naming ``fields`` a PUT may not change."""
    names = ", ".join(sorted(fields))
    return DCIError(f"{why}: {names}", {"errors": {name: [f"{why}."] for name in fields}}, status_code)


# An offset PostgreSQL takes (``OFFSET`` is a bigint): past it, a page is empty without asking.
MAX_OFFSET = 2**62


def is_changed(field, serializer, instance):
    """Whether the validated value of writable ``field`` differs from ``instance``'s (a write-only
    value, a password, cannot be compared: it always counts as a change)."""
    source = field.source_attrs[0] if field.source_attrs else field.field_name
    if source not in serializer.validated_data:
        return False  # skipped (the 2016 client's "active": null)
    if field.write_only:
        return True
    value, current = serializer.validated_data[source], getattr(instance, source, None)
    if hasattr(value, "pk") or hasattr(current, "pk"):
        return getattr(value, "pk", value) != getattr(current, "pk", current)
    return value != current


class DCIViewSet(viewsets.GenericViewSet):
    """The base of every resource's viewset.

    Subclasses declare; this class serves. Every action reads through
    ``model.objects.for_user(user)``, so another team's row is simply not found
    (404), and a subclass cannot override ``get_queryset`` to escape it.
    """

    model = None
    singular = None
    plural = None
    sort_fields = ("created_at", "updated_at")
    # The order of a list without ``sort=``.
    default_sort = "-created_at"
    # The resource's ``where`` keys (``dciserver.api.filters.DCIFilterSet``).
    filterset_class = None
    embeds = {}
    # Embeds every representation of the resource carries, asked for or not (a product's topics).
    inline = ()
    # Embeds a read on the modern wire carries too (SPEC §9), and those of a single row.
    modern_inline = ()
    modern_inline_one = ()
    # Embeds read otherwise on the modern wire (a job's ``files``: only those of no jobstate), by name.
    modern_embeds = {}
    lookup_by_name = False
    # DELETE checks an etag whenever one is sent; where real clients send none (the 2016
    # client deletes topics and components without one), it is not required.
    delete_requires_etag = True
    lookup_value_regex = "[^/]+"
    # The actions a caller feeding the catalogue (``feeds_catalogue``: a feeder, SPEC §10) may
    # write; any other write of theirs is refused before anything is looked up.
    feeder_writes = frozenset()
    # ``create`` in a transaction; a resource whose creation is one statement, its audit entry
    # included (atomic on its own), saves the transaction's BEGIN and COMMIT round trips.
    create_is_one_statement = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must not override get_queryset(): scoping lives in for_user().")

    @classmethod
    def add_embed(cls, name, embed, modern_inline=False, modern_inline_one=False, modern=None):
        """Declare an embed from the app of the related rows, where that app depends on this
        resource's and not the reverse (``files`` adds a job's ``files``), whether the modern
        wire inlines it always (``modern_inline``) or in a single row (``modern_inline_one``), and
        how the modern wire reads it where that differs (``modern``, an ``Embed``)."""
        if "embeds" not in cls.__dict__:
            cls.embeds = dict(cls.embeds)  # never the parent's dict
        cls.embeds[name] = embed
        if modern is not None:
            cls.modern_embeds = {**cls.modern_embeds, name: modern}
        if modern_inline:
            cls.modern_inline = (*cls.modern_inline, name)
        if modern_inline_one:
            cls.modern_inline_one = (*cls.modern_inline_one, name)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        feeder = getattr(request.user, "feeds_catalogue", False)
        # (A method the route does not serve is a 405 first.)
        served = self.action is not None and request.method.lower() in self.http_method_names
        if feeder and served and request.method not in SAFE_METHODS and self.action not in self.feeder_writes:
            self.deny("A feeder creates and updates topics and components only.")

    # Reading --------------------------------------------------------------

    def get_queryset(self):
        return self.model.objects.for_user(self.request.user)

    @property
    def is_mutable(self):
        return issubclass(self.model, MutableModel)

    def lookup(self, queryset):
        """``queryset`` narrowed to the row the URL names (by id, or by name where allowed)."""
        value = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        if value is None:
            # A route without an id (``/users/me``) asked for its object, as DRF's OPTIONS does.
            raise NotFound()
        pk = _pk(queryset.model, value)
        if pk is not None:
            return queryset.filter(pk=pk)
        if not self.lookup_by_name:
            raise NotFound()
        return queryset.filter(name=value).order_by("-created_at")

    def get_object(self, queryset=None):
        value = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        if queryset is None and _is_uuid(value):
            # The row by id, scoped, without building a queryset (``get_for_user``).
            instance = self.model.objects.get_for_user(self.request.user, uuid.UUID(value))
        else:
            instance = self.lookup(self.get_queryset() if queryset is None else queryset).first()
        if instance is None:
            raise NotFound()
        self.check_object_permissions(self.request, instance)
        self.audited_object_id = instance.pk
        return instance

    def visible(self, model, value):
        """The row of ``model`` whose id is ``value`` (a URL's), among those the caller may see;
        malformed, unknown or another team's: 404."""
        try:
            pk = uuid.UUID(str(value))
        except ValueError:
            raise NotFound() from None
        row = model.objects.get_for_user(self.request.user, pk)
        if row is None:
            raise NotFound()
        return row

    def reader(self, embeds=()):
        """The reader of this resource's representation with ``embeds`` (``dciserver.api.reader``)
        and those it always carries (``inline``)."""
        names = [*self.inline, *(name for name in embeds if name not in self.inline)]
        return Reader.of(self.serializer_class, self.model, names, self.embed_specs())

    def embed_specs(self):
        """The embeds as this request's wire reads them (``modern_embeds`` over ``embeds``): one
        dict per resource and wire, which readers are cached by."""
        cls = type(self)
        if not cls.modern_embeds or not wire_of(self.request).inline_relations:
            return cls.embeds
        cached = cls.__dict__.get("_modern_specs")
        if cached is None or cached[0] is not cls.embeds or cached[1] is not cls.modern_embeds:
            cached = (cls.embeds, cls.modern_embeds, {**cls.embeds, **cls.modern_embeds})
            cls._modern_specs = cached
        return cached[2]

    def asked_embeds(self, one=False):
        """The embeds a read carries: those ``embed=`` asks for, and on the modern wire the
        resource's related objects (``modern_inline``; ``modern_inline_one`` for one row)."""
        names = query.parse_embed(self.request.query_params.get("embed"), self.embeds)
        if wire_of(self.request).inline_relations:
            modern = [*self.modern_inline, *(self.modern_inline_one if one else ())]
            names = [*modern, *(name for name in names if name not in modern)]
        return names

    def get_sort_fields(self):
        return {name: name for name in self.sort_fields}

    def list(self, request, *args, **kwargs):
        return self.list_response()

    def count_sql(self, where):
        """The count of the caller's whole list under the raw ``where`` clauses, where the resource
        keeps it rather than counting rows (jobs), as ``(sql, params)`` of one value; ``None``
        where the resource counts rows."""
        return None

    def list_response(self, chosen=None, source=None):
        """The list page of the caller's rows, or of those ``chosen`` (a ``Q``: a sub-route's rows),
        narrowed by ``where=`` and ``query=``: the page and its count are one statement, every
        condition compiled into it as the scope is. ``source``: rows computed as they are read
        (``Reader.page``)."""
        params = self.request.query_params
        limit, offset = query.parse_limit_offset(params)
        order_by = query.parse_sort(params.get("sort") or self.default_sort, self.get_sort_fields())
        where = query.where_clauses(params, self.filterset_class.base_filters)
        filterset = query.where_filterset(where, self.filterset_class, wire_of(self.request))
        asked = query_language.parse_query(params.get("query"), self.filterset_class)
        reader = self.reader(self.asked_embeds())
        user, context = self.request.user, self.get_serializer_context()
        condition = Q() if chosen is None else chosen
        if filterset is not None:
            condition &= filterset.condition()
        if asked is not None:
            condition &= asked
        # A kept count is of the whole list under the ``where`` clauses alone.
        kept = self.count_sql(where) if chosen is None and asked is None and source is None else None
        count_sql = kept or reader.count(user, condition, source)
        data, count = [], None
        if offset < MAX_OFFSET:
            data, count = reader.page(user, context, order_by, limit, offset, count_sql, condition, source)
        if count is None:  # a page without rows: the count alone
            count = _value(self.model, count_sql)
        return Response({self.plural: data, "_meta": {"count": count}})

    def retrieve(self, request, *args, **kwargs):
        reader = self.reader(self.asked_embeds(one=True))
        value = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        user, context = request.user, self.get_serializer_context()
        pk = _pk(self.model, value)
        if pk is not None:
            found = reader.one(user, context, pk)
        else:
            ids = self.lookup(self.get_queryset()).values_list("pk", flat=True)[:1]
            found = reader.by_ids(user, context, list(ids))
        if not found:
            raise NotFound()
        data = found[0]
        etag = data.get("etag")
        if etag and none_match(request, etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response({self.singular: data}, headers={"ETag": etag} if etag else {})

    def read(self, pk, serializer_class=None, model=None):
        """The representation of the row ``pk`` as the caller reads it (of this resource, or of
        ``model`` by ``serializer_class``): what a write answers, read as every read is."""
        reader = self.reader() if serializer_class is None else Reader.of(serializer_class, model)
        found = reader.one(self.request.user, self.get_serializer_context(), pk)
        if not found:
            raise NotFound()
        return found[0]

    def one_response(self, instance, status_code=status.HTTP_200_OK, data=None):
        """The answer about ``instance``: its representation (``data``, or read now)."""
        if status_code == status.HTTP_201_CREATED:
            self.audited_object_id = instance.pk
        headers = {"ETag": instance.etag} if getattr(instance, "etag", None) else {}
        data = self.read(instance.pk) if data is None else data
        return Response({self.singular: data}, status=status_code, headers=headers)

    # Writing --------------------------------------------------------------

    def check_create(self, user, data):
        """Raise ``PermissionDenied`` when ``user`` may not create a row from ``data``."""

    def check_update(self, user, instance, data):
        """Raise ``PermissionDenied`` when ``user`` may not write ``data`` to ``instance``."""

    # Fields every write changes: a body's copy of them is what the client last read, and the
    # etag precondition (If-Match), not this field, says whether that is stale.
    bookkeeping_fields = frozenset({"etag", "updated_at"})

    def writable_fields(self, user, instance):
        """The fields ``user`` may change on ``instance`` (representation names), or ``None``: all
        those the update's serializer writes."""
        return None

    def refuse_unchangeable(self, instance, data, serializer, allowed=None):
        """A PUT naming a field with another value than the current one, where the field cannot
        change (400: the update's serializer does not write it) or not by this caller (403: not in
        ``allowed``), is refused naming the field: never silently ignored. The current value passes:
        clients PUT back the whole representation they read. Keys that are no field are ignored.
        """
        writable = {name for name, field in serializer.fields.items() if not field.read_only}
        # Most PUTs name only fields they may write: then the representation's fields are not built.
        others = [key for key in data if key not in writable and key not in self.bookkeeping_fields]
        readable = (
            {name for name, field in self.serializer_class().fields.items() if not field.write_only} if others else ()
        )
        read_only = [key for key in others if key in readable]
        if read_only:
            current = self.read(instance.pk)
            changed = [name for name in read_only if not same_value(data[name], current.get(name))]
            if changed:
                raise unchangeable(400, changed, "This field cannot be changed")
        if allowed is None:
            return
        forbidden = [
            name
            for name in data
            if name in writable and name not in allowed and is_changed(serializer.fields[name], serializer, instance)
        ]
        if forbidden:
            raise unchangeable(403, forbidden, "You may not change this field")

    def check_destroy(self, user, instance):
        """Raise ``PermissionDenied`` when ``user`` may not delete ``instance``."""

    def deny(self, message="You are not allowed to do this."):
        raise PermissionDenied(message)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.check_create(request.user, serializer.validated_data)
        writing = contextlib.nullcontext() if self.create_is_one_statement else transaction.atomic(savepoint=False)
        with conflicts_as(self.singular), writing:
            created = self.perform_create(serializer)
        # A write whose statement also read its answer (``Reader.returning``) gives both.
        instance, data = created if isinstance(created, tuple) else (created, None)
        return self.one_response(instance, status.HTTP_201_CREATED, data)

    def perform_create(self, serializer):
        """The created row, or ``(row, its representation)`` where the write's own statement read
        it (``Reader.returning``): otherwise the answer reads it back."""
        return serializer.save()

    def update(self, request, *args, **kwargs):
        if not self.is_mutable:
            # Immutable rows (jobstates, files) have no etag to check: the route exists, the method does not.
            raise MethodNotAllowed(request.method)
        # Not found (404), then not allowed (403), then the precondition (412): another team's
        # row answers 404 whatever headers come with the request.
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        self.check_update(request.user, instance, serializer.validated_data)
        self.refuse_unchangeable(instance, request.data, serializer, self.writable_fields(request.user, instance))
        etag = request_etag(request)
        with conflicts_as(self.singular), transaction.atomic(savepoint=False):
            fresh = self.perform_update(instance, serializer.validated_data, etag)
        return self.updated_response(instance.pk, fresh)

    def updated_response(self, pk, etag):
        """A successful PUT's answer: the new etag, and on the modern wire the row (SPEC §9)."""
        if wire_of(self.request).put_answers_row:
            return Response({self.singular: self.read(pk)}, headers={"ETag": etag})
        return Response(status=status.HTTP_204_NO_CONTENT, headers={"ETag": etag})

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, **kwargs)

    def perform_update(self, instance, changes, etag):
        return instance.update_with_etag(etag, changes)

    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        self.check_destroy(request.user, instance)
        etag = request_etag(request, required=self.delete_requires_etag) if self.is_mutable else None
        with transaction.atomic(savepoint=False):
            self.perform_destroy(instance, etag)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def perform_destroy(self, instance, etag):
        instance.archive(etag=etag)

    # Audit ------------------------------------------------------------------

    # Actions that keep their own transaction and audit from inside it (uploads: their stored
    # bytes must never outlive a row rolled back by an outer transaction), or whose write and
    # audit entry are one statement (a schedule).
    own_transaction_actions = frozenset()

    def dispatch(self, request, *args, **kwargs):
        response = self._dispatch(request, *args, **kwargs)
        # DRF keeps the response on the view, and the view (then the response itself, once
        # rendered) in the response's renderer context: reference cycles that kept a page's
        # representation in memory until the cyclic collector found it, which then traversed and
        # freed it (the most of its work on a list). Without them, the page is freed once sent.
        self.response = None
        if isinstance(response, SimpleTemplateResponse):
            response.add_post_render_callback(_forget_itself)
        return response

    def _dispatch(self, request, *args, **kwargs):
        """A write and its audit entry are one transaction: a worker killed between the two,
        or a database gone, leaves neither. (The inner blocks of the write run without
        savepoints: an error in them rolls back the whole request, which is what it means.)"""
        action = getattr(self, "action_map", {}).get(request.method.lower())
        one_statement = action == "create" and self.create_is_one_statement
        if request.method in AUDITED_METHODS and action not in self.own_transaction_actions and not one_statement:
            try:
                with transaction.atomic():
                    return super().dispatch(request, *args, **kwargs)
            except IntegrityError as exc:
                # The audit entry, written as the response is finalized, found the write's
                # signature already accepted: the write is rolled back and the replay refused.
                if not is_replay(exc):
                    raise
                return self.finalize_response(self.request, self.handle_exception(exc))
        return super().dispatch(request, *args, **kwargs)

    def audit(self, request, status_code, object_id=None):
        """Record the caller's write (once per request)."""
        if getattr(self, "audited", False):
            return
        self.audited = True
        insert(self.audit_entry(request, status_code, object_id))

    def audit_entry(self, request, status_code, object_id=None):
        """The caller's write as an unsaved audit entry, for a write that records it itself
        (then ``audited`` is set, and ``finalize_response`` records nothing more)."""
        return AuditLog(**self.audit_values(request, status_code, object_id))

    def audit_values(self, request, status_code, object_id=None):
        """The columns of the caller's audit entry but its id and time (``audit_entry``'s row)."""
        user = request.user
        return {
            "user_id": user.pk,
            "user_name": user.name,
            "team_id": user.team_id,
            "action": self.action or request.method.lower(),
            "resource": self.singular or "",
            "object_id": str(object_id or getattr(self, "audited_object_id", "") or ""),
            "method": request.method,
            "path": request.path[:1024],
            "status_code": status_code,
            # A signed write's signature (``request.auth``, SignatureAuthentication): accepted once.
            "signature": request.auth if isinstance(request.auth, str) else None,
        }

    def handle_exception(self, exc):
        # A signed upload that failed before its body was checked: a wrong signature is the answer.
        try:
            settle_signed_body(self.request)
        except APIException as refusal:
            exc = refusal
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        """Every successful write through the API leaves an audit log entry."""
        response = super().finalize_response(request, response, *args, **kwargs)
        user = getattr(request, "user", None)
        if request.method in AUDITED_METHODS and 200 <= response.status_code < 300 and user is not None:
            self.audit(request, response.status_code)
        return response

    # Sub-routes -------------------------------------------------------------

    def sublist(self, viewset_class, default_sort=None, chosen=None, **filters):
        """Serve ``GET /<parent>/<id>/<children>`` with the child resource's list language (and its
        own order where ``default_sort`` is given): the children ``filters`` (or ``chosen``, a
        ``Q``) name."""
        view = viewset_class(request=self.request, format_kwarg=None, action="list", kwargs={}, args=())
        view.headers = {}
        if default_sort is not None:
            view.default_sort = default_sort
        return view.list_response(Q(**filters) if chosen is None else chosen)
