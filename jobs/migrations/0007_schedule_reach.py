"""``dci_schedule`` takes whether the remoteci's team reaches the topic (``p_reachable``).

The topic-access rule (SPEC §11: a subscription, or the topic's product linked to the team with
the topic exported or the team given pre-release access) is declared once, by
``jobs.models.Topic.visible_to``; ``jobs.scheduling`` reads it, as SQL, with the candidates (for
the remoteci's team) and hands the answer to the function, which used to look at subscriptions
alone. Everything else is the function of ``0003_schedule_function``.
"""

import importlib

from django.db import migrations

_0003 = importlib.import_module("jobs.migrations.0003_schedule_function")
PREVIOUS = _0003.CREATE[_0003.CREATE.index("-- The next job of a topic") :]
SUBSCRIBED = """,
           EXISTS (SELECT 1 FROM jobs_topicsubscription s WHERE s.topic_id = p_topic AND s.team_id = r.team_id)
               AS subscribed"""
assert SUBSCRIBED in PREVIOUS and "p_kill_unfinished boolean,\n" in PREVIOUS
CREATE = (
    PREVIOUS.replace("p_kill_unfinished boolean,\n", "p_kill_unfinished boolean, p_reachable boolean,\n")
    .replace(SUBSCRIBED, "")
    .replace("IF NOT v_remoteci.subscribed THEN", "IF NOT p_reachable THEN")
)

operations_forward = [
    "DROP FUNCTION dci_schedule(uuid, uuid, json, text, text, boolean);",
    CREATE,
]
operations_backward = [
    "DROP FUNCTION dci_schedule(uuid, uuid, json, text, text, boolean, boolean);",
    PREVIOUS,
]


class Migration(migrations.Migration):
    dependencies = [("jobs", "0006_products")]

    operations = [migrations.RunSQL(operations_forward, operations_backward)]
