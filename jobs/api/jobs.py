"""The API of jobs and jobstates (the seed's jobs document, reconciled in SPEC §5–6)."""

import uuid

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action

from dciserver.api.exceptions import BadRequest, NotFound
from dciserver.api.filters import DCIFilterSet
from dciserver.api.query import Embed
from dciserver.api.schema import ERRORS, WRITE_ERRORS, one_envelope, sublist_schema
from dciserver.api.serializers import DCIModelSerializer, ScopedRelatedField, StringField
from dciserver.api.viewsets import DCIViewSet
from jobs import services
from jobs.api.catalogue import ComponentSerializer, ComponentViewSet, JobDefinitionSerializer, TopicSerializer
from jobs.models import Component, Job, JobCount, JobDefinition, JobState, Status, Topic
from jobs.scheduling import job_schedule
from teams.api import RemoteCISerializer, TeamSerializer
from teams.models import RemoteCI, Team


class JobSerializer(DCIModelSerializer):
    remoteci_id = ScopedRelatedField(source="remoteci", queryset=RemoteCI.objects.all())
    jobdefinition_id = ScopedRelatedField(
        source="jobdefinition", queryset=JobDefinition.objects.all(), required=False, allow_null=True
    )
    topic_id = ScopedRelatedField(source="topic", queryset=Topic.objects.all(), required=False, allow_null=True)
    team_id = ScopedRelatedField(source="team", queryset=Team.objects.all(), required=False)
    components = ScopedRelatedField(queryset=Component.objects.all(), many=True, required=False, write_only=True)
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    comment = StringField(required=False, allow_blank=True, allow_null=True, max_length=65536)

    class Meta:
        model = Job
        fields = (
            "id",
            "etag",
            "status",
            "comment",
            "recheck",
            "created_at",
            "updated_at",
            "remoteci_id",
            "jobdefinition_id",
            "topic_id",
            "team_id",
            "components",
            "user_agent",
            "client_version",
            "state",
        )
        read_only_fields = ("etag", "updated_at", "user_agent", "client_version")


class JobUpdateSerializer(serializers.Serializer):
    """What ``PUT /jobs/<id>`` may change; other keys are ignored."""

    status = serializers.ChoiceField(choices=Status.choices, required=False)
    comment = StringField(required=False, allow_blank=True, max_length=65536)


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
        ]


class JobStateFilter(DCIFilterSet):
    class Meta:
        model = JobState
        fields = ["status", "job_id", "team_id", "comment"]


class JobViewSet(DCIViewSet):
    """Jobs: team members create and update them; team admins and super admins delete them."""

    model = Job
    serializer_class = JobSerializer
    singular, plural = "job", "jobs"
    # POST /jobs/schedule writes its job, the kills and its audit entry in one statement.
    own_transaction_actions = frozenset({"schedule"})
    sort_fields = ("created_at", "updated_at", "status", "comment")
    filterset_class = JobFilter
    embeds = {
        "team": Embed("team", TeamSerializer),
        "remoteci": Embed("remoteci", RemoteCISerializer),
        "jobdefinition": Embed("jobdefinition", JobDefinitionSerializer),
        "jobdefinition.topic": Embed("jobdefinition__topic", TopicSerializer),
        "topic": Embed("topic", TopicSerializer),
        "components": Embed("components", ComponentSerializer, many=True),
        "jobstates": Embed("jobstates", "jobs.api.jobs.JobStateSerializer", many=True),
        # ``files`` and ``results`` are added by the files app (files.api), which depends on jobs.
    }
    # What a modern client always receives inline (SPEC §9; reference §5.3–5.4), and a job read
    # alone also its jobstates; the files app adds its own.
    modern_inline = ("remoteci", "topic", "team", "components")
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
        data = serializer.validated_data
        return services.job_create(
            remoteci=data["remoteci"],
            jobdefinition=data.get("jobdefinition"),
            topic=data.get("topic"),
            components=data.get("components", ()),
            team=data.get("team"),
            comment=data.get("comment") or "",
            recheck=data.get("recheck", False),
            status=data.get("status", Status.NEW),
            user_agent=self.request.headers.get("User-Agent", ""),
            client_version=self.request.headers.get("Client-Version", ""),
        )

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
    )
    @action(detail=False, methods=["post"])
    def schedule(self, request):
        """``POST /jobs/schedule {remoteci_id, topic_id}``: the remoteci's next job, or 412 with why not."""

        remoteci_id = self.body_id("remoteci_id")
        try:
            topic_id = self.body_id("topic_id")
        except BadRequest:
            self.find("remoteci_id", RemoteCI)  # an unknown remoteci is a 404 before a bad topic_id
            raise
        # The remoteci (one the caller can't see: 404) and the topic (unknown or archived: 404) are
        # read by the scheduler with its candidates; a topic the team is not subscribed to is a
        # 412 of scheduling (SPEC §5), not a 404.
        job = job_schedule(
            remoteci_id=remoteci_id,
            scope=RemoteCI.objects.readable_sql(request.user),
            caller=request.user,
            topic_id=topic_id,
            user_agent=request.headers.get("User-Agent", ""),
            client_version=request.headers.get("Client-Version", ""),
            audit=self.audit_values(request, status.HTTP_201_CREATED),
        )
        self.audited = True
        return self.one_response(job, status.HTTP_201_CREATED)

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

    @sublist_schema(ComponentSerializer, "components")
    @action(detail=True, methods=["get"])
    def components(self, request, pk=None):
        return self.sublist(ComponentViewSet, jobs=self.get_object())


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
