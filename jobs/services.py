"""Business rules of jobs: creation, updates, jobstates and their side effects.

Plain functions named ``<entity>_<action>`` with keyword-only arguments, called by
the viewsets, the admin actions and the management commands alike.
"""

from django.utils import timezone

from dciserver.models import new_etag
from jobs.models import Job


def job_heartbeat(*, job_id, status=None):
    """Refresh a job's ``updated_at`` (its heartbeat) and etag, and set its status if given.

    Called whenever a jobstate or a file is added to the job. Returns the new etag.
    """
    fresh = new_etag()
    changes = {"etag": fresh, "updated_at": timezone.now()}
    if status is not None:
        changes["status"] = status
    Job.objects.filter(pk=job_id).update(**changes)
    return fresh
