"""The API of files: uploads in both DCI forms, reads, the bytes, and a job's JUnit results (SPEC §6–7)."""

import io
import posixpath
import re
import unicodedata
from urllib.parse import quote

from django.db.models import Q
from django.http import FileResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from dciserver.api.authentication import signed_body_check
from dciserver.api.exceptions import DCIError, NotFound
from dciserver.api.filters import DCIFilterSet
from dciserver.api.headers import header_text
from dciserver.api.parsers import AnyBodyAsJSONParser
from dciserver.api.query import Embed
from dciserver.api.reader import Reader
from dciserver.api.schema import ERRORS, ErrorSerializer, MetaSerializer, one_envelope
from dciserver.api.serializers import DCIModelSerializer, StringField
from dciserver.api.viewsets import DCIViewSet
from dciserver.api.wire import wire_of
from files import results_api, services
from files.models import ComponentFile, File, JUnitResult
from jobs.api.catalogue import component_write_refusal
from jobs.api.jobs import JobSerializer, JobStateSerializer, JobViewSet
from jobs.models import Component, Job, JobState
from teams.api import TeamSerializer

DOWNLOAD_BLOCK_SIZE = 1024 * 1024


class FileSerializer(DCIModelSerializer):
    """A file as the API shows it. ``content`` is inlined for small text files (SPEC §6).

    Only views that ask for it (``inline_content`` in the context: ``/files`` and
    ``/jobs/<id>/files``) read the bytes; embedded in another resource a file's
    ``content`` is null, so a list of jobs never reads storage.
    """

    job_id = serializers.UUIDField(read_only=True)
    jobstate_id = serializers.UUIDField(read_only=True, allow_null=True)
    team_id = serializers.UUIDField(read_only=True)
    content = serializers.SerializerMethodField()

    class Meta:
        model = File
        fields = (
            "id",
            "name",
            "mime",
            "md5",
            "size",
            "job_id",
            "jobstate_id",
            "team_id",
            "created_at",
            "state",
            "content",
        )
        read_only_fields = fields

    def get_content(self, file) -> str | None:
        if not self.context.get("inline_content"):
            return None
        return services.file_inline_content(file)


class JUnitResultSerializer(DCIModelSerializer):
    """A JUnit file's summary, as a job inlines it (``embed=results``): identified by its file."""

    id = serializers.UUIDField(source="file_id", read_only=True)
    file_id = serializers.UUIDField(read_only=True)
    job_id = serializers.UUIDField(read_only=True)
    success = serializers.IntegerField(read_only=True)

    class Meta:
        model = JUnitResult
        fields = (
            "id",
            "name",
            "total",
            "success",
            "skips",
            "failures",
            "errors",
            "regressions",
            "successfixes",
            "flaky_regressions",
            "time",
            "job_id",
            "file_id",
        )
        read_only_fields = fields


class FileMetadataSerializer(serializers.Serializer):
    """What describes an upload: the ``DCI-*`` headers of a raw upload, or the keys of a JSON one."""

    name = StringField(max_length=512)
    mime = StringField(max_length=255, required=False, default="text/plain")
    job_id = serializers.UUIDField(required=False, allow_null=True)
    jobstate_id = serializers.UUIDField(required=False, allow_null=True)


class FileJSONSerializer(FileMetadataSerializer):
    # Whitespace is content: a log's trailing newline must survive.
    content = StringField(allow_blank=True, trim_whitespace=False)


class LengthRequired(DCIError):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = "A raw upload needs a Content-Length header."


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# Metadata of a raw upload: field → header.
UPLOAD_HEADERS = {"name": "DCI-NAME", "mime": "DCI-MIME", "job_id": "DCI-JOB-ID", "jobstate_id": "DCI-JOBSTATE-ID"}


def _raw_upload(request):
    """The metadata, body stream and announced length of a raw upload, whatever its Content-Type.

    The body is read by the upload service, never through DRF's parsers (which would load
    it whole, and refuse what old clients label application/json).
    """
    headers = request.headers
    # An empty header counts as none (a client may send one for an unset value).
    given = {field: header_text(request, header) for field, header in UPLOAD_HEADERS.items() if headers.get(header)}
    metadata = _valid(FileMetadataSerializer, given)
    return (metadata, *_raw_body(request), header_text(request, "DCI-MD5") or None)


def _raw_body(request):
    """The body stream of a raw upload and its announced length (``None``: read to its end)."""
    raw_length = request.META.get("CONTENT_LENGTH")
    if not raw_length:
        if request.headers.get("Transfer-Encoding"):
            # The modern client sends empty files and pipes chunked. A server that de-chunks
            # and ends the input at the end of the body (gunicorn) says so with
            # wsgi.input_terminated; then the body is read to its end, from the WSGI input
            # itself (the request reads nothing past a Content-Length it was not given), through
            # its read() only. Elsewhere (Django's development server) the upload would
            # silently arrive empty: refuse it.
            if request.META.get("wsgi.input_terminated"):
                return request.META["wsgi.input"], None
            raise LengthRequired()
        raw_length = "0"
    try:
        length = int(raw_length)
    except ValueError:
        raise DCIError(f"Invalid Content-Length: {raw_length!r}") from None
    # DRF's request.stream: the Django request itself, reading the WSGI input no further than
    # Content-Length (None for an empty body).
    return request.stream or io.BytesIO(), length


def _scoped(queryset, user, pk, label):
    row = queryset.for_user(user).filter(pk=pk).first()
    if row is None:
        raise NotFound(f"{label} {pk} not found")
    return row


def _parents(user, metadata, job):
    """The job and jobstate an upload belongs to, among those ``user`` may see (another team's → 404)."""
    jobstate = None
    if metadata.get("jobstate_id"):
        jobstate = _scoped(JobState.objects.select_related("job"), user, metadata["jobstate_id"], "jobstate")
    if job is None and metadata.get("job_id"):
        job = _scoped(Job.objects, user, metadata["job_id"], "job")
    if job is None and jobstate is not None:
        job = jobstate.job
    if job is None:
        raise DCIError(
            "A file needs a job: give job_id or jobstate_id (DCI-JOB-ID or DCI-JOBSTATE-ID for a raw upload).",
            {"errors": {"job_id": ["This field is required (or give jobstate_id)."]}},
        )
    return job, jobstate


def file_upload(request, job=None, on_created=None):
    """Create a file from a POST in either DCI form; ``job`` is given by ``/jobs/<id>/files``.

    A ``DCI-NAME`` header means a raw upload: the body is the bytes, the metadata is in
    headers. Otherwise the body is JSON ``{name, content, mime?, job_id?, jobstate_id?}``.
    Being able to see the job is what allows writing to it: team members and super admins.
    """
    if "DCI-NAME" in request.headers:
        metadata, stream, length, md5 = _raw_upload(request)
    else:
        metadata = _valid(FileJSONSerializer, request.data)
        body = metadata["content"].encode()
        stream, length, md5 = io.BytesIO(body), len(body), None
    job, jobstate = _parents(request.user, metadata, job)
    return services.file_create(
        job=job,
        jobstate=jobstate,
        name=metadata["name"],
        mime=metadata["mime"],
        stream=stream,
        length=length,
        expected_md5=md5,
        on_created=on_created,
        # A signed raw upload's body is verified once spooled, before anything is kept.
        verify_body=signed_body_check(request),
    )


FILE_UPLOAD_HEADERS = [
    OpenApiParameter("DCI-NAME", str, OpenApiParameter.HEADER, description="Raw upload: the file's name."),
    OpenApiParameter("DCI-MIME", str, OpenApiParameter.HEADER, description="Raw upload: the mime (text/plain)."),
    OpenApiParameter("DCI-JOB-ID", str, OpenApiParameter.HEADER, description="Raw upload: the job."),
    OpenApiParameter("DCI-JOBSTATE-ID", str, OpenApiParameter.HEADER, description="Raw upload: the jobstate."),
    OpenApiParameter("DCI-MD5", str, OpenApiParameter.HEADER, description="Raw upload: the md5 to check."),
]


UPLOAD_ERRORS = {
    411: OpenApiResponse(ErrorSerializer, description="A raw upload without Content-Length"),
    413: OpenApiResponse(ErrorSerializer, description="Over DCI_MAX_UPLOAD_SIZE"),
}


def upload_schema(methods=None):
    """``POST /files`` and ``POST /jobs/<id>/files``: raw bytes with ``DCI-*`` headers, or a JSON body."""
    return extend_schema(
        methods=methods,
        request={"application/octet-stream": OpenApiTypes.BINARY, "application/json": FileJSONSerializer},
        parameters=FILE_UPLOAD_HEADERS,
        responses={201: one_envelope(FileSerializer, "file"), **ERRORS, **UPLOAD_ERRORS},
    )


# GET /jobs/<id>/results: the seed's shape, keyed by file name.
results_schema = extend_schema(
    responses={
        200: inline_serializer(
            "JobResults",
            {
                "_meta": MetaSerializer(),
                "results": serializers.DictField(
                    child=inline_serializer(
                        "JUnitSummary",
                        {
                            "errors": serializers.CharField(),
                            "failures": serializers.CharField(),
                            "name": serializers.CharField(),
                            "skips": serializers.CharField(),
                            "success": serializers.IntegerField(),
                            "time": serializers.CharField(),
                            "total": serializers.CharField(),
                            "file_id": serializers.UUIDField(),
                            "filename": serializers.CharField(),
                            "error": serializers.CharField(required=False),
                        },
                    )
                ),
            },
        ),
        **ERRORS,
    }
)


class FileFilter(DCIFilterSet):
    class Meta:
        model = File
        fields = ["name", "mime", "md5", "job_id", "jobstate_id", "team_id"]


class FileViewSet(DCIViewSet):
    """Files: immutable; members of the job's team upload them, team admins and super admins delete them."""

    model = File
    serializer_class = FileSerializer
    singular, plural = "file", "files"
    # An upload is stored, then committed with its audit entry, in file_create's own transaction.
    own_transaction_actions = frozenset({"create"})
    # Raw bytes or the JSON form, whatever the Content-Type says (SPEC §6).
    parser_classes = [AnyBodyAsJSONParser]

    def signed_body_streams(self, request):
        """A raw upload streams: its signature is checked on the spooled bytes (``file_upload``)."""
        return self.action == "create" and "HTTP_DCI_NAME" in request.META

    # Files are immutable: no PUT or PATCH.
    http_method_names = ["get", "post", "delete", "head", "options"]
    sort_fields = ("created_at", "name", "size", "mime")
    filterset_class = FileFilter
    embeds = {
        "job": Embed("job", JobSerializer),
        "jobstate": Embed("jobstate", JobStateSerializer),
        "team": Embed("team", TeamSerializer),
    }

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "inline_content": True}

    @upload_schema()
    def create(self, request, *args, **kwargs):
        """Upload a file: the raw bytes with ``DCI-*`` headers, or a JSON body when there is no ``DCI-NAME``."""
        return self.one_response(file_upload(request, on_created=self.audit_upload), status.HTTP_201_CREATED)

    def audit_upload(self, file):
        self.audit(self.request, status.HTTP_201_CREATED, object_id=file.pk)

    def check_destroy(self, user, instance):
        if not user.is_admin_of(instance.team_id):
            self.deny("Only the team's admins delete files.")

    @extend_schema(responses={(200, "*/*"): OpenApiResponse(description="The file's bytes"), **ERRORS})
    @action(detail=True, methods=["get"])
    def content(self, request, pk=None):
        """``GET /files/<id>/content``: the bytes, streamed, as an attachment under the file's name."""
        return download(self.get_object())

    @results_api.junit_schema
    @action(detail=True, methods=["get"])
    def junit(self, request, pk=None):
        """``GET /files/<id>/junit``: the 2025 server's report of a JUnit file, its cases with their
        states against the baseline, from the stored cases."""
        return Response(results_api.junit_report(request.user, self.get_object()))


def download(file):
    """The stored bytes of ``file`` (a job's or a component's), streamed as an attachment under its name."""
    try:
        stored = services.file_open(file)
    except FileNotFoundError:
        raise NotFound(f"The content of file {file.id} is missing from storage.") from None
    # A row kept before mimes were checked may hold anything: such a mime is never a header.
    content_type = services.normal_mime(file.mime) or "application/octet-stream"
    response = FileResponse(stored, content_type=content_type)
    response["Content-Disposition"] = attachment_disposition(file.name)
    response.block_size = DOWNLOAD_BLOCK_SIZE
    return response


_NOT_QUOTABLE = re.compile(r'[^\x20-\x7e]|["\\]')


def attachment_disposition(name):
    """``Content-Disposition`` of a download saved under the base name of ``name`` (no path).

    A name Django can quote as it is gets its ``filename="..."``. Any other (non-ASCII, control
    characters) gets RFC 6266's ``filename*=UTF-8''<percent-encoded>``, after an ASCII
    ``filename`` (accents dropped, other characters replaced) for clients that read only that.
    """
    base = posixpath.basename(name.replace("\\", "/")) or "download"
    if re.fullmatch(r"[\t\x20-\x7e]*", base):
        return content_disposition_header(True, base)
    stripped = "".join(c for c in unicodedata.normalize("NFKD", base) if not unicodedata.combining(c))
    fallback = _NOT_QUOTABLE.sub("_", stripped)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(base, safe='')}"


def _result_entry(result):
    """One file's results in the seed's shape: counts and time as strings, ``success`` an integer."""
    entry = {
        "errors": str(result.errors),
        "failures": str(result.failures),
        "name": result.name,
        "skips": str(result.skips),
        "success": result.success,
        "time": str(result.time),
        "total": str(result.total),
        "file_id": str(result.file_id),
        "filename": result.file.name,
    }
    if result.error:
        entry["error"] = result.error
    return entry


class JobFileViewSet(FileViewSet):
    """A job's files and JUnit results: ``/jobs/<id>/files`` and ``/jobs/<id>/results`` (files.urls).

    Routes of the files app under jobs: files depend on jobs, and jobs know nothing of files.
    """

    def job(self):
        """The job the URL names, among those the caller may see (another team's: 404)."""
        return self.visible(Job, self.kwargs["pk"])

    def list(self, request, *args, **kwargs):
        """``GET /jobs/<id>/files``: the job's files, with the list language of ``/files``."""
        return self.list_response(Q(job=self.job()))

    @upload_schema()
    def create(self, request, *args, **kwargs):
        """``POST /jobs/<id>/files``: the seed's JSON ``{content, jobstate_id?, mime, name}``, or a raw upload."""
        job = self.job()
        return self.one_response(file_upload(request, job=job, on_created=self.audit_upload), status.HTTP_201_CREATED)

    @results_schema
    def results(self, request, *args, **kwargs):
        """``GET /jobs/<id>/results``: the JUnit results of the job's live files, keyed by file name.

        Two reports uploaded under one name: the newer one is shown.
        """
        results = JUnitResult.objects.filter(job=self.job(), file__archived_at__isnull=True)
        if wire_of(request).results_as_list:
            # The modern wire: every result row, as a job inlines them (SPEC §9).
            ids = list(results.order_by("name", "file_id").values_list("file_id", flat=True))
            rows = Reader.of(JUnitResultSerializer, JUnitResult).by_ids(
                request.user, self.get_serializer_context(), ids
            )
            return Response({"results": rows, "_meta": {"count": len(rows)}})
        results = results.select_related("file").order_by("file__created_at", "file_id")
        entries = {result.file.name: _result_entry(result) for result in results}
        return Response({"_meta": {"count": len(entries)}, "results": entries})


# GET /jobs?embed=files,results: declared here, as files depend on jobs. A job read alone on the
# modern wire carries its files of no jobstate (those of a jobstate hang from it: reference §5.3).
JobViewSet.add_embed(
    "files",
    Embed("files", FileSerializer, many=True),
    modern_inline_one=True,
    modern=Embed("files", FileSerializer, many=True, where=Q(jobstate__isnull=True)),
)
JobViewSet.add_embed(
    "results", Embed("junit_results", JUnitResultSerializer, many=True, order_by=("name",)), modern_inline=True
)


class ComponentFileSerializer(DCIModelSerializer):
    component_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = ComponentFile
        fields = ("id", "name", "mime", "md5", "size", "component_id", "created_at", "state")
        read_only_fields = fields


class ComponentFileFilter(DCIFilterSet):
    class Meta:
        model = ComponentFile
        fields = ["name", "mime", "md5", "component_id"]


class ComponentFileViewSet(DCIViewSet):
    """A component's files (SPEC §11), ``/components/<id>/files`` (files.urls): read by whoever
    reads the component; uploaded as raw bytes (``DCI-NAME`` and ``DCI-MIME`` optional) and
    deleted by whoever writes it (``component_write_refusal``; feeders upload)."""

    model = ComponentFile
    serializer_class = ComponentFileSerializer
    singular, plural = "component_file", "component_files"
    lookup_url_kwarg = "component_file_id"
    http_method_names = ["get", "post", "delete", "head", "options"]
    sort_fields = ("created_at", "name", "size")
    filterset_class = ComponentFileFilter
    # The stored bytes and the row (with its audit entry) in the upload's own transaction.
    own_transaction_actions = frozenset({"create"})
    # The body is the bytes, whatever it says it is; it is never parsed.
    parser_classes = [AnyBodyAsJSONParser]
    feeder_writes = frozenset({"create"})

    def signed_body_streams(self, request):
        return self.action == "create"

    def component(self):
        """The component the URL names, among those the caller may see (another team's: 404)."""
        return self.visible(Component, self.kwargs["pk"])

    def get_object(self, queryset=None):
        return super().get_object(self.get_queryset().filter(component=self.component()))

    def list(self, request, *args, **kwargs):
        """``GET /components/<id>/files``."""
        return self.list_response(Q(component=self.component()))

    def retrieve(self, request, *args, **kwargs):
        self.get_object()  # of this component
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=FILE_UPLOAD_HEADERS[:2],
        responses={201: one_envelope(ComponentFileSerializer, "component_file"), **ERRORS, **UPLOAD_ERRORS},
    )
    def create(self, request, *args, **kwargs):
        """``POST /components/<id>/files``: the raw bytes of a file of the component."""
        component = self.component()
        refusal = component_write_refusal(request.user, component.team, feeder_may=True)
        if refusal:
            self.deny(refusal)
        stream, length = _raw_body(request)
        row = services.component_file_create(
            component=component,
            name=header_text(request, "DCI-NAME") or "file",
            mime=header_text(request, "DCI-MIME") or "application/octet-stream",
            stream=stream,
            length=length,
            verify_body=signed_body_check(request),
            on_created=lambda row: self.audit(self.request, status.HTTP_201_CREATED, object_id=row.pk),
        )
        return self.one_response(row, status.HTTP_201_CREATED)

    def check_destroy(self, user, instance):
        refusal = component_write_refusal(user, instance.component.team, feeder_may=False)
        if refusal:
            self.deny(refusal)

    @extend_schema(responses={(200, "*/*"): OpenApiResponse(description="The file's bytes"), **ERRORS})
    def content(self, request, *args, **kwargs):
        """``GET /components/<id>/files/<file id>/content``: the bytes, as an attachment."""
        return download(self.get_object())
