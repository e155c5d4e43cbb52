"""`verify_trail` over a large audit log, against a baseline of reading the same rows, and its peak memory.

    .venv/bin/python bench/audit_verify.py [--entries 100000,1000000] [--repeat 1] [--rebuild] [--json]

For each size N it needs a database `zhengtong_bench_verify_<N>` holding a genuine trail of N entries: entries
and their subject rows are bulk-loaded with COPY (realistic values, times in the past), then the project's own
Sequencer is stepped until every entry has its leaf, nodes and signed tree heads (one head per BATCH, as in
production; the witness file is written by the sequencer too). The database and its var directory (signing key,
subject key, witness file, under the system temp directory) are kept and reused while the size matches, so only
the first run of a size pays for the build (--rebuild forces it). The build time and the sequencing rate are
reported as well.

Then, each in a fresh subprocess (so the peak RSS is the run's own):

* rawread — a lower reference: every leaf joined to its entry's canonical fields, one query streamed from a
            server-side cursor, no Django row conversion.
* read    — the baseline: verify's own queries (see read_baseline), streamed in the same chunks, computing
            nothing.
* verify  — zhengtong.audit.verify.verify_trail(progress=False).

Reports the time of each, the ratio verify / read (goal <= 3), and each subprocess's peak RSS (VmHWM) at every
size: memory that does not grow with the log is the point. No pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

GOAL_RATIO = 3.0
DEFAULT_SIZES = "100000,1000000"
FALLBACK_CHUNK = 2000  # rows per chunk for the read baseline when verify.CHUNK_SIZE cannot be imported


def database_name(size: int) -> str:
    return f"zhengtong_bench_verify_{size}"


def var_dir(size: int) -> Path:
    return Path(tempfile.gettempdir()) / f"zhengtong-bench-verify-{size}"


# --- building the log (child process) -------------------------------------------------------------------------------


def cached(size: int) -> dict | None:
    """The build record of an intact cached trail of `size` entries, or None."""
    if not _common.database_exists(database_name(size)) or not (var_dir(size) / "audit-witness.jsonl").exists():
        return None
    import psycopg

    try:
        with psycopg.connect(_common.database_url(database_name(size))) as connection:
            row = connection.execute("SELECT info FROM bench_meta WHERE entries = %s AND complete", [size]).fetchone()
            if row is None:
                return None
            top = connection.execute("SELECT max(tree_size) FROM audit_treehead").fetchone()[0]
    except psycopg.Error:
        return None
    return row[0] if top == size else None


ENTRY_COLUMNS = (
    "id", "occurred_at", "actor_kind", "actor_id", "actor_name", "actor_department", "actor_roles", "on_behalf_of",
    "action", "object_type", "object_id", "subjects", "fields", "purpose", "legal_basis", "case_reference",
    "result", "request_id", "client_address", "detail",
)


def child_build(size: int) -> dict:
    import datetime as dt
    import random
    import shutil

    import audit_append  # the same realistic values as the append benchmark

    name, directory = database_name(size), var_dir(size)
    started = time.perf_counter()
    _common.recreate_database(name)
    shutil.rmtree(directory, ignore_errors=True)
    _common.configure(name, directory)
    _common.migrate()
    from django.db import connection

    from zhengtong.audit import sequencer as sequencer_module
    from zhengtong.audit import subjects as subject_keys
    from zhengtong.audit.sequencer import Sequencer

    migrated = time.perf_counter()
    rng = random.Random(7)  # noqa: S311 (test data)
    residents = [audit_append.resident_id(rng) for _ in range(min(size, 50_000))]
    hashes = [subject_keys.subject_hash(resident) for resident in residents]
    # Entries a few days old (older than the sequencer's grace period), 100 ms apart, ending an hour ago.
    step = dt.timedelta(milliseconds=100)
    first_time = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1) - size * step
    writers = 8
    per_writer = 2000
    templates = [row for writer in range(writers) for row in audit_append.workload(writer, per_writer)]
    raw = connection.connection  # the psycopg connection under Django's
    entry_copy = f"COPY audit_auditentry ({', '.join(ENTRY_COLUMNS)}) FROM STDIN"
    with raw.transaction(), raw.cursor() as cursor:
        with cursor.copy(entry_copy) as copy:
            for n in range(size):
                row = templates[n % len(templates)]
                actor = row["actor"]
                subject = hashes[rng.randrange(len(hashes))]
                copy.write_row((
                    n + 1, first_time + n * step, actor["kind"], actor["id"], actor["name"], actor["department"],
                    actor["roles"], "", row["action"], row["object_type"], str(n % 2_000_000 + 1),
                    json.dumps([subject]), json.dumps(row["fields"], ensure_ascii=False), row["purpose"],
                    row["legal_basis"], row["case_reference"], "ok", f"{n:032x}", "127.0.0.1",
                    "{}" if n % 10 else json.dumps({"note": "批量办理", "batch": n // 10}, ensure_ascii=False),
                ))
        # The subject rows, read back from the entries just written, as record() writes them.
        cursor.execute("INSERT INTO audit_auditsubject (entry_id, subject_hash) "
                       "SELECT id, jsonb_array_elements_text(subjects) FROM audit_auditentry")
        cursor.execute("SELECT setval(pg_get_serial_sequence('audit_auditentry', 'id'), %s)", [size])
    with raw.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditentry")
        cursor.execute("ANALYZE audit_auditsubject")
    loaded = time.perf_counter()

    sequencer = Sequencer()
    sequenced = 0
    while True:
        added = sequencer.step()
        if not added:
            break
        sequenced += added
    finished = time.perf_counter()
    with raw.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("SELECT count(*), max(tree_size) FROM audit_treehead")
        heads, top = cursor.fetchone()
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        database_size = cursor.fetchone()[0]
    assert sequenced == size and top == size, (sequenced, top)
    info = {
        "entries": size, "tree_heads": heads, "database_size": database_size,
        "migrate_s": migrated - started, "load_s": loaded - migrated, "sequence_s": finished - loaded,
        "sequenced_per_second": size / (finished - loaded), "sequencer_batch": sequencer_module.BATCH,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    with raw.transaction(), raw.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_meta (entries bigint, complete boolean, info jsonb)")
        cursor.execute("INSERT INTO bench_meta VALUES (%s, true, %s)", [size, json.dumps(info)])
    connection.close()
    return info


# --- the timed runs (child processes) -------------------------------------------------------------------------------


def peak_rss_kib() -> dict[str, int]:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {"VmHWM_kib": int(status["VmHWM"].split()[0]), "VmRSS_kib": int(status["VmRSS"].split()[0]),
            "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def read_baseline(chunk: int) -> int:
    """Read what verify_trail reads, with its queries, streamed as it streams them, computing nothing.

    Mirrors zhengtong/audit/verify.py as of this writing: the leaves in index order from one streaming ORM
    query (`.values_list(...).iterator(chunk_size)`) taken a chunk at a time; the entries in id order from a
    second streaming query (`.values(*canonical.LEAF_FIELDS).iterator(chunk_size)`), one per leaf; for each
    chunk the complete subtrees it finishes (one query of per-level index ranges); the signed heads a page at a
    time; the signing keys; the witness file line by line. If verify's query shape changes, change this too.
    """
    from django.conf import settings
    from django.db.models import Max, Q

    from zhengtong.audit import canonical
    from zhengtong.audit.models import AuditEntry, AuditLeaf, MerkleNode, SigningKeyRecord, TreeHead

    last = AuditLeaf.objects.aggregate(last=Max("index"))["last"]
    limit = 0 if last is None else last + 1
    list(SigningKeyRecord.objects.all())
    witness = Path(settings.AUDIT_WITNESS)
    if witness.exists():
        with witness.open(encoding="utf-8") as handle:
            for line in handle:
                json.loads(line)
    entries = AuditEntry.objects.order_by("id").values(*canonical.LEAF_FIELDS).iterator(chunk_size=chunk)
    leaves = (AuditLeaf.objects.filter(index__lt=limit).order_by("index")
              .values_list("index", "entry_id", "leaf_hash").iterator(chunk_size=chunk))
    heads = TreeHead.objects.filter(tree_size__lte=limit).order_by("tree_size")
    head_after, rows, batch = -1, 0, []

    def finish(batch: list[tuple[int, int, bytes]]) -> None:
        nonlocal head_after
        start, end = batch[0][0], batch[-1][0] + 1
        terms, level = Q(), 1
        while (1 << level) <= end:
            low, high = ((start + (1 << level)) >> level) - 1, (end >> level) - 1
            if high >= low:
                terms |= Q(level=level, index__gte=low, index__lte=high)
            level += 1
        if terms:
            dict(((level, index), bytes(digest)) for level, index, digest in
                 MerkleNode.objects.filter(terms).values_list("level", "index", "hash"))
        for _leaf in batch:
            next(entries, None)
        while end > head_after and (page := list(heads.filter(tree_size__gt=head_after)[:500])):
            head_after = page[-1].tree_size

    for index, entry_id, digest in leaves:
        batch.append((index, entry_id, bytes(digest)))
        if len(batch) >= chunk:
            finish(batch)
            rows, batch = rows + len(batch), []
    if batch:
        finish(batch)
        rows += len(batch)
    return rows


def raw_read(chunk: int) -> int:
    """A lower reference: the same rows (every leaf with its entry's canonical fields) as one join streamed from
    a server-side cursor, no Django row conversion."""
    from django.db import connection, transaction

    from zhengtong.audit import canonical

    columns = ", ".join(f"e.{name}" for name in canonical.LEAF_FIELDS)
    rows = 0
    with transaction.atomic(), connection.connection.cursor(name="bench_read") as cursor:
        cursor.itersize = chunk
        cursor.execute(f"SELECT l.index, l.leaf_hash, {columns} "  # noqa: S608 (constant column names)
                       "FROM audit_auditleaf l LEFT JOIN audit_auditentry e ON e.id = l.entry_id "
                       "ORDER BY l.index")
        while batch := cursor.fetchmany(chunk):
            for row in batch:
                for _value in row:
                    pass
            rows += len(batch)
    return rows


def child_run(kind: str, size: int, chunk: int) -> dict:
    _common.configure(database_name(size), var_dir(size))
    from django.db import connection

    connection.ensure_connection()
    if not chunk:
        try:
            from zhengtong.audit.verify import CHUNK_SIZE as chunk
        except ImportError:
            chunk = FALLBACK_CHUNK
    before = peak_rss_kib()
    started = time.perf_counter()
    cpu_started = time.process_time()
    outcome: dict[str, object] = {}
    if kind == "read":
        outcome["rows"] = read_baseline(chunk)
    elif kind == "rawread":
        outcome["rows"] = raw_read(chunk)
    else:
        from zhengtong.audit.verify import verify_trail

        result = verify_trail(progress=False)
        outcome["result"] = describe(result)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {"kind": kind, "entries": size, "chunk": chunk, "seconds": elapsed, "cpu_seconds": cpu,
            "rss_before_kib": before, "rss_after_kib": peak_rss_kib()} | outcome


def describe(result: object) -> object:
    """A JSON-able summary of what verify_trail returns (a VerifyReport)."""
    if hasattr(result, "ok") and hasattr(result, "summary"):
        first = getattr(result, "first", None)
        return {"ok": result.ok, "summary": result.summary(), "problems": len(getattr(result, "problems", [])),
                "first_problem": first.line() if first is not None else None,
                "warnings": [warning.line() for warning in getattr(result, "warnings", [])[:3]]}
    return repr(result)[:500]


# --- the parent: no Django here ------------------------------------------------------------------------------------


def run_child(*args: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"child {' '.join(args)} failed with status {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


KINDS = ("rawread", "read", "verify")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", default=DEFAULT_SIZES,
                        help=f"log sizes, comma-separated (default {DEFAULT_SIZES}); each is built once and cached")
    parser.add_argument("--repeat", type=int, default=1,
                        help="timed rounds of (raw read, read, verify) per size; times are medians (default 1)")
    parser.add_argument("--chunk", type=int, default=0,
                        help="rows per chunk for the read baselines (default: verify's own CHUNK_SIZE)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached logs")
    parser.add_argument("--build-only", action="store_true", help="build (or check) the logs and stop")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, size = args.child[0], int(args.child[1])
        result = child_build(size) if kind == "build" else child_run(kind, size, int(args.child[2]))
        print(json.dumps(result, default=str))
        return 0

    sizes = [int(value.replace("_", "")) for value in args.entries.split(",") if value.strip()]
    verify_exists = (_common.PROJECT_DIR / "zhengtong" / "audit" / "verify.py").exists()
    kinds = KINDS if verify_exists else KINDS[:2]
    summary: dict[str, object] = {"benchmark": "audit_verify", "machine": _common.machine(),
                                  "goals": {"ratio_verify_to_read": f"<= {GOAL_RATIO}",
                                            "verify_peak_rss": "flat across sizes"}, "sizes": []}
    for size in sizes:
        build = None if args.rebuild else cached(size)
        reused = build is not None
        if build is None:
            log(args, f"building a trail of {size:,} entries in {database_name(size)} ...")
            started = time.perf_counter()
            build = run_child("build", str(size))
            log(args, f"  built in {time.perf_counter() - started:.0f} s (load {build['load_s']:.0f} s, "
                      f"sequencer {build['sequenced_per_second']:,.0f} entries/s)")
        entry: dict[str, object] = {"entries": size, "database": database_name(size), "cached": reused,
                                    "build": build, "runs": []}
        summary["sizes"].append(entry)
        if args.build_only:
            continue
        for _ in range(args.repeat):
            for kind in kinds:
                log(args, f"  {size:,}: {kind} ...")
                run = run_child(kind, str(size), str(args.chunk))
                log(args, f"    {run['seconds']:.1f} s, peak RSS {run['rss_after_kib']['VmHWM_kib'] / 1024:.0f} MiB")
                entry["runs"].append(run)
        for kind in kinds:
            runs = [run for run in entry["runs"] if run["kind"] == kind]
            entry[f"{kind}_seconds"] = _common.median([run["seconds"] for run in runs])
            entry[f"{kind}_cpu_seconds"] = _common.median([run["cpu_seconds"] for run in runs])
            entry[f"{kind}_peak_rss_mib"] = max(run["rss_after_kib"]["VmHWM_kib"] for run in runs) / 1024
            entry[f"{kind}_rss_at_start_mib"] = max(run["rss_before_kib"]["VmRSS_kib"] for run in runs) / 1024
            summary["read_chunk"] = runs[0]["chunk"]
        if verify_exists:
            reads = [run for run in entry["runs"] if run["kind"] == "read"]
            raws = [run for run in entry["runs"] if run["kind"] == "rawread"]
            verifies = [run for run in entry["runs"] if run["kind"] == "verify"]
            entry["ratio_verify_to_read"] = _common.median(
                [verify["seconds"] / read["seconds"] for read, verify in zip(reads, verifies, strict=True)])
            entry["ratio_verify_to_rawread"] = _common.median(
                [verify["seconds"] / raw["seconds"] for raw, verify in zip(raws, verifies, strict=True)])
            entry["verify_entries_per_second"] = size / entry["verify_seconds"]
            entry["verify_result"] = verifies[-1]["result"]
    if not verify_exists:
        summary["note"] = "zhengtong/audit/verify.py does not exist yet: only the read baselines ran"
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        report(summary)
    return 0


def log(args: argparse.Namespace, message: str) -> None:
    if not args.json:
        print(message, file=sys.stderr, flush=True)


def report(summary: dict) -> None:
    machine = summary["machine"]
    print(f"audit_verify: {machine['cpus']} CPUs, PostgreSQL {machine.get('postgres')}; each run in its own "
          f"subprocess; chunks of {summary.get('read_chunk', '?')} rows")
    print("  read    = verify's own queries, streamed as verify streams them (leaves, entries, each chunk's subtrees,")
    print("            heads, keys, witness file), computing nothing: the baseline")
    print("  rawread = the same rows as one join streamed from a server-side cursor, no Django (a lower bound)")
    print()
    print(f"  {'entries':>10} {'rawread s':>10} {'read s':>8} {'verify s':>9} {'verify/read':>12} "
          f"{'verify/raw':>11} {'verify/s':>9} {'peak RSS: verify':>17} {'read':>8}")
    for entry in summary["sizes"]:
        if "read_seconds" not in entry:
            continue
        if "verify_seconds" in entry:
            verify = (f"{entry['verify_seconds']:9.1f} {entry['ratio_verify_to_read']:12.2f} "
                      f"{entry['ratio_verify_to_rawread']:11.2f} {entry['verify_entries_per_second']:9,.0f} "
                      f"{entry['verify_peak_rss_mib']:13.0f} MiB")
        else:
            verify = f"{'-':>9} {'-':>12} {'-':>11} {'-':>9} {'-':>17}"
        print(f"  {entry['entries']:>10,} {entry['rawread_seconds']:10.1f} {entry['read_seconds']:8.1f} {verify} "
              f"{entry['read_peak_rss_mib']:4.0f} MiB")
    print()
    print(f"  goals: verify <= {GOAL_RATIO}x the read; verify's peak RSS flat across sizes (it streams)")
    for entry in summary["sizes"]:
        build = entry["build"]
        state = "cached" if entry["cached"] else "built now"
        print(f"  log of {entry['entries']:,} ({state}, {build['database_size']}, {build['tree_heads']} heads): "
              f"built with COPY in {build['load_s']:.0f} s, sequenced by Sequencer.step() in "
              f"{build['sequence_s']:.0f} s = {build['sequenced_per_second']:,.0f} entries/s")
        if "verify_result" in entry:
            result = json.dumps(entry["verify_result"], default=str, ensure_ascii=False)
            print(f"    verify_trail: {result[:400]}")
    if summary.get("note"):
        print(f"  NOTE: {summary['note']}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
