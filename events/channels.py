"""How a delivery reaches its destination: a signed POST, a mail, an AMQP message.

Each sender answers the status code it got (webhooks) or None, and raises ``Undelivered`` when the
destination did not take it; any other exception is a bug, and the attempt fails with it too.
"""

import hashlib
import hmac
import time

import orjson
import urllib3
from django.conf import settings
from django.core.mail import send_mail
from kombu import Connection, Exchange

from events.models import Channel

SIGNATURE_HEADER = "X-DCI-Signature"
# Webhooks are the team's own servers: no redirects (a 3xx is an answer, not a delivery), no
# retries inside an attempt (the delivery's own backoff retries), one pool per worker process.
_HTTP = urllib3.PoolManager(retries=False, headers={"User-Agent": "dciserver"})


class Undelivered(Exception):
    def __init__(self, message, status_code=None):
        super().__init__(message)
        self.status_code = status_code


def body_of(event):
    """The bytes every delivery of ``event`` sends: its payload, as written once by its dispatch."""
    return orjson.dumps(event.payload, option=orjson.OPT_SORT_KEYS)


def signature(secret, timestamp, body):
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``: the timestamp is signed with the
    body, so a receiver refusing old timestamps refuses replays."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret, header, body, tolerance=300, now=None):
    """Whether ``header`` (``X-DCI-Signature``) signs ``body`` with ``secret`` and is recent: what a
    receiver does (docs/events.md shows it in a few lines of any language)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), f"t={timestamp},v1={fields.get('v1', '')}")


def send_webhook(delivery):
    event, webhook = delivery.event, delivery.webhook
    body = body_of(event)
    headers = {
        "Content-Type": "application/json",
        "X-DCI-Event": event.kind,
        "X-DCI-Delivery": str(delivery.id),
        "Idempotency-Key": str(delivery.idempotency_key),
        SIGNATURE_HEADER: signature(webhook.secret, int(time.time()), body),
    }
    try:
        response = _HTTP.request(
            "POST",
            webhook.url,
            body=body,
            headers=headers,
            redirect=False,
            timeout=urllib3.Timeout(total=settings.DCI_WEBHOOK_TIMEOUT),
            preload_content=False,
        )
    except urllib3.exceptions.HTTPError as exc:
        raise Undelivered(f"{type(exc).__name__}: {exc}") from None
    try:
        answer = response.read(512, decode_content=False)
    except urllib3.exceptions.HTTPError:
        answer = b""
    finally:
        response.release_conn()
    if not 200 <= response.status < 300:
        text = answer.decode("utf-8", "replace").strip()
        raise Undelivered(f"HTTP {response.status}" + (f": {text[:200]}" if text else ""), response.status)
    return response.status


def send_mail_to_follower(delivery):
    event, user = delivery.event, delivery.user
    job = event.payload["job"]
    subject = f"[DCI] job {job['name'] or job['id']} {event.status}"
    lines = [
        f"The job {job['name'] or job['id']} of {(event.payload['remoteci'] or {}).get('name', 'a remoteci')} "
        f"on {(event.payload['topic'] or {}).get('name', 'no topic')} ended in {event.status}.",
        "",
        f"See it: {job['url']}",
        "",
        "You follow this job's topic or remoteci; unfollow with DELETE /api/v1/topics/<id>/notifications "
        "or DELETE /api/v1/remotecis/<id>/users/<your id>.",
    ]
    try:
        send_mail(subject, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, [user.email])
    except OSError as exc:
        raise Undelivered(f"{type(exc).__name__}: {exc}") from None


def publish_amqp(delivery):
    """To the topic exchange ``DCI_AMQP_EXCHANGE``, routed by ``<kind>.<status>`` (``job_finished.failure``)."""
    event = delivery.event
    exchange = Exchange(settings.DCI_AMQP_EXCHANGE, type="topic", durable=True)
    connection = Connection(settings.DCI_AMQP_URL, connect_timeout=settings.DCI_WEBHOOK_TIMEOUT)
    try:
        with connection:
            producer = connection.Producer(serializer="json")
            producer.publish(
                event.payload,
                exchange=exchange,
                routing_key=f"{event.kind}.{event.status}",
                declare=[exchange],
                delivery_mode=2,
                message_id=str(delivery.idempotency_key),
                retry=False,
            )
    except (OSError, *connection.connection_errors) as exc:
        raise Undelivered(f"{type(exc).__name__}: {exc}") from None


SENDERS = {Channel.WEBHOOK: send_webhook, Channel.MAIL: send_mail_to_follower, Channel.AMQP: publish_amqp}
