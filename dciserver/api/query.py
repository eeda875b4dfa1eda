"""The DCI list language: ``limit``, ``offset``, ``sort``, ``where`` and ``embed`` (SPEC §4); ``query``
is ``dciserver.api.query_language`` (SPEC §14)."""

from dataclasses import dataclass

from django.utils.datastructures import MultiValueDict

from dciserver.api.exceptions import BadRequest

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Embed:
    """An ``embed`` element: a relation rendered next to its ``<x>_id`` field.

    ``path`` is the ORM path of the relation. ``dciserver.api.reader`` joins to-one relations into
    the page's statement and reads each to-many one by one statement for the whole page; either
    way the related rows are those the caller may read directly (their model's scope): one they
    may not is ``null``, or left out of a to-many list.
    """

    path: str
    # A serializer class, or its dotted path when importing it here would be circular.
    serializer: object
    many: bool = False
    # The order of a to-many embed's rows.
    order_by: tuple = ("created_at",)
    # A to-many embed's rows beside the caller's scope: a ``Q`` on their model, or ``None`` for all.
    where: object = None


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


RESERVED_PARAMS = frozenset({"limit", "offset", "sort", "where", "query", "embed", "format", "keys"})


def where_clauses(params, keys):
    """The ``where`` parameter, plus plain ``key=value`` parameters naming a filter key.

    The 2016 client filters some lists that way (``GET /jobdefinitions?topic_id=<id>``);
    other plain parameters are ignored.
    """
    clauses = [params.get("where") or ""]
    clauses += [f"{key}:{value}" for key, value in params.items() if key not in RESERVED_PARAMS and key in keys]
    return ",".join(c for c in clauses if c)


def where_filterset(raw, filterset_class, wire=None):
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
    if filterset is not None and wire is not None:
        filterset.case_insensitive = wire.where_case_insensitive
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
