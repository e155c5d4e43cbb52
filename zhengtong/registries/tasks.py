"""Background work of the registries app, run by `zhengtong worker`."""

from __future__ import annotations

from django_tasks import task

from zhengtong.registries import importing


@task()
def run_import_job(job_id: int) -> str:
    """Import the file of an ImportJob queued by `importing.start_import`; returns the job's final status. A job
    that is no longer waiting (run already, or taken by another worker) is left alone."""
    return importing.run_job(job_id)
