"""``manage.py events_worker``: django_tasks_db's worker (``db_worker``, its options), and beside
it a thread taking over the work of workers that died (``events.tasks.recover``), at start and
every ``--recover-every`` seconds. Run as many as wanted, on as many machines.

``--with-parent``: stop (gracefully) when the process that started it is gone: ``make run``
starts one beside gunicorn, and it must not outlive it."""

import logging
import os
import signal
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection
from django_tasks_db.management.commands.db_worker import Command as DBWorker

from events.tasks import recover

logger = logging.getLogger("events")


class Command(DBWorker):
    help = "Deliver events: webhooks, mails, AMQP (SPEC §17)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--recover-every",
            type=float,
            default=settings.DCI_EVENTS_RECOVER_EVERY,
            help="Seconds between looks for the work of dead workers (default: %(default)s).",
        )
        parser.add_argument("--with-parent", action="store_true", help="Stop when the parent process is gone.")

    def handle(self, *args, recover_every, with_parent, **options):
        threading.Thread(target=self.recovering, args=(recover_every,), daemon=True, name="recover").start()
        if with_parent:
            threading.Thread(target=self.watching, args=(os.getppid(),), daemon=True, name="parent").start()
        super().handle(*args, **options)

    def watching(self, parent):
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    def recovering(self, every):
        while True:
            try:
                close_old_connections()
                recover()
            except Exception:  # the database away for a while: try again at the next turn
                logger.exception("Recovering the work of dead workers failed")
                connection.close()
            time.sleep(every)
