"""dciserver's URLs, plus the ceiling: a minimal authenticated JSON view on the same stack."""

from django.urls import re_path

from bench.views import CeilingView
from dciserver.urls import urlpatterns as dciserver_urlpatterns

urlpatterns = [
    re_path(r"^api/v1/_bench/ceiling/?$", CeilingView.as_view(), name="bench-ceiling"),
    *dciserver_urlpatterns,
]
