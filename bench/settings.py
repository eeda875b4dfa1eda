"""The settings of the server ``make bench`` measures: production's, plus the bench's instrumentation.

``bench/run.py`` starts gunicorn with ``DJANGO_SETTINGS_MODULE=bench.settings``; dciserver's own
settings and URLs know nothing of the bench.
"""

from dciserver.settings import *  # noqa: F403
from dciserver.settings import MIDDLEWARE

# Outermost, so that the count covers authentication, the view, the audit log and every other middleware.
MIDDLEWARE = ["bench.middleware.QueryCountMiddleware", *MIDDLEWARE]
ROOT_URLCONF = "bench.urls"
