"""Audit appends per second with concurrent writers on PostgreSQL, against plain inserts of the same rows.

    .venv/bin/python bench/audit_append.py [--writers 4] [--entries 20000] [--rounds 3] [--existing N] [--json]

Phases, all in this run, on a fresh database `zhengtong_bench_append` each round (empty, or with --existing N a
copy of the N-entry log that audit_verify.py caches):

* plain   — the writers insert the same rows (same values, one entry and its subject row per transaction) into
            bench_plain_entry / bench_plain_subject: raw SQL, tables created LIKE the audit tables (same column
            types, defaults and indexes), without the append-only triggers, with no sequencer running.
* audit   — the writers call zhengtong.audit.actions.record inside transaction.atomic(), one entry per
            transaction as actions do, while zhengtong.audit.sequencer.Sequencer runs in its own process (as in
            `zhengtong worker`). Afterwards: the delay from each entry's commit to the timestamp of the first
            signed tree head that includes it.
* audit-noseq (diagnostic; leave it out of --phases to skip) — the same record() calls with no sequencer running, to
            tell the writers' own cost from the sequencer's competition for the two cores.

Prints appends/s for each phase and the ratio audit time / plain time. No pass/fail: the goals (>= 5,000
appends/s, ratio <= 1.5, inclusion <= 1 s) are printed beside the numbers.
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

DATABASE = "zhengtong_bench_append"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GOAL_RATE = 5000
GOAL_RATIO = 1.5
GOAL_INCLUSION = 1.0

ACTIONS = ("person.view", "person.reveal", "case.update", "case.view", "licence.issue")
FIELDS = ("name", "phone", "address", "resident_id", "birth_date", "email")
DEPARTMENTS = ("civil_affairs", "public_security", "market_regulation", "health", "human_resources")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"

PLAIN_COLUMNS = (
    "occurred_at", "actor_kind", "actor_id", "actor_name", "actor_department", "actor_roles", "on_behalf_of",
    "action", "object_type", "object_id", "subjects", "fields", "purpose", "legal_basis", "case_reference",
    "result", "request_id", "client_address", "detail",
)
PLAIN_INSERT = (
    f"INSERT INTO bench_plain_entry ({', '.join(PLAIN_COLUMNS)}) "  # noqa: S608 (constant column names)
    f"VALUES ({', '.join(['%s'] * len(PLAIN_COLUMNS))}) RETURNING id"
)
PLAIN_SUBJECT_INSERT = "INSERT INTO bench_plain_subject (entry_id, subject_hash) VALUES (%s, %s)"


def resident_id(rng: random.Random) -> str:
    body = f"{rng.randint(110000, 659999)}{rng.randint(1950, 2010)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


def workload(writer: int, count: int) -> list[dict[str, object]]:
    """The values of `count` realistic entries for one writer (built before timing starts)."""
    rng = random.Random(1000 + writer)  # noqa: S311 (test data)
    staff = []
    for n in range(20):
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        staff.append({"kind": "staff", "id": str(writer * 100 + n + 1), "name": name,
                      "department": rng.choice(DEPARTMENTS), "roles": "caseworker"})
    rows = []
    for _ in range(count):
        action = rng.choice(ACTIONS)
        rows.append({
            "actor": rng.choice(staff), "action": action, "object_type": "identity.person",
            "object_id": str(rng.randint(1, 2_000_000)), "subject": resident_id(rng),
            "fields": sorted(rng.sample(FIELDS, 2)), "purpose": "办理居民事项",
            "legal_basis": "《个人信息保护法》第十三条",
            "case_reference": f"CASE-{rng.randint(1, 99999):05d}" if action == "person.reveal" else "",
            "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        })
    return rows


# --- the writers (run in child processes) ---------------------------------------------------------------------------


def _writer(phase: str, writer: int, count: int, barrier, results) -> None:  # noqa: ANN001 (multiprocessing)
    from django.db import connection, transaction
    from django.utils import timezone

    from zhengtong.audit import subjects as subject_keys
    from zhengtong.audit.actions import Actor, record
    from zhengtong.core.context import RequestContext, reset_current_request, set_current_request

    rows = workload(writer, count)
    hashes = [subject_keys.subject_hash(row["subject"]) for row in rows]  # for the plain rows; loads the key
    actors = {id(row["actor"]): Actor(**row["actor"]) for row in rows}
    backend = backend_pid()
    if os.environ.get("BENCH_SYNCHRONOUS_COMMIT"):
        with connection.cursor() as cursor:
            cursor.execute(f"SET synchronous_commit = {os.environ['BENCH_SYNCHRONOUS_COMMIT']}")
    ids: list[int] = []
    committed: list[float] = []
    barrier.wait()
    started = time.time()
    cpu_before, backend_before = time.process_time(), process_cpu(backend)
    if phase == "plain":
        for row, subject_hash in zip(rows, hashes, strict=True):
            actor = row["actor"]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(PLAIN_INSERT, [
                    timezone.now(), actor["kind"], actor["id"], actor["name"], actor["department"], actor["roles"],
                    "", row["action"], row["object_type"], row["object_id"], json.dumps([subject_hash]),
                    json.dumps(row["fields"]), row["purpose"], row["legal_basis"], row["case_reference"], "ok",
                    row["request_id"], "127.0.0.1", "{}",
                ])
                entry_id = cursor.fetchone()[0]
                cursor.execute(PLAIN_SUBJECT_INSERT, [entry_id, subject_hash])
            committed.append(time.time())
            ids.append(entry_id)
    else:
        for row in rows:
            token = set_current_request(RequestContext(request_id=row["request_id"], client_address="127.0.0.1"))
            with transaction.atomic():
                entry = record(row["action"], actors[id(row["actor"])], object_type=row["object_type"],
                               object_id=row["object_id"], subjects=[row["subject"]], fields=row["fields"],
                               purpose=row["purpose"], legal_basis=row["legal_basis"],
                               case_reference=row["case_reference"])
            committed.append(time.time())
            reset_current_request(token)
            ids.append(entry.id)
    finished = time.time()
    cpu, backend_cpu = time.process_time() - cpu_before, process_cpu(backend) - backend_before
    connection.close()
    results.put({"writer": writer, "started": started, "finished": finished, "ids": ids, "committed": committed,
                 "cpu": cpu, "backend_cpu": backend_cpu})


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def process_cpu(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process (PostgreSQL backends run on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _sequencer(stop, report) -> None:  # noqa: ANN001 (multiprocessing)
    from zhengtong.audit.sequencer import Sequencer

    backend = backend_pid()
    cpu_before, backend_before = time.process_time(), process_cpu(backend)
    Sequencer().run(stop)
    cpu = time.process_time() - cpu_before
    try:
        backend_cpu = process_cpu(backend) - backend_before if backend_pid() == backend else None
    except OSError:
        backend_cpu = None
    report.put({"cpu": cpu, "backend_cpu": backend_cpu})


def run_phase(phase: str, writers: int, per_writer: int, *, sequencer: bool) -> dict[str, object]:
    from django.db import connections

    connections.close_all()  # children are forked: none may inherit an open connection
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    sequencer_process = None
    sequencer_report = context.Queue()
    if sequencer:
        sequencer_process = context.Process(target=_sequencer, args=(stop, sequencer_report), name="sequencer")
        sequencer_process.start()
    barrier = context.Barrier(writers)
    results = context.Queue()
    processes = [context.Process(target=_writer, args=(phase, n, per_writer, barrier, results), name=f"writer-{n}")
                 for n in range(writers)]
    for process in processes:
        process.start()
    outcomes = [results.get() for _ in processes]
    for process in processes:
        process.join()
    started = min(outcome["started"] for outcome in outcomes)
    finished = max(outcome["finished"] for outcome in outcomes)
    total = sum(len(outcome["ids"]) for outcome in outcomes)
    result: dict[str, object] = {
        "phase": phase, "writers": writers, "entries": total, "seconds": finished - started,
        "appends_per_second": total / (finished - started),
        "appends_per_second_by_tenth": rate_by_tenth(outcomes, started, finished),
        "cpu_ms_per_append": {
            "writers_python": 1000 * sum(outcome["cpu"] for outcome in outcomes) / total,
            "writers_postgres_backends": 1000 * sum(outcome["backend_cpu"] for outcome in outcomes) / total,
        },
    }
    if sequencer_process is not None:
        result.update(wait_for_sequencer(outcomes, finished))
        stop.set()
        sequencer_cpu = sequencer_report.get(timeout=60)
        result["cpu_ms_per_append"]["sequencer_python"] = 1000 * sequencer_cpu["cpu"] / total
        if sequencer_cpu["backend_cpu"] is not None:
            result["cpu_ms_per_append"]["sequencer_postgres_backend"] = 1000 * sequencer_cpu["backend_cpu"] / total
        sequencer_process.join(timeout=30)
        if sequencer_process.is_alive():
            sequencer_process.terminate()
    return result


def rate_by_tenth(outcomes: list[dict], started: float, finished: float) -> list[float]:
    """Appends/s in each tenth of the phase: shows whether the rate holds up as the tables grow."""
    width = (finished - started) / 10
    counts = [0] * 10
    for outcome in outcomes:
        for moment in outcome["committed"]:
            counts[min(9, int((moment - started) / width))] += 1
    return [round(count / width) for count in counts]


def wait_for_sequencer(outcomes: list[dict], writers_finished: float, timeout: float = 120.0) -> dict[str, object]:
    """Wait until every entry written has a leaf in a signed head; then the commit-to-head delay of each."""
    from django.db import connection

    from zhengtong.audit.models import AuditLeaf, TreeHead

    ids = [entry_id for outcome in outcomes for entry_id in outcome["ids"]]
    committed = {entry_id: moment for outcome in outcomes
                 for entry_id, moment in zip(outcome["ids"], outcome["committed"], strict=True)}
    deadline = time.time() + timeout
    while True:
        leaves = dict(AuditLeaf.objects.filter(entry_id__in=ids).values_list("entry_id", "index"))
        heads = list(TreeHead.objects.order_by("tree_size").values_list("tree_size", "timestamp"))
        top = heads[-1][0] if heads else 0
        if len(leaves) == len(ids) and all(index < top for index in leaves.values()):
            break
        if time.time() > deadline:
            break
        time.sleep(0.1)
    caught_up = time.time()
    connection.close()
    sizes = [size for size, _ in heads]
    delays = []
    for entry_id, index in leaves.items():
        position = bisect.bisect_right(sizes, index)  # first head with tree_size > index
        if position < len(heads):
            delays.append(heads[position][1].timestamp() - committed[entry_id])
    result: dict[str, object] = {
        "_delays": delays, "sequenced": len(delays), "unsequenced_after_timeout": len(ids) - len(delays),
        "tree_heads_signed": len(heads), "sequencer_caught_up_after_writers_s": caught_up - writers_finished,
    }
    if delays:
        result["inclusion_delay_s"] = delay_summary(delays)
    return result


# --- set-up ---------------------------------------------------------------------------------------------------------


def create_plain_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for plain, audit in (("bench_plain_entry", "audit_auditentry"), ("bench_plain_subject", "audit_auditsubject")):
            # Same column types, defaults, identity and indexes; LIKE copies no triggers.
            cursor.execute(f"DROP TABLE IF EXISTS {plain}")
            cursor.execute(f"CREATE TABLE {plain} (LIKE {audit} INCLUDING ALL)")
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid IN "
                       "('bench_plain_entry'::regclass, 'bench_plain_subject'::regclass)")
        assert cursor.fetchone()[0] == 0


def audit_entries_sequenced() -> None:
    """Start the audit phases with every entry sequenced, so the sequencer is not catching up on a backlog."""
    from zhengtong.audit.models import AuditEntry

    assert not AuditEntry.objects.filter(leaf__isnull=True).exists()


def fresh_database(existing: int) -> None:
    """An empty database, or a copy of the cached log of `existing` entries built by audit_verify.py."""
    if not existing:
        _common.recreate_database(DATABASE)
        return
    from psycopg import sql

    template = f"zhengtong_bench_verify_{existing}"
    if not _common.database_exists(template):
        raise SystemExit(f"no cached log of {existing} entries: run .venv/bin/python bench/audit_verify.py "
                         f"--entries {existing} --build-only first")
    with _common.admin_connection() as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        connection.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(DATABASE),
                                                                           sql.Identifier(template)))


def copy_existing_into_plain_tables() -> None:
    """With --existing, the plain tables start as large as the audit ones (same rows), for a fair baseline."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_plain_entry SELECT * FROM audit_auditentry")
        cursor.execute("INSERT INTO bench_plain_subject SELECT * FROM audit_auditsubject")
        for table in ("bench_plain_entry", "bench_plain_subject"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 (constants)
                           f"(SELECT coalesce(max(id), 0) + 1 FROM {table}))")
            cursor.execute(f"ANALYZE {table}")


PHASES = ("plain", "audit", "audit-noseq")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=4, help="concurrent writer processes (default 4)")
    parser.add_argument("--entries", type=int, default=20_000, help="entries per phase, all writers (default 20000)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="repeat the phases this many times, alternating, each round on a fresh database; "
                             "rates and the ratio are the median over rounds (default 3)")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"comma-separated, in order, from {', '.join(PHASES)} (default all)")
    parser.add_argument("--existing", type=int, default=0,
                        help="start each round on a copy of the log of this many entries cached by "
                             "audit_verify.py (e.g. 1000000), to see how appending and sequencing behave on a "
                             "large log (default 0: an empty log)")
    parser.add_argument("--synchronous-commit", choices=("on", "off"),
                        help="diagnostic: set synchronous_commit for the writers' sessions (default: the server's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args(argv)
    wanted = [name.strip() for name in args.phases.split(",") if name.strip()]
    if unknown := set(wanted) - set(PHASES):
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if args.synchronous_commit:
        os.environ["BENCH_SYNCHRONOUS_COMMIT"] = args.synchronous_commit

    var_dir = Path(tempfile.mkdtemp(prefix="zhengtong-bench-append-"))
    if args.existing:
        # The cached log's keys, so that the subject hashes and the signing key stay those of that log.
        source = Path(tempfile.gettempdir()) / f"zhengtong-bench-verify-{args.existing}"
        for name in ("keys", "audit_subject_key", "secret_key"):
            if (source / name).is_dir():
                shutil.copytree(source / name, var_dir / name)
            elif (source / name).exists():
                shutil.copy2(source / name, var_dir / name)
    fresh_database(args.existing)
    _common.configure(DATABASE, var_dir)
    from django.db import connections

    from zhengtong.audit import sequencer

    per_writer = max(1, args.entries // args.writers)
    phases: list[dict] = []
    for round_number in range(args.rounds):
        if round_number:
            connections.close_all()
            fresh_database(args.existing)
        _common.migrate()
        create_plain_tables()
        if args.existing:
            copy_existing_into_plain_tables()
        audit_entries_sequenced()
        for name in wanted:
            phase = run_phase(name, args.writers, per_writer, sequencer=name == "audit")
            phases.append(phase | {"round": round_number})
            if not args.json:
                print(f"  round {round_number + 1}/{args.rounds} {name:12} {phase['appends_per_second']:8,.0f} "
                      f"appends/s", file=sys.stderr)
    connections.close_all()

    summary: dict[str, object] = {
        "benchmark": "audit_append", "machine": _common.machine(), "database": DATABASE,
        "writers": args.writers, "entries_per_phase": per_writer * args.writers, "rounds": args.rounds,
        "existing_entries": args.existing,
        "synchronous_commit": args.synchronous_commit or _common.machine().get("synchronous_commit"),
        "sequencer": {"INTERVAL_SECONDS": sequencer.INTERVAL_SECONDS, "BATCH": sequencer.BATCH},
        "goals": {"audit_appends_per_second": f">= {GOAL_RATE}", "ratio_audit_to_plain_time": f"<= {GOAL_RATIO}",
                  "inclusion_delay_s.max": f"<= {GOAL_INCLUSION}"},
    }
    for name in wanted:
        runs = [phase for phase in phases if phase["phase"] == name]
        key = name.replace("-", "_")
        summary[f"{key}_appends_per_second"] = _common.median([run["appends_per_second"] for run in runs])
        summary[f"{key}_cpu_ms_per_append"] = {
            part: _common.median([run["cpu_ms_per_append"][part] for run in runs if part in run["cpu_ms_per_append"]])
            for part in runs[0]["cpu_ms_per_append"]}
    cpus = os.cpu_count() or 1
    for name in wanted:
        key = name.replace("-", "_")
        total = sum(summary[f"{key}_cpu_ms_per_append"].values())
        summary[f"{key}_cpu_ms_per_append_total"] = total
        summary[f"{key}_cpu_bound_ceiling_per_second"] = cpus * 1000 / total
    if "plain" in wanted and "audit" in wanted:
        summary["ratio_audit_to_plain_cpu"] = summary["audit_cpu_ms_per_append_total"] / summary[
            "plain_cpu_ms_per_append_total"]
        plains = [phase for phase in phases if phase["phase"] == "plain"]
        audits = [phase for phase in phases if phase["phase"] == "audit"]
        ratios = [audit["seconds"] / plain["seconds"] for plain, audit in zip(plains, audits, strict=True)]
        summary["ratio_audit_to_plain_time"] = _common.median(ratios)
        summary["ratio_per_round"] = ratios
    delays = [delay for phase in phases for delay in phase.pop("_delays", [])]
    if delays:
        audits = [phase for phase in phases if phase["phase"] == "audit"]
        summary["inclusion_delay_s"] = delay_summary(delays)
        summary["tree_heads_signed_per_round"] = [phase["tree_heads_signed"] for phase in audits]
        summary["unsequenced_after_timeout"] = sum(phase["unsequenced_after_timeout"] for phase in audits)
    summary["phases"] = phases
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        report(summary)
    return 0


def delay_summary(delays: list[float]) -> dict[str, float]:
    return {"p50": _common.percentile(delays, 0.50), "p95": _common.percentile(delays, 0.95),
            "p99": _common.percentile(delays, 0.99), "max": max(delays), "min": min(delays), "count": len(delays)}


def report(summary: dict) -> None:
    machine = summary["machine"]
    print(f"audit_append: {summary['writers']} writer processes, {summary['entries_per_phase']:,} entries a phase, "
          f"one entry per transaction, {summary['rounds']} round(s) (medians shown)"
          + (f", on a log of {summary['existing_entries']:,} existing entries" if summary["existing_entries"] else ""))
    print(f"machine: {machine['cpus']} CPUs, PostgreSQL {machine.get('postgres')}, "
          f"synchronous_commit={summary['synchronous_commit']}; sequencer INTERVAL_SECONDS="
          f"{summary['sequencer']['INTERVAL_SECONDS']}, BATCH={summary['sequencer']['BATCH']}")
    print()
    rows = [("plain", "plain inserts (baseline)", ""), ("audit", "record() + sequencer", f"goal >= {GOAL_RATE:,}"),
            ("audit_noseq", "record(), no sequencer", "diagnostic")]
    print(f"  {'':28} {'appends/s':>10}   {'CPU-bound ceiling':>17}   CPU ms per append: writers + their backends "
          f"(+ sequencer + its backend)")
    for key, label, note in rows:
        if f"{key}_appends_per_second" not in summary:
            continue
        cpu = summary[f"{key}_cpu_ms_per_append"]
        parts = f"{cpu['writers_python']:.2f} + {cpu['writers_postgres_backends']:.2f}"
        if "sequencer_python" in cpu:
            parts += f" (+ {cpu['sequencer_python']:.2f} + {cpu.get('sequencer_postgres_backend', float('nan')):.2f})"
        ceiling = summary[f"{key}_cpu_bound_ceiling_per_second"]
        print(f"  {label:28} {summary[f'{key}_appends_per_second']:10,.0f}   {ceiling:15,.0f}/s   "
              f"{parts:40} {note}")
    if "ratio_audit_to_plain_time" in summary:
        per_round = ", ".join(f"{ratio:.2f}" for ratio in summary["ratio_per_round"])
        print(f"  {'ratio audit / plain time':28} {summary['ratio_audit_to_plain_time']:10.2f}   "
              f"rounds: {per_round}   goal <= {GOAL_RATIO}")
        print(f"  {'ratio audit / plain CPU':28} {summary['ratio_audit_to_plain_cpu']:10.2f}   "
              f"(CPU per append, all processes: steadier than time on a shared machine)")
    delay = summary.get("inclusion_delay_s")
    if delay:
        print(f"  commit -> signed tree head   p50 {delay['p50'] * 1000:.0f} ms, p95 {delay['p95'] * 1000:.0f} ms, "
              f"p99 {delay['p99'] * 1000:.0f} ms, max {delay['max'] * 1000:.0f} ms "
              f"({delay['count']:,} entries)   goal <= {GOAL_INCLUSION * 1000:.0f} ms")
        print(f"  tree heads signed per round  {summary['tree_heads_signed_per_round']}")
        if summary["unsequenced_after_timeout"]:
            print(f"  WARNING: {summary['unsequenced_after_timeout']} entries not in a signed head after the timeout")


if __name__ == "__main__":
    sys.exit(main())
