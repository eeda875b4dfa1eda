"""The DCI list language: ``limit``, ``offset``, ``sort``, ``where`` and ``embed`` (SPEC §4)."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch
from django.utils.datastructures import MultiValueDict
from django.utils.module_loading import import_string

from dciserver.api.exceptions import BadRequest

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Embed:
    """An ``embed`` element: a relation rendered next to its ``<x>_id`` field.

    ``path`` is the ORM path of the relation; to-one relations are joined
    (``select_related``), to-many ones prefetched in one query each, so an embed
    never adds a query per row. Either way the related rows are those the caller
    may read directly (their model's ``for_user``): one they may not is ``null``,
    or left out of a to-many list.
    """

    path: str
    # A serializer class, or its dotted path when importing it here would be circular.
    serializer: object
    many: bool = False
    # The order of a to-many embed's rows.
    order_by: tuple = ("created_at",)


def embedded_model(model, path):
    """The model an embed's ORM ``path`` leads to from ``model``."""
    for name in path.split("__"):
        model = model._meta.get_field(name).related_model
    return model


def readable_rows(model, user):
    """The rows of ``model`` that ``user`` may read directly (none where it declares no scope)."""
    for_user = getattr(model._default_manager, "for_user", None)
    return for_user(user) if for_user is not None else model._default_manager.none()


def _integer(params, name, default):
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(
            f"Invalid {name}: {raw!r} is not an integer", {"errors": {name: ["Not an integer."]}}
        ) from None
    if value < 0:
        raise BadRequest(f"Invalid {name}: {raw!r} is negative", {"errors": {name: ["Must be zero or more."]}})
    return value


def parse_limit_offset(params):
    limit = _integer(params, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
    return min(limit, MAX_LIMIT), _integer(params, "offset", 0)


def parse_sort(raw, sort_fields):
    """``sort=created_at,-status`` → ORM ordering, with the id as the final tie-breaker."""
    keys = [key.strip() for key in (raw or "").split(",") if key.strip()] or ["-created_at"]
    order_by = []
    for key in keys:
        name = key.lstrip("-")
        if name not in sort_fields:
            raise BadRequest(
                f"Invalid sort key: {name!r}",
                {"errors": {"sort": [f"Unknown key {name!r}."]}, "valid_keys": sorted(sort_fields)},
            )
        order_by.append(("-" if key.startswith("-") else "") + sort_fields[name])
    last_descending = order_by[-1].startswith("-")
    order_by.append("-id" if last_descending else "id")
    return order_by


RESERVED_PARAMS = frozenset({"limit", "offset", "sort", "where", "embed", "format", "keys"})


def where_clauses(params, keys):
    """The ``where`` parameter, plus plain ``key=value`` parameters naming a filter key.

    The 2016 client filters some lists that way (``GET /jobdefinitions?topic_id=<id>``);
    other plain parameters are ignored.
    """
    clauses = [params.get("where") or ""]
    clauses += [f"{key}:{value}" for key, value in params.items() if key not in RESERVED_PARAMS and key in keys]
    return ",".join(c for c in clauses if c)


def where_filterset(raw, filterset_class):
    """``where=status:success,remoteci_id:<id>`` → the resource's FilterSet bound to the clauses and
    valid (``None`` where there is none): its ``filter_queryset`` ANDs them.

    Each key is given every value it has, so that a key given twice (``where=name:a,name:b``, or
    ``where`` plus a plain parameter) ANDs both values instead of keeping the last one. The 400
    names the first clause that is wrong.
    """
    keys = filterset_class.base_filters
    data, positions, problem = MultiValueDict(), {}, None
    for position, clause in enumerate(c for c in (raw or "").split(",") if c.strip()):
        key, colon, value = clause.partition(":")
        key = key.strip()
        if not colon:
            problem = BadRequest(
                f'Invalid where key: "{clause}"', {"errors": {"where": [f'Invalid where key: "{clause}"']}}
            )
        elif key not in keys:
            problem = BadRequest(
                f"Invalid where key: {key!r}",
                {"errors": {"where": [f"Unknown key {key!r}."]}, "valid_keys": sorted(keys)},
            )
        if problem is not None:
            break
        data.appendlist(key, value)
        positions.setdefault(key, []).append(position)
    filterset = filterset_class(data) if data else None
    if filterset is not None and not filterset.is_valid():
        # Of the clauses before any malformed one, the first whose value its key refuses.
        errors = filterset.errors.as_data()
        key = min(errors, key=lambda k: positions[k][errors[k][0].params["index"]])
        error = errors[key][0]
        raise BadRequest(
            f"Invalid where value for {key!r}: {error.params['value']!r}",
            {"errors": {"where": [f"{key}: {error.messages[0]}"]}},
        )
    if problem is not None:
        raise problem
    return filterset


def parse_embed(raw, embeds):
    """``embed=remoteci,jobdefinition.topic`` → the embed names, parents before children."""
    names = []
    for name in [n.strip() for n in (raw or "").split(",") if n.strip()]:
        if name not in embeds:
            raise BadRequest(
                f"Invalid embed element: {name!r}",
                {"errors": {"embed": [f"Unknown embed {name!r}."]}, "valid_embeds": sorted(embeds)},
            )
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if prefix in embeds and prefix not in names:
                names.append(prefix)
    return names


def _seen(name):
    """The annotation saying whether the caller may read the row of the to-one embed ``name``."""
    return f"embed_seen_{name.replace('.', '_')}"


def apply_embeds(queryset, names, embeds, user):
    """Join the to-one embeds and prefetch the to-many ones, each read as ``user`` reads its
    model (``for_user``): a constant number of queries. Whether a joined row is readable is a
    column of the page's own statement (``EXISTS``), read by ``render_page_embeds``."""
    joins, seen, prefetches = [], {}, []
    for name in names:
        spec = embeds[name]
        readable = readable_rows(embedded_model(queryset.model, spec.path), user)
        if spec.many:
            prefetches.append(Prefetch(spec.path, queryset=readable.order_by(*spec.order_by)))
        else:
            joins.append(spec.path)
            seen[_seen(name)] = Exists(readable.filter(pk=OuterRef(spec.path)))
    if joins:
        queryset = queryset.select_related(*joins).annotate(**seen)
    if prefetches:
        queryset = queryset.prefetch_related(*prefetches)
    return queryset


def render_embeds(instance, data, names, embeds, context):
    """Place each embedded object next to its ``<x>_id`` field; dotted names nest."""
    render_page_embeds([instance], [data], names, embeds, context)
    return data


def render_page_embeds(instances, rows, names, embeds, context):
    """``render_embeds`` for a whole page (read by ``apply_embeds``): one serializer per embed,
    each related row rendered once. A to-one row the caller may not read renders as ``null``.

    Building a DRF serializer (its fields are deep-copied for every instance) costs more than
    rendering a row, so a serializer per row and per embed dominated a list of 50 jobs; and rows
    of a page share their related rows (a team's jobs share the team, most of their remotecis).
    """
    for name in names:
        spec = embeds[name]
        serializer = import_string(spec.serializer) if isinstance(spec.serializer, str) else spec.serializer
        parts = name.split(".")
        placements = []
        for instance, data in zip(instances, rows, strict=True):
            target = data
            for part in parts[:-1]:
                target = target.get(part)
                if target is None:
                    break
            if target is None:
                continue
            related = instance
            for attr in spec.path.split("__"):
                related = getattr(related, attr, None) if related is not None else None
            if spec.many:
                related = list(related.all()) if related is not None else []
            elif not getattr(instance, _seen(name), False):
                related = None  # not read by apply_embeds, or not readable by the caller
            placements.append((target, related))
        unique = {}
        for _, related in placements:
            for item in related if spec.many else [related]:
                if item is not None:
                    unique.setdefault(item.pk, item)
        rendered = dict(zip(unique, serializer(list(unique.values()), many=True, context=context).data, strict=True))
        for target, related in placements:
            # A copy each, so that a nested embed written into one row's object stays in that row.
            if spec.many:
                target[parts[-1]] = [dict(rendered[item.pk]) for item in related]
            else:
                target[parts[-1]] = dict(rendered[related.pk]) if related is not None else None
