"""Job events to an AMQP topic exchange (SPEC §17), against the RabbitMQ of this machine."""

import socket
import uuid

import pytest
from kombu import Connection, Exchange, Queue

from events.models import Delivery
from events.tests.conftest import work
from jobs import services

BROKER = "amqp://guest:guest@127.0.0.1:5672//"


def broker_runs():
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not broker_runs(), reason="no AMQP broker on 127.0.0.1:5672 (CI runs RabbitMQ)")


@pytest.fixture
def exchange(settings):
    settings.DCI_AMQP_URL = BROKER
    settings.DCI_AMQP_EXCHANGE = f"dci-test-{uuid.uuid4().hex[:8]}"
    exchange = Exchange(settings.DCI_AMQP_EXCHANGE, type="topic", durable=True)
    with Connection(BROKER) as connection:
        queue = Queue(f"{settings.DCI_AMQP_EXCHANGE}-failures", exchange, routing_key="job_finished.failure")
        queue = queue(connection.default_channel)
        queue.declare()
        yield queue
        queue.delete()
        exchange(connection.default_channel).delete()


@pytest.mark.django_db
def test_a_finished_job_is_published_to_the_exchange(job, exchange):
    services.jobstate_create(job=job, status="running")
    services.jobstate_create(job=job, status="failure")
    work()

    message = exchange.get(no_ack=True)
    assert message is not None
    delivery = Delivery.objects.get(channel="amqp")
    assert message.delivery_info["routing_key"] == "job_finished.failure"
    assert message.properties["message_id"] == str(delivery.idempotency_key)
    body = message.decode()
    assert (body["event"], body["status"], body["job"]["id"]) == ("job_finished", "failure", str(job.id))
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert exchange.get(no_ack=True) is None  # once


@pytest.mark.django_db
def test_a_success_is_routed_apart_from_failures(job, exchange):
    services.jobstate_create(job=job, status="success")
    work()

    assert Delivery.objects.get(channel="amqp").status == "delivered"
    assert exchange.get(no_ack=True) is None  # bound to failures only


@pytest.mark.django_db
def test_a_broker_away_is_retried(settings, job, exchange):
    settings.DCI_AMQP_URL = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens there
    services.jobstate_create(job=job, status="failure")
    work()

    delivery = Delivery.objects.get(channel="amqp")
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error and delivery.next_try_at is not None
