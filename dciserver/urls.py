from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from dciserver.api.audits import AuditLogViewSet
from dciserver.api.routers import DCIRouter
from dciserver.api.schema import OncePerProcessSchemaGenerator
from dciserver.metrics import metrics_view
from dciserver.views import api_root, healthz
from events.api import DeliveryViewSet, EventViewSet, WebhookViewSet
from files.api import FileViewSet
from files.results_api import TestViewSet
from jobs.api.catalogue import ComponentViewSet, JobDefinitionViewSet, ProductViewSet, TopicViewSet
from jobs.api.jobs import JobStateViewSet, JobViewSet, PipelineViewSet
from teams.api import FeederViewSet, IdentityView, RemoteCIViewSet, TeamViewSet, UserViewSet

router = DCIRouter()
router.register("teams", TeamViewSet, basename="team")
router.register("users", UserViewSet, basename="user")
router.register("remotecis", RemoteCIViewSet, basename="remoteci")
router.register("feeders", FeederViewSet, basename="feeder")
router.register("products", ProductViewSet, basename="product")
router.register("topics", TopicViewSet, basename="topic")
router.register("components", ComponentViewSet, basename="component")
router.register("jobdefinitions", JobDefinitionViewSet, basename="jobdefinition")
router.register("jobs", JobViewSet, basename="job")
router.register("jobstates", JobStateViewSet, basename="jobstate")
router.register("pipelines", PipelineViewSet, basename="pipeline")
router.register("files", FileViewSet, basename="file")
router.register("tests", TestViewSet, basename="test")
router.register("audits", AuditLogViewSet, basename="audit")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("deliveries", DeliveryViewSet, basename="delivery")
router.register("events", EventViewSet, basename="event")

api_v1 = [
    re_path(r"^/?$", api_root, name="api-root"),
    re_path(r"^identity/?$", IdentityView.as_view(), name="identity"),
    path("", include("files.urls")),
    path("", include("events.urls")),
    path("", include("jobs.urls")),
    path("", include(router.urls)),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    re_path(r"^api/v1$", api_root, name="api-root-bare"),
    path("api/schema/", SpectacularAPIView.as_view(generator_class=OncePerProcessSchemaGenerator), name="schema"),
    # An HTML page only: its template renderer cannot answer OPTIONS (DRF's metadata), so it does not.
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", http_method_names=["get", "head"]),
        name="docs",
    ),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    # The dashboard for people (SPEC §16), at the root.
    path("", include("dashboard.urls")),
]
