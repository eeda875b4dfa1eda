"""Counts the SQL queries of each request and reports them in the ``X-DCI-Queries`` header.

Enabled by ``bench.settings`` only, as the outermost middleware, so that the count
covers authentication, the view, the audit log and every other middleware.
"""

from django.db import connection

HEADER = "X-DCI-Queries"


class QueryCountMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        counter = _Counter()
        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        response[HEADER] = str(counter.count)
        return response


class _Counter:
    __slots__ = ("count",)

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)
