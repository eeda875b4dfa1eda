import pytest

from events.models import Webhook
from events.tests.receiver import Receiver
from events.tests.working import work

__all__ = ["work"]  # the tests' import of it, from here


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def webhook(team, receiver):
    return Webhook.objects.create(team=team, name="ci-bot", url=receiver.url, kinds=["job_finished"])
