"""The worker's tasks run in the test's own process."""

from unittest import mock

from django_tasks_db.management.commands.db_worker import Worker


def work():
    """Run every task that is due, in this process (django_tasks_db's worker, in batch mode; the
    connection it would close between tasks is the test's own)."""
    with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
        _worker().run()


def _worker():
    return Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )
