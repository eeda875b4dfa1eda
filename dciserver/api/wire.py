"""The two wires (SPEC §9): the answers that differ between the seed's server and the modern one.

A request is on the modern wire when it is signed (an agent's HMAC), when its ``Client-Version``
names ``python-dciclient_<version>`` of major version 1 or more (4.x; the 2016 client sends
``python-dciclient_0.1a10``), or when it names no dciclient and ``DCI_DEFAULT_WIRE`` is
``modern``. Every other request is on the seed wire. ``wire_of`` decides once per request; each
difference is one attribute of ``Wire``, read where the answer is made.
"""

import re
from dataclasses import dataclass

from django.conf import settings

# The schemes of dciauth's signatures: DCI2 is what dciclient 4.x sends; the others parse alike.
SIGNATURE_SCHEMES = frozenset({"DCI2-HMAC-SHA256", "DCI-HMAC-SHA256", "AWS4-HMAC-SHA256"})
_DCICLIENT = re.compile(r"python-dciclient_(\d+)")


@dataclass(frozen=True)
class Wire:
    name: str
    # A successful PUT: 204 with the new ETag, or 200 with the row (``{"<resource>": row}``) too.
    put_answers_row: bool
    # A duplicate on create: 422 ``conflict on <resource>`` or 409 (modern clients read 409 as
    # "already exists" and look the row up).
    conflict_status: int
    # Related objects: by ``embed=`` only, or also the resource's ``modern_inline`` always.
    inline_relations: bool
    # ``GET /jobs/<id>/results``: the seed's dict keyed by file name, or a list of result rows.
    results_as_list: bool
    # ``where=`` on text: exact with ``*`` a prefix, or case-insensitive with ``*`` a substring.
    where_case_insensitive: bool
    # ``POST /jobs/schedule``: the seed's algorithm (job definitions, one job per component set,
    # kills), or the 2025 server's (the latest components, a new job every time).
    schedules_latest: bool
    # ``DELETE /jobs/<id>/components/<cid>``: 204, or the 201 the modern modules accept alone.
    detach_status: int


SEED = Wire(
    "seed",
    put_answers_row=False,
    conflict_status=422,
    inline_relations=False,
    results_as_list=False,
    where_case_insensitive=False,
    schedules_latest=False,
    detach_status=204,
)
MODERN = Wire(
    "modern",
    put_answers_row=True,
    conflict_status=409,
    inline_relations=True,
    results_as_list=True,
    where_case_insensitive=True,
    schedules_latest=True,
    detach_status=201,
)


def wire_of(request):
    """The wire of ``request`` (Django's or DRF's), decided on first asking and kept on it."""
    request = getattr(request, "_request", request)
    wire = getattr(request, "_dci_wire", None)
    if wire is None:
        wire = request._dci_wire = _decide(request.META)
    return wire


def _decide(meta):
    if meta.get("HTTP_AUTHORIZATION", "").split(" ", 1)[0] in SIGNATURE_SCHEMES:
        return MODERN
    client = _DCICLIENT.search(meta.get("HTTP_CLIENT_VERSION", ""))
    if client is not None:
        return MODERN if int(client.group(1)) >= 1 else SEED
    return MODERN if settings.DCI_DEFAULT_WIRE == "modern" else SEED
