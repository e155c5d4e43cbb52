"""Staff tasks of the workbench: each ready BPMN user task of an application becomes a WorkTask in the queue of
a department and role; comments are kept beside them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from zhengtong.identity.models import Department, ScopePaths

from .applications import Application

__all__ = ["TaskComment", "TaskKind", "TaskOutcome", "TaskStatus", "WorkTask"]


class TaskKind(models.TextChoices):
    REVIEW = "review", _("review")  # a BPMN user task
    POST_CHECK = "post_check", _("post-check of a commitment")  # 告知承诺 事后核查, outside the process


class TaskStatus(models.TextChoices):
    OPEN = "open", _("open")
    CLAIMED = "claimed", _("claimed")
    DONE = "done", _("done")
    CANCELLED = "cancelled", _("cancelled")


class TaskOutcome(models.TextChoices):
    APPROVE = "approve", _("approved")
    REJECT = "reject", _("rejected")
    RETURN = "return", _("returned for correction")
    CHECKED = "checked", _("checked")


class WorkTask(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(_("kind"), max_length=16, choices=TaskKind.choices, default=TaskKind.REVIEW)
    # The SpiffWorkflow task this stands for (its UUID) and the BPMN element (its id and name).
    workflow_task_id = models.CharField(max_length=36, blank=True, editable=False)
    element_id = models.CharField(_("step"), max_length=100, blank=True)
    name = models.CharField(_("task"), max_length=200)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="work_tasks",
                                   verbose_name=_("department"))
    role = models.CharField(_("role"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="claimed_tasks", verbose_name=_("claimed by"))
    created_at = models.DateTimeField(_("created at"))
    due = models.DateField(_("due"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    completed_by_name = models.CharField(_("completed by"), max_length=200, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=TaskOutcome.choices, blank=True)
    outcome_reason = models.TextField(_("reason"), blank=True)
    data_scope_paths = ScopePaths(department="department", division="department__division")

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["due", "created_at", "pk"]
        indexes = [models.Index(fields=["department", "role", "status", "due"]),
                   models.Index(fields=["claimed_by", "status"]),
                   # The workbench queue in its order, for active tasks only: a page is read off the index
                   # without sorting the department's whole load (migration 0005_workbench).
                   models.Index(fields=["department", "due", "created_at", "id"],
                                condition=models.Q(status__in=["open", "claimed"]), name="services_task_queue")]
        permissions = [("supervise_worktask", "See the department's load and overdue tasks")]

    def __str__(self) -> str:
        return f"{self.name} · {self.application}"


class TaskComment(models.Model):
    task = models.ForeignKey(WorkTask, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    author_name = models.CharField(max_length=200)
    text = models.TextField(_("comment"))
    created_at = models.DateTimeField(_("written at"))

    class Meta:
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.author_name}: {self.text[:40]}"
