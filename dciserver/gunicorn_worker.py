"""gunicorn's gthread worker, answering the requests it refuses itself with the DCI JSON error.

gunicorn parses a request before the application sees it, and answers what it cannot parse or
will not take (a request line or headers past its limits, a malformed ``Content-Length``) with
an HTML page of its own, from ``Worker.handle_error``. The SPEC wants the DCI error shape for
every answer under ``/api/`` — and gunicorn does not know yet whether a request it refuses is
one — so this worker writes that shape for all of them. The statuses are gunicorn's own.
"""

import json
from datetime import datetime
from ssl import SSLError

from gunicorn import util
from gunicorn.http import errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.gthread import ThreadWorker

# A header the application tried to send: the application's fault, not the client's.
APPLICATION_ERRORS = (errors.InvalidResponseHeader, errors.InvalidResponseHeaderName)
# (exceptions, status, reason), first match wins: gunicorn's own mapping (Worker.handle_error).
STATUSES = [
    (APPLICATION_ERRORS, 500, "Internal Server Error"),
    (errors.LimitRequestLine, 414, "URI Too Long"),
    (errors.LimitRequestHeaders, 431, "Request Header Fields Too Large"),
    (errors.UnsupportedTransferCoding, 501, "Not Implemented"),
    (errors.ExpectationFailed, 417, "Expectation Failed"),
    ((errors.ForbiddenProxyRequest, SSLError), 403, "Forbidden"),
    (errors.ConfigurationProblem, 500, "Internal Server Error"),
    (errors.ParseException, 400, "Bad Request"),
]
INTERNAL_ERROR = (500, "Internal Server Error")


def error_status(exc):
    """``(status, reason)`` of the answer to a request that failed with ``exc``."""
    for kinds, status, reason in STATUSES:
        if isinstance(exc, kinds):
            return status, reason
    return INTERNAL_ERROR


def json_error_response(status, reason, message):
    """The whole HTTP answer, ready to write: the DCI error body, and the connection closed."""
    body = json.dumps({"status_code": status, "message": message, "payload": {}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JSONErrorThreadWorker(ThreadWorker):
    """gthread, whose own error answers are the DCI JSON error (see the module's docstring)."""

    def handle_error(self, req, client, addr, exc):
        started = datetime.now()
        addr = addr or ("", -1)  # a unix socket
        status, reason = error_status(exc)
        if isinstance(exc, (errors.ParseException, SSLError)) and not isinstance(exc, APPLICATION_ERRORS):
            self.log.warning("Invalid request from ip=%s: %s", addr[0], exc)
            # What gunicorn says of the request (a limit, a header's name), bounded: never the whole line.
            message = f"{reason}: {str(exc)[:200]}"
            if req is None:
                req = getattr(exc, "req", None)  # for the access log
        else:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
            message = "Internal server error"
        answer = json_error_response(status, reason, message)
        if req is not None:
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
            response = Response(req, client, self.cfg)
            response.status = f"{status} {reason}"
            response.response_length = len(answer)
            self.log.access(response, req, environ, datetime.now() - started)
        try:
            util.write_nonblock(client, answer)
        except Exception:
            self.log.debug("Failed to send error message.")
