"""Online services on PostgreSQL: applications carried through a three-step process, and the workbench queue page
over 100,000 open tasks, each against a baseline measured in the same run.

    .venv/bin/python bench/services.py [--applications 200] [--tasks 100000] [--rounds 3] [--renders 40] [--json]
    .venv/bin/python bench/services.py --applications 50 --tasks 10000 --rounds 1      # a quick run

In the database `zt_bench_services` (dropped and created again on every run) and its own var directory:

* setup    — migrate; divisions; the responsible department (市民政局, CITY-CA) with a window clerk (window_staff)
             and an approver (approver, trained); a citizen with an account; the shipped single_approval.bpmn
             (受理 → 审查 → 决定) uploaded through actions/definitions.py; a published item on it with an empty form.
* carry    — per round, --applications drafts started (start_draft, untimed), then timed: each is submitted
             (submit_application, which runs engine.start) and each of its three user tasks claimed and approved
             by the clerk or the approver through the workbench's actions (claim_task, decide_task →
             engine.complete), until it is APPROVED. Every step writes its audit entries and the notifications
             with their SMS copies (the file backend) as in production.
  baseline — the same number of applications (made by ORM), each with three plain UPDATEs of its status, one
             transaction each (what a status column without a process would cost).
             The rounds alternate the order of the two; the ratio (carry time / baseline time) is taken per round
             and its median reported.
* queue    — --tasks open review tasks in the approver's queue (applications and WorkTasks by bulk_create, due
             dates spread around today so some are overdue), ANALYZE; then the workbench queue page
             (services:workbench) rendered --renders times through Django's test Client as the logged-in
             approver, against the baseline of the same person's inbox page (services:inbox: the same layout, one
             short query), alternating; p50 and p95 of each and the ratio of the p95s.

No pass/fail: the goals are printed beside the numbers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

DATABASE = "zt_bench_services"
PROCESS = Path(__file__).resolve().parent.parent / "zhengtong" / "services" / "processes" / "single_approval.bpmn"
BATCH = 5000
GOAL_QUEUE_P95_MS = 500  # a queue page a clerk does not wait for
STEPS = 3


def var_dir() -> Path:
    return Path(tempfile.gettempdir()) / "zhengtong-bench-services"


# --- setup ----------------------------------------------------------------------------------------------------


def setup() -> dict[str, Any]:
    from django.utils import timezone

    from zhengtong.conftest import credit_code, resident_id
    from zhengtong.identity import actions, roles
    from zhengtong.identity.models import DivisionLevel
    from zhengtong.services.actions.definitions import upload_process
    from zhengtong.services.models import ItemStatus, ItemType, ServiceItem

    province = actions.create_division(None, code="330000", name="浙江省", level=DivisionLevel.PROVINCE, parent=None)
    city = actions.create_division(None, code="330100", name="云溪市", level=DivisionLevel.CITY, parent=province)
    actions.create_division(None, code="330106", name="东湖区", level=DivisionLevel.COUNTY, parent=city)
    department = actions.create_department(None, code="CITY-CA", name="市民政局", division=city,
                                           credit_code=credit_code(1))
    actions.ensure_roles()
    staff = {}
    for number, role in enumerate((roles.WINDOW_STAFF, roles.APPROVER), start=1):
        user = actions.create_staff(None, username=f"bench-{role}", full_name=f"员工{number}", department=department,
                                    employee_number=f"B{number:05d}", password=None)
        actions.record_training(None, user.staff, course="个人信息保护培训",
                                completed_on=datetime.date.today() - datetime.timedelta(days=30))
        actions.set_roles(None, user, (role,))
        staff[role] = user
    citizen = actions.register_citizen(None, actions.CitizenInput(
        name="王小明", resident_id=resident_id(1), phone="13800138000", division_code="330106"))
    applicant = actions.create_citizen_account(None, citizen, username="bench-citizen", password="Bench#pass2026")
    process = upload_process(None, bpmn_xml=PROCESS.read_text(encoding="utf-8"), name="单部门审批")
    now = timezone.now()
    item = ServiceItem.objects.create(
        code="BENCH-0001", name="基准测试事项", item_type=ItemType.CONFIRMATION, status=ItemStatus.PUBLISHED,
        responsible_department=department, legal_basis="基准测试", statutory_days=20, promised_days=10,
        channels=["online"], form=[], process=process, created_at=now, updated_at=now)
    return {"staff": staff, "applicant": applicant, "item": item, "department": department}


def rows(world: dict[str, Any], count: int, status: str) -> list[Any]:
    """Applications made by ORM, not drafts (an applicant has one draft of an item at a time)."""
    from django.utils import timezone

    from zhengtong.services.models import Application

    now = timezone.now()
    made = []
    for start in range(0, count, BATCH):
        made.extend(Application.objects.bulk_create(
            Application(item=world["item"], applicant=world["applicant"], status=status, created_at=now,
                        updated_at=now, submission_token=secrets.token_urlsafe(24))
            for _ in range(start, min(count, start + BATCH))))
    return made


# --- carry: submission to approval --------------------------------------------------------------------------------


def carry_one(world: dict[str, Any], application: Any) -> int:
    """Submit, then claim and approve each ready task until the application is decided; the steps taken."""
    from zhengtong.services.actions.applications import submit_application
    from zhengtong.services.actions.tasks import claim_task, decide_task
    from zhengtong.services.models import TaskOutcome, TaskStatus, WorkTask

    submit_application(world["applicant"], application)
    steps = 0
    while task := WorkTask.objects.filter(application=application, status=TaskStatus.OPEN).order_by("pk").first():
        actor = world["staff"][task.role]
        decide_task(actor, claim_task(actor, task), outcome=TaskOutcome.APPROVE)
        steps += 1
    return steps


def carry(world: dict[str, Any], count: int) -> dict[str, Any]:
    """Each application's draft is started (start_draft) untimed: an applicant has one draft of an item at a
    time. The clock runs from its submission to its approval."""
    from zhengtong.services.actions.applications import start_draft
    from zhengtong.services.models import Application, ApplicationStatus

    seconds, steps, carried = 0.0, set(), []
    for _ in range(count):
        application = start_draft(world["applicant"], world["item"])
        started = time.perf_counter()
        steps.add(carry_one(world, application))
        seconds += time.perf_counter() - started
        carried.append(application.pk)
    approved = Application.objects.filter(pk__in=carried, status=ApplicationStatus.APPROVED).count()
    if approved != count or steps != {STEPS}:
        raise SystemExit(f"carry: {approved} of {count} approved; steps per application {sorted(steps)}")
    return {"applications": count, "seconds": seconds, "per_second": count / seconds}


def baseline(world: dict[str, Any], count: int) -> dict[str, Any]:
    from django.db import transaction
    from django.utils import timezone

    from zhengtong.services.models import Application, ApplicationStatus

    applications = rows(world, count, ApplicationStatus.WITHDRAWN)  # any status but draft to start from
    statuses = (ApplicationStatus.SUBMITTED, ApplicationStatus.IN_REVIEW, ApplicationStatus.APPROVED)
    started = time.perf_counter()
    for application in applications:
        for status in statuses:
            with transaction.atomic():
                Application.objects.filter(pk=application.pk).update(status=status, updated_at=timezone.now())
    seconds = time.perf_counter() - started
    return {"applications": count, "seconds": seconds, "per_second": count / seconds}


def queries_of_one(world: dict[str, Any]) -> int:
    """SQL statements one application costs from submission to approval (steadier than time)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from zhengtong.services.actions.applications import start_draft

    application = start_draft(world["applicant"], world["item"])
    with CaptureQueriesContext(connection) as captured:
        carry_one(world, application)
    return len(captured.captured_queries)


def throughput(world: dict[str, Any], args: argparse.Namespace, log: Any) -> dict[str, Any]:
    carry(world, min(10, args.applications))  # warm-up: imports, caches, the parsed process
    rounds = []
    for number in range(args.rounds):
        phases = [("carry", carry), ("baseline", baseline)]
        if number % 2:
            phases.reverse()
        measured = {name: run(world, args.applications) for name, run in phases}
        measured["ratio"] = measured["carry"]["seconds"] / measured["baseline"]["seconds"]
        rounds.append(measured)
        log(f"  round {number + 1}/{args.rounds}: carry {measured['carry']['per_second']:,.1f} applications/s, "
            f"baseline {measured['baseline']['per_second']:,.1f}/s; ratio {measured['ratio']:.1f}")
    return {
        "rounds": rounds,
        "carry_per_second": _common.median([r["carry"]["per_second"] for r in rounds]),
        "baseline_per_second": _common.median([r["baseline"]["per_second"] for r in rounds]),
        "ratio": _common.median([r["ratio"] for r in rounds]),
        "queries_per_application": queries_of_one(world),
    }


# --- the queue page ------------------------------------------------------------------------------------------------


def seed_tasks(world: dict[str, Any], count: int, log: Any) -> None:
    from django.db import connection
    from django.utils import timezone

    from zhengtong.identity import roles
    from zhengtong.services.models import ApplicationStatus, TaskStatus, WorkTask

    now = timezone.now()
    today = timezone.localdate()
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        applications = rows(world, size, ApplicationStatus.IN_REVIEW)
        WorkTask.objects.bulk_create(
            WorkTask(application=application, element_id="Task_review", name="审查", role=roles.APPROVER,
                     status=TaskStatus.OPEN, department=world["department"], created_at=now,
                     due=today + datetime.timedelta(days=(start + index) % 30 - 5))
            for index, application in enumerate(applications))
        if start and start % (BATCH * 4) == 0:
            log(f"    {start:,} tasks")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def render_times(args: argparse.Namespace, world: dict[str, Any], log: Any) -> dict[str, Any]:
    from django.test import Client
    from django.urls import reverse

    from zhengtong.identity import roles

    client = Client(SERVER_NAME="localhost", HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(world["staff"][roles.APPROVER])
    pages = {"queue": reverse("services:workbench"), "baseline": reverse("services:inbox")}
    for name, url in pages.items():
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{name}: GET {url} answered {response.status_code}")
    times: dict[str, list[float]] = {name: [] for name in pages}
    for number in range(args.renders):
        order = list(pages) if number % 2 == 0 else list(reversed(pages))
        for name in order:
            started = time.perf_counter()
            response = client.get(pages[name])
            times[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    result: dict[str, Any] = {"renders": args.renders, "paths": pages}
    for name, values in times.items():
        result[name] = {"p50_ms": _common.percentile(values, 0.50), "p95_ms": _common.percentile(values, 0.95),
                        "max_ms": max(values)}
    result["ratio_p95"] = result["queue"]["p95_ms"] / result["baseline"]["p95_ms"]
    log(f"  queue p50 {result['queue']['p50_ms']:.0f} ms, p95 {result['queue']['p95_ms']:.0f} ms; "
        f"baseline p95 {result['baseline']['p95_ms']:.0f} ms")
    return result


# --- the run ---------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--applications", type=int, default=200,
                        help="applications carried (and baseline rows) per round (default 200)")
    parser.add_argument("--tasks", type=int, default=100_000, help="open tasks in the queue (default 100000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of carry and baseline (default 3)")
    parser.add_argument("--renders", type=int, default=40, help="renders of each page (default 40)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    shutil.rmtree(var_dir(), ignore_errors=True)
    _common.recreate_database(DATABASE)
    _common.configure(DATABASE, var_dir())
    log(f"setup: fresh database {DATABASE}, migrate ...")
    _common.migrate()
    world = setup()
    summary: dict[str, Any] = {"benchmark": "services", "machine": _common.machine(),
                               "goals": {"queue_p95_ms": f"<= {GOAL_QUEUE_P95_MS}"}}
    log(f"carry: {args.rounds} rounds of {args.applications} applications, and the baseline ...")
    summary["carry"] = throughput(world, args, log)
    log(f"queue: seeding {args.tasks:,} open tasks ...")
    seeding = time.perf_counter()
    seed_tasks(world, args.tasks, log)
    summary["seed_seconds"] = time.perf_counter() - seeding
    summary["queue"] = render_times(args, world, log) | {"tasks": args.tasks}
    summary["seconds"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        report(summary)
    return 0


def report(summary: dict[str, Any]) -> None:
    machine, run, queue = summary["machine"], summary["carry"], summary["queue"]
    print(f"services: {machine['cpus']} CPUs, PostgreSQL {machine.get('postgres')}, "
          f"shared_buffers={machine.get('shared_buffers')}, synchronous_commit={machine.get('synchronous_commit')}")
    print(f"  carry    = submit_application (engine.start) + {STEPS} x (claim_task, decide_task approve) to APPROVED:"
          f" audit, notifications and SMS copies included")
    print(f"  baseline = {STEPS} plain UPDATEs of the application's status, one transaction each")
    print(f"  {'':<9} {'applications/s':>15}")
    print(f"  {'baseline':<9} {run['baseline_per_second']:15,.1f}")
    print(f"  {'carry':<9} {run['carry_per_second']:15,.1f}")
    print(f"  ratio carry / baseline time (median of rounds): {run['ratio']:.1f}   (rounds: "
          + ", ".join(f"{r['ratio']:.1f}" for r in run["rounds"]) + ")")
    print(f"  SQL statements per application carried: {run['queries_per_application']}")
    print()
    print(f"  queue page {queue['paths']['queue']} with {queue['tasks']:,} open tasks in the approver's queue, "
          f"{queue['renders']} renders each through the test Client, alternating with the baseline "
          f"{queue['paths']['baseline']} (the same layout, one short query)")
    print(f"  {'page':<9} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    for name in ("baseline", "queue"):
        print(f"  {name:<9} {queue[name]['p50_ms']:7.1f} {queue[name]['p95_ms']:7.1f} {queue[name]['max_ms']:7.1f}")
    print(f"  ratio queue / baseline p95: {queue['ratio_p95']:.1f}   (goal: queue p95 <= {GOAL_QUEUE_P95_MS} ms)")
    print(f"  seeding the tasks took {summary['seed_seconds']:.0f} s; the whole run {summary['seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
