"""The API of jobs and jobstates (the seed's jobs document, reconciled in SPEC §5–6)."""

import uuid

from django.db.models import Q
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from dciserver import metrics
from dciserver.api.exceptions import BadRequest, DCIError, NotFound, PreconditionFailed
from dciserver.api.filters import DCIFilterSet, TagFilter
from dciserver.api.query import Embed
from dciserver.api.schema import ERRORS, WRITE_ERRORS, ErrorSerializer, one_envelope, sublist_schema
from dciserver.api.serializers import (
    DCIModelSerializer,
    JSONObjectField,
    ScopedRelatedField,
    StringField,
    TagsField,
)
from dciserver.api.viewsets import DCIViewSet
from dciserver.api.wire import wire_of
from jobs import services
from jobs.api.catalogue import ComponentSerializer, ComponentViewSet, JobDefinitionSerializer, TopicSerializer
from jobs.models import (
    Component,
    Counter,
    Job,
    JobCount,
    JobDefinition,
    JobEvent,
    JobKeyValue,
    JobState,
    Pipeline,
    Status,
    Topic,
)
from jobs.scheduling import job_follow_up, job_schedule, job_schedule_latest
from teams.api import RemoteCISerializer, TeamSerializer
from teams.models import RemoteCI, Team


class URLField(StringField):
    """A job's ``url``: an http(s) address, or blank."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value and not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Must start with http:// or https://, or be blank.")
        return value


class PipelineSerializer(DCIModelSerializer):
    team_id = ScopedRelatedField(source="team", queryset=Team.objects.all())

    class Meta:
        model = Pipeline
        fields = ("id", "name", "team_id", "state", "created_at", "updated_at", "etag")
        read_only_fields = ("updated_at", "etag")


class JobKeyValueSerializer(DCIModelSerializer):
    """A job's key/value: ``POST /jobs/<id>/kv {key, value}`` (a number) and ``keys_values``."""

    job_id = serializers.UUIDField(read_only=True)
    key = StringField(max_length=255)
    value = serializers.FloatField()

    class Meta:
        model = JobKeyValue
        fields = ("job_id", "key", "value")

    def to_internal_value(self, data):
        # A number only: ``"3"`` is refused (the modern server's schema), not read as 3.
        if isinstance(data, dict) and isinstance(data.get("value"), (str, bool)):
            raise serializers.ValidationError({"value": ["A number is required."]})
        return super().to_internal_value(data)


def _no_other_keys(serializer, data):
    """400 naming the keys of ``data`` that are no field of ``serializer`` (strict bodies)."""
    if isinstance(data, dict):
        unknown = sorted(set(data) - set(serializer.fields))
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})


class JobSerializer(DCIModelSerializer):
    # Implied for a remoteci creating its own job (SPEC §10): ``validate``.
    remoteci_id = ScopedRelatedField(source="remoteci", queryset=RemoteCI.objects.all(), required=False)
    jobdefinition_id = ScopedRelatedField(
        source="jobdefinition", queryset=JobDefinition.objects.all(), required=False, allow_null=True
    )
    topic_id = ScopedRelatedField(source="topic", queryset=Topic.objects.all(), required=False, allow_null=True)
    team_id = ScopedRelatedField(source="team", queryset=Team.objects.all(), required=False)
    components = ScopedRelatedField(queryset=Component.objects.all(), many=True, required=False, write_only=True)
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    comment = StringField(required=False, allow_blank=True, allow_null=True, max_length=65536)
    name = StringField(required=False, allow_blank=True, allow_null=True, max_length=255)
    status_reason = StringField(required=False, allow_blank=True, allow_null=True, max_length=65536)
    configuration = StringField(required=False, allow_blank=True, allow_null=True, max_length=255)
    url = URLField(required=False, allow_blank=True, allow_null=True, max_length=65536)
    tags = TagsField(required=False)
    data = JSONObjectField(required=False)
    product_id = serializers.UUIDField(read_only=True, allow_null=True)
    pipeline_id = ScopedRelatedField(
        source="pipeline", queryset=Pipeline.objects.all(), required=False, allow_null=True
    )
    previous_job_id = ScopedRelatedField(
        source="previous_job", queryset=Job.objects.all(), required=False, allow_null=True
    )
    update_previous_job_id = ScopedRelatedField(
        source="update_previous_job", queryset=Job.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Job
        fields = (
            "id",
            "etag",
            "name",
            "status",
            "status_reason",
            "comment",
            "configuration",
            "url",
            "tags",
            "data",
            "duration",
            "recheck",
            "created_at",
            "updated_at",
            "remoteci_id",
            "jobdefinition_id",
            "topic_id",
            "team_id",
            "product_id",
            "pipeline_id",
            "previous_job_id",
            "update_previous_job_id",
            "components",
            "user_agent",
            "client_version",
            "state",
        )
        read_only_fields = ("etag", "updated_at", "user_agent", "client_version", "duration")

    def validate(self, attrs):
        # Agents send ``null`` for a string they leave unset: the column's blank.
        for name in ("comment", "name", "status_reason", "configuration", "url"):
            if name in attrs and attrs[name] is None:
                attrs[name] = ""
        if self.instance is not None:
            return attrs
        request = self.context.get("request")
        own = getattr(getattr(request, "user", None), "remoteci", None)
        if own is not None:
            given = attrs.get("remoteci")
            if given is not None and given.pk != own.pk:
                raise serializers.ValidationError({"remoteci_id": ["A remoteci creates its own jobs only."]})
            attrs["remoteci"] = own
        elif "remoteci" not in attrs:
            raise serializers.ValidationError({"remoteci_id": ["This field is required."]})
        return attrs


class JobScheduleSerializer(JobSerializer):
    """``POST /jobs/schedule`` of the modern DCI (SPEC §12): a topic, maybe pinned components, and
    the new job's fields."""

    # Found, with its latest components, by the schedule's own statement.
    topic_id = serializers.UUIDField()
    components_ids = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=1000)

    class Meta(JobSerializer.Meta):
        fields = (
            "remoteci_id",
            "topic_id",
            "components_ids",
            "name",
            "comment",
            "configuration",
            "url",
            "tags",
            "data",
            "pipeline_id",
            "previous_job_id",
            "state",
        )


class JobComponentSerializer(serializers.Serializer):
    id = ScopedRelatedField(queryset=Component.objects.all())


class JobUpdateSerializer(serializers.Serializer):
    """What ``PUT /jobs/<id>`` may change; other keys are ignored."""

    status = serializers.ChoiceField(choices=Status.choices, required=False)
    comment = StringField(required=False, allow_blank=True, max_length=65536)
    name = StringField(required=False, allow_blank=True, max_length=255)
    status_reason = StringField(required=False, allow_blank=True, max_length=65536)
    configuration = StringField(required=False, allow_blank=True, max_length=255)
    url = URLField(required=False, allow_blank=True, max_length=65536)
    tags = TagsField(required=False)
    state = serializers.ChoiceField(choices=Job.State.choices, required=False)


class JobStateSerializer(DCIModelSerializer):
    """A jobstate's fields and limits, the only place they are declared: ``POST /jobstates`` is
    validated by it, written from its ``validated_data`` (``services.jobstate_create``) and
    answered by it."""

    # The job is found by the report's own statement, in the caller's scope (jobstate_create).
    job_id = ScopedRelatedField(queryset=Job.objects.all(), found_by_write=True)
    team_id = serializers.UUIDField(read_only=True)
    status = serializers.ChoiceField(choices=Status.choices)
    comment = StringField(required=False, allow_blank=True, allow_null=True, max_length=65536)

    class Meta:
        model = JobState
        fields = ("id", "status", "comment", "job_id", "team_id", "created_at", "state")

    def validate_comment(self, value):
        # Agents send ``"comment": null`` for no comment.
        return value or ""


JOB_ENVELOPE = one_envelope(JobSerializer, "job")


class JobFilter(DCIFilterSet):
    class Meta:
        model = Job
        fields = [
            "status",
            "comment",
            "recheck",
            "remoteci_id",
            "jobdefinition_id",
            "topic_id",
            "team_id",
            "user_agent",
            "client_version",
            "name",
            "status_reason",
            "configuration",
            "url",
            "duration",
            "product_id",
            "pipeline_id",
            "previous_job_id",
            "update_previous_job_id",
            "updated_at",
        ]

    tags = TagFilter()


class PipelineFilter(DCIFilterSet):
    class Meta:
        model = Pipeline
        fields = ["name", "team_id"]


class JobStateFilter(DCIFilterSet):
    class Meta:
        model = JobState
        fields = ["status", "job_id", "team_id", "comment"]


class JobViewSet(DCIViewSet):
    """Jobs: team members create and update them; team admins and super admins delete them."""

    model = Job
    serializer_class = JobSerializer
    singular, plural = "job", "jobs"
    # POST /jobs/schedule writes its job, the kills and its audit entry in one statement (the
    # seed's), or in a transaction of its own (the modern one).
    own_transaction_actions = frozenset({"schedule"})
    sort_fields = ("created_at", "updated_at", "status", "comment", "name", "duration")
    filterset_class = JobFilter
    embeds = {
        "team": Embed("team", TeamSerializer),
        "remoteci": Embed("remoteci", RemoteCISerializer),
        "jobdefinition": Embed("jobdefinition", JobDefinitionSerializer),
        "jobdefinition.topic": Embed("jobdefinition__topic", TopicSerializer),
        "topic": Embed("topic", TopicSerializer),
        "components": Embed("components", ComponentSerializer, many=True),
        "jobstates": Embed("jobstates", "jobs.api.jobs.JobStateSerializer", many=True),
        "pipeline": Embed("pipeline", PipelineSerializer),
        "keys_values": Embed("keys_values", JobKeyValueSerializer, many=True, order_by=("key",)),
        # ``files`` and ``results`` are added by the files app (files.api), which depends on jobs.
    }
    # What a modern client always receives inline (SPEC §9; reference §5.3–5.4), and a job read
    # alone also its jobstates; the files app adds its own.
    modern_inline = ("remoteci", "topic", "team", "components", "pipeline", "keys_values")
    modern_inline_one = ("jobstates",)

    def get_serializer_class(self):
        return JobUpdateSerializer if self.action in ("update", "partial_update") else JobSerializer

    def count_sql(self, where):
        # Kept by triggers (JobCount): the list's count must not scan the history of jobs.
        clauses = [clause for clause in where.split(",") if clause.strip()]
        if not clauses:
            return JobCount.objects.total_sql(self.request.user)
        if len(clauses) == 1:
            key, _, value = clauses[0].partition(":")
            if key.strip() == "state" and value in Job.State.values:
                # ``where=state:active``, what modern clients send by default.
                return JobCount.objects.total_sql(self.request.user, state=value)
        return None

    def perform_create(self, serializer):
        return services.job_create(**serializer.validated_data, **self.client_headers())

    def client_headers(self):
        """What a job keeps of the client that asked for it."""
        headers = self.request.headers
        return {"user_agent": headers.get("User-Agent", ""), "client_version": headers.get("Client-Version", "")}

    def perform_update(self, instance, changes, etag):
        return services.job_update(job=instance, etag=etag, changes=changes)

    def check_destroy(self, user, instance):
        if not user.is_admin_of(instance.team_id):
            self.deny("Only the team's admins delete jobs.")

    def perform_destroy(self, instance, etag):
        services.job_archive(job=instance, etag=etag)

    def body_id(self, body_key):
        """The id a body names under ``body_key``: missing or malformed → 400."""
        value = self.request.data.get(body_key)
        if not value:
            raise BadRequest(f"{body_key} is required", {"errors": {body_key: ["This field is required."]}})
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise BadRequest(f"{body_key} is not a valid id", {"errors": {body_key: ["Not a valid UUID."]}}) from None

    def find(self, body_key, model):
        """The row of ``model`` a body names by id, among those the caller may see (``get_for_user``):
        missing or malformed → 400, unknown → 404."""
        pk = self.body_id(body_key)
        row = model.objects.get_for_user(self.request.user, pk)
        if row is None:
            raise NotFound(f"{model._meta.model_name} {pk} not found")
        return row

    @extend_schema(
        request=inline_serializer(
            "ScheduleRequest", {"remoteci_id": serializers.UUIDField(), "topic_id": serializers.UUIDField()}
        ),
        responses={201: JOB_ENVELOPE, **ERRORS, **WRITE_ERRORS},
        description="On the modern wire the body is the 2025 server's (`JobScheduleSerializer`): "
        "`topic_id`, `components_ids`, and the new job's fields; `remoteci_id` is the signing remoteci.",
    )
    @action(detail=False, methods=["post"])
    def schedule(self, request):
        """``POST /jobs/schedule``: the remoteci's next job, or 412 with why not (SPEC §5; on the
        modern wire, SPEC §12)."""
        with metrics.observed(metrics.SCHEDULE_SECONDS, "scheduled"):
            if wire_of(request).schedules_latest:
                return self.schedule_latest(request)
            return self.schedule_next(request)

    def schedule_next(self, request):
        remoteci_id = self.body_id("remoteci_id")
        try:
            topic_id = self.body_id("topic_id")
        except BadRequest:
            self.find("remoteci_id", RemoteCI)  # an unknown remoteci is a 404 before a bad topic_id
            raise
        # The remoteci (one the caller can't see: 404) and the topic (unknown or archived: 404) are
        # read by the scheduler with its candidates; a topic the team is not subscribed to is a
        # 412 of scheduling (SPEC §5), not a 404. The answer is read by the schedule's own
        # statement (one round trip less).
        reader = self.reader()
        job, answer = job_schedule(
            remoteci_id=remoteci_id,
            scope=RemoteCI.objects.readable_sql(request.user),
            caller=request.user,
            topic_id=topic_id,
            audit=self.audit_values(request, status.HTTP_201_CREATED),
            returning=reader.returning("(s.job)"),
            **self.client_headers(),
        )
        self.audited = True
        return self.one_response(
            job, status.HTTP_201_CREATED, reader.render_returned(answer, self.get_serializer_context())
        )

    def schedule_latest(self, request):
        serializer = JobScheduleSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        job = job_schedule_latest(
            remoteci=fields.pop("remoteci"),
            topic_id=fields.pop("topic_id"),
            components_ids=fields.pop("components_ids", None),
            caller=request.user,
            on_created=lambda job: self.audit(request, status.HTTP_201_CREATED, job.pk),
            **fields,
            **self.client_headers(),
        )
        return self.one_response(job, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: JOB_ENVELOPE, **ERRORS, **WRITE_ERRORS})
    @action(detail=True, methods=["post"], url_path="update")
    def follow_up(self, request, pk=None):
        """``POST /jobs/<id>/update``: a new job of the same remoteci and topic on its latest
        components, following this one (SPEC §12)."""
        job = job_follow_up(job=self.get_object(), caller=request.user, upgrade=False, **self.client_headers())
        return self.one_response(job, status.HTTP_201_CREATED)

    @extend_schema(
        request=inline_serializer("UpgradeRequest", {"job_id": serializers.UUIDField()}),
        responses={201: JOB_ENVELOPE, **ERRORS, **WRITE_ERRORS},
    )
    @action(detail=False, methods=["post"])
    def upgrade(self, request):
        """``POST /jobs/upgrade {job_id}``: the same, into the topic's ``next_topic``."""
        job = job_follow_up(job=self.find("job_id", Job), caller=request.user, upgrade=True, **self.client_headers())
        return self.one_response(job, status.HTTP_201_CREATED)

    @extend_schema(
        methods=["POST"],
        request=JobKeyValueSerializer,
        responses={
            201: inline_serializer("KeyValueEnvelope", {"kv": JobKeyValueSerializer()}),
            **ERRORS,
            **WRITE_ERRORS,
        },
    )
    @extend_schema(
        methods=["DELETE"],
        request=inline_serializer("KeyValueKey", {"key": serializers.CharField()}),
        responses={204: OpenApiResponse(None, description="Forgotten"), **ERRORS},
    )
    @action(detail=True, methods=["post", "delete"])
    def kv(self, request, pk=None):
        """``POST /jobs/<id>/kv {key, value}`` records a number (409: the key is there);
        ``DELETE /jobs/<id>/kv {key}`` forgets one (204, there or not)."""
        job = self.get_object()
        serializer = JobKeyValueSerializer(data=request.data, context=self.get_serializer_context())
        if request.method == "DELETE":
            serializer.fields["value"].required = False
        _no_other_keys(serializer, request.data)
        serializer.is_valid(raise_exception=True)
        if request.method == "DELETE":
            services.job_kv_delete(job=job, key=serializer.validated_data["key"])
            return Response(status=status.HTTP_204_NO_CONTENT)
        kv = services.job_kv_create(job=job, **serializer.validated_data)
        return Response({"kv": self.read(kv.pk, JobKeyValueSerializer, JobKeyValue)}, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="jobs_recheck_by_body",
        request=inline_serializer("RecheckRequest", {"job_id": serializers.UUIDField()}),
        responses={201: JOB_ENVELOPE, **ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="recheck")
    def recheck_from_body(self, request):
        """``POST /jobs/recheck {"job_id"}`` (the seed's form)."""
        return self.recheck_response(self.find("job_id", Job))

    @extend_schema(request=None, responses={201: JOB_ENVELOPE, **ERRORS})
    @action(detail=True, methods=["post"])
    def recheck(self, request, pk=None):
        """``POST /jobs/<id>/recheck`` (what clients send)."""
        return self.recheck_response(self.get_object())

    def recheck_response(self, job):
        return self.one_response(services.job_recheck(job=job), status.HTTP_201_CREATED)

    @sublist_schema(JobStateSerializer, "jobstates")
    @action(detail=True, methods=["get"])
    def jobstates(self, request, pk=None):
        return self.sublist(JobStateViewSet, job=self.get_object())

    @sublist_schema(ComponentSerializer, "components", methods=["GET"])
    @extend_schema(
        methods=["POST"],
        request=inline_serializer("JobComponent", {"id": serializers.UUIDField()}),
        responses={201: OpenApiResponse(None, description="Attached"), **ERRORS, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["get", "post"])
    def components(self, request, pk=None):
        """``GET /jobs/<id>/components``; ``POST {id}`` attaches one (201, empty; 409: attached)."""
        job = self.get_object()
        if request.method != "POST":  # GET and HEAD
            return self.sublist(ComponentViewSet, jobs=job)
        serializer = JobComponentSerializer(data=request.data, context=self.get_serializer_context())
        _no_other_keys(serializer, request.data)
        serializer.is_valid(raise_exception=True)
        services.job_component_add(job=job, component=serializer.validated_data["id"])
        return Response(status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: OpenApiResponse(None, description="Detached"), **ERRORS})
    @action(detail=True, methods=["delete"], url_path=r"components/(?P<component_id>[^/]+)")
    def detach(self, request, pk=None, component_id=None):
        """``DELETE /jobs/<id>/components/<cid>``, attached or not; answered as the wire says
        (the modern modules accept only 201)."""
        job = self.get_object()
        try:
            component_id = uuid.UUID(component_id)
        except ValueError:
            raise NotFound() from None
        services.job_component_remove(job=job, component_id=component_id)
        return Response(status=wire_of(request).detach_status)


class JobStateViewSet(DCIViewSet):
    """Jobstates: immutable; team members create them, team admins and super admins delete them."""

    model = JobState
    serializer_class = JobStateSerializer
    singular, plural = "jobstate", "jobstates"
    # Jobstates are immutable: no PUT or PATCH.
    http_method_names = ["get", "post", "delete", "head", "options"]
    sort_fields = ("created_at", "status")
    filterset_class = JobStateFilter
    embeds = {
        "job": Embed("job", JobSerializer),
        "team": Embed("team", TeamSerializer),
    }
    # The jobstate, the job's status and heartbeat and the audit entry: one statement.
    create_is_one_statement = True

    def perform_create(self, serializer):
        # The audit entry is written with the jobstate, by the same statement.
        audit = self.audit_values(self.request, status.HTTP_201_CREATED)
        data = dict(serializer.validated_data)
        # The answer is read by the report's own statement: one round trip.
        reader = self.reader()
        jobstate, answer = services.jobstate_create(
            job=data.pop("job_id"), user=self.request.user, audit=audit, returning=reader.returning("jobstate"), **data
        )
        self.audited = True
        return jobstate, reader.render_returned(answer, self.get_serializer_context())

    def check_destroy(self, user, instance):
        if not user.is_admin_of(instance.team_id):
            self.deny("Only the team's admins delete jobstates.")


class PipelineViewSet(DCIViewSet):
    """Pipelines: a team's jobs that run together; its members write them (SPEC §12)."""

    model = Pipeline
    serializer_class = PipelineSerializer
    singular, plural = "pipeline", "pipelines"
    sort_fields = ("created_at", "updated_at", "name")
    filterset_class = PipelineFilter
    embeds = {"team": Embed("team", TeamSerializer)}
    modern_inline = ("team",)

    def writable_fields(self, user, instance):
        return {"name", "state"}  # a pipeline stays in its team

    @sublist_schema(JobSerializer, "jobs")
    @action(detail=True, methods=["get"])
    def jobs(self, request, pk=None):
        """``GET /pipelines/<id>/jobs``, oldest first (the order they ran in)."""
        return self.sublist(JobViewSet, default_sort="created_at", pipeline=self.get_object())


class JobEventSerializer(DCIModelSerializer):
    id = serializers.IntegerField(read_only=True)  # a sequence number, the consumers' cursor
    job_id = serializers.UUIDField(read_only=True)
    topic_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = JobEvent
        fields = ("id", "created_at", "job_id", "topic_id", "status")


class JobEventFilter(DCIFilterSet):
    class Meta:
        model = JobEvent
        fields = ["job_id", "topic_id", "status"]


class SuperAdminsOnly:
    """Routes of the operators' consumers (SPEC §13): anyone else is refused, not shown nothing."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # (A method the route does not serve is a 405 first; OPTIONS describes the route to anyone.)
        if self.action not in (None, "metadata") and not request.user.is_super_admin:
            self.deny("Only super admins read and move job events.")


class JobEventViewSet(SuperAdminsOnly, DCIViewSet):
    """``/jobs_events/<seq>``: the job events from id ``seq`` on, and their deletion."""

    model = JobEvent
    serializer_class = JobEventSerializer
    singular, plural = "jobs_event", "jobs_events"
    http_method_names = ["get", "delete", "head", "options"]
    sort_fields = ("id", "created_at")
    filterset_class = JobEventFilter

    def list(self, request, *args, **kwargs):
        return self.list_response(Q(id__gte=self.sequence()))

    def destroy(self, request, *args, **kwargs):
        services.job_events_delete(since=self.sequence())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def sequence(self):
        return int(self.kwargs["sequence"])  # the route takes digits only


class CounterSerializer(DCIModelSerializer):
    sequence = serializers.IntegerField(min_value=0, max_value=2**63 - 1)

    class Meta:
        model = Counter
        fields = ("sequence", "etag")
        read_only_fields = ("etag",)


class JobEventSequenceViewSet(SuperAdminsOnly, DCIViewSet):
    """``/jobs_events/sequence``: the consumers' cursor, moved with ``If-Match`` (a stale etag: 409)."""

    model = Counter
    serializer_class = CounterSerializer
    singular = "sequence"
    http_method_names = ["get", "put", "head", "options"]

    def get_object(self, queryset=None):
        self.audited_object_id = None
        return services.counter_get()

    @extend_schema(responses={200: one_envelope(CounterSerializer, "sequence"), **ERRORS})
    def retrieve(self, request, *args, **kwargs):
        counter = self.get_object()
        return Response({"sequence": self.read(counter.pk)}, headers={"ETag": counter.etag})

    @extend_schema(
        responses={
            200: one_envelope(CounterSerializer, "sequence"),
            204: OpenApiResponse(None, description="Moved (the seed wire)"),
            409: OpenApiResponse(ErrorSerializer, description="Stale etag: another consumer moved the cursor"),
            **ERRORS,
            **WRITE_ERRORS,
        }
    )
    def update(self, request, *args, **kwargs):
        return super().update(request, *args, **kwargs)

    def get_serializer(self, *args, **kwargs):
        kwargs["partial"] = False  # a cursor is moved to a sequence: the body must name one
        return super().get_serializer(*args, **kwargs)

    def perform_update(self, instance, changes, etag):
        try:
            return services.counter_set(counter=instance, sequence=changes["sequence"], etag=etag)
        except PreconditionFailed:
            # The cursor was moved by another consumer since this one read it.
            raise DCIError(
                'conflict on jobs_events "sequence" or etag not matched', {"errors": {"etag": ["Stale."]}}, 409
            ) from None
