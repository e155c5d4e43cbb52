"""Importing persons from CSV on PostgreSQL, against the database's own COPY of the same file, and peak memory.

    .venv/bin/python bench/registry_import.py [--rows 1000000] [--repeat 1] [--no-store] [--json]
    .venv/bin/python bench/registry_import.py --rows 1000000,2000000      # peak memory at twice the size too

For each size N (a comma-separated list), on a fresh database `zhengtong_bench_import_<N>`:

* setup — migrate; the divisions the people live in, a department, and the person registry of the registry tests
          (zhengtong/registries/tests/factories.py: resident ID as the key, encrypted, found by its blind index;
          name and phone encrypted, phone unique; division code indexed, validated against the divisions;
          birth date). The CSV of N persons is generated once and cached under the system temp directory:
          valid resident IDs (stdnum's check digit, real county codes valid in the birth year), names, unique
          mobile numbers, division codes, birth dates.
* copy   — the baseline: PostgreSQL's COPY ... FROM STDIN (FORMAT csv, HEADER) of the same file into a plain
          table with one text column per CSV column, the file streamed from this machine as the import reads it.
* import — `zhengtong.registries.importing.import_file(None, registry, path, file_format="csv")`: every row
          cleaned by the schema (resident ID check digit, birth date and place; phone; division), three fields
          sealed with AES-256-GCM, two blind indexes, records and their lookup terms written with COPY, one
          transaction, one audit entry.
* store  — a diagnostic: COPY of exactly the rows the import wrote (dumped after it) into tables LIKE the
          registry's (same columns, indexes and foreign keys), in one transaction: what the data model costs the
          database, which no importer can go below. --no-store skips it.

Each phase runs in its own subprocess, so the import's peak RSS (VmHWM) is its own. The report gives rows/s, the
ratio import / copy (goal <= 4x), import / store, where the time went (CPU of the Python process and of its
PostgreSQL backend) and the peak RSS (goal < 500 MB, flat across sizes). The database and its var directory (keys)
are kept for bench/registry_lookup.py. No pass/fail.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

GOAL_RATIO = 4.0
GOAL_RSS_MB = 500
REGISTRY_CODE = "persons"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
HEADER = ["resident_id", "name", "phone", "division_code", "birth_date"]
PROVINCE, CITY = ("330000", "浙江省"), ("330100", "杭州市")
# Districts of the city: where people are registered, and the counties their resident IDs were issued in.
DISTRICTS = [("330102", "上城区"), ("330105", "拱墅区"), ("330106", "西湖区"), ("330108", "滨江区"),
             ("330109", "萧山区"), ("330110", "余杭区"), ("330111", "富阳区"), ("330112", "临安区")]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌宇浩凯晨欣怡子涵梓轩雨"
DAYS = 365
SERIALS = 1000


def database_name(rows: int) -> str:
    return f"zhengtong_bench_import_{rows}"


def var_dir(rows: int) -> Path:
    return Path(tempfile.gettempdir()) / f"zhengtong-bench-import-{rows}"


def csv_path(rows: int) -> Path:
    return Path(tempfile.gettempdir()) / f"zhengtong-bench-persons-{rows}.csv"


# --- the people ---------------------------------------------------------------------------------------------------


class People:
    """Distinct, valid resident IDs for index 0, 1, 2, ...: the index is spread over (county and birth year valid
    together, day of the year, serial) by a stride coprime to the size of that space, so no two indexes meet."""

    def __init__(self) -> None:
        from stdnum.cn import ric
        from stdnum.exceptions import ValidationError

        self.ric = ric
        combos = []
        for county, _name in DISTRICTS:
            for year in range(1940, 2016):
                try:
                    ric.get_birth_place(f"{county}{year}01010000")
                except ValidationError:
                    continue
                combos.append((county, year))
        if not combos:
            raise SystemExit("no county code of the districts is valid for any birth year in stdnum's table")
        self.combos = combos
        self.space = len(combos) * DAYS * SERIALS
        stride = 7_919_993
        while math.gcd(stride, self.space) != 1:
            stride += 2
        self.stride = stride

    def resident_id(self, index: int) -> tuple[str, str]:
        """The resident ID of person `index`, and their birth date (YYYY-MM-DD)."""
        spot = (index * self.stride) % self.space
        combo, rest = divmod(spot, DAYS * SERIALS)
        day, serial = divmod(rest, SERIALS)
        county, year = self.combos[combo]
        born = datetime.date(year, 1, 1) + datetime.timedelta(days=day)
        body = f"{county}{born:%Y%m%d}{serial:03d}"
        return body + self.ric.calc_check_digit(body + "0"), born.isoformat()


def phone(index: int) -> str:
    return f"1{'3456789'[index % 7]}{index:09d}"


def generate_csv(rows: int, path: Path) -> float:
    started = time.perf_counter()
    people = People()
    rng = random.Random(20260101)  # noqa: S311 (test data)
    draft = path.with_suffix(".partial")
    divisions = [code for code, _name in DISTRICTS]
    with draft.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for index in range(rows):
            number, born = people.resident_id(index)
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
            writer.writerow((number, name, phone(index), rng.choice(divisions), born))
    draft.replace(path)
    return time.perf_counter() - started


# --- child processes ------------------------------------------------------------------------------------------------


def peak_rss() -> dict[str, int]:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {"VmHWM_kib": int(status["VmHWM"].split()[0]), "VmRSS_kib": int(status["VmRSS"].split()[0]),
            "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def process_cpu(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process (the PostgreSQL server runs on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def child_setup(rows: int) -> dict:
    import shutil

    shutil.rmtree(var_dir(rows), ignore_errors=True)
    _common.recreate_database(database_name(rows))
    _common.configure(database_name(rows), var_dir(rows))
    _common.migrate()
    from zhengtong.conftest import credit_code
    from zhengtong.identity import actions
    from zhengtong.identity.models import DivisionLevel
    from zhengtong.registries.actions import define_registry
    from zhengtong.registries.tests.factories import person_fields

    province = actions.create_division(None, code=PROVINCE[0], name=PROVINCE[1], level=DivisionLevel.PROVINCE,
                                       parent=None)
    city = actions.create_division(None, code=CITY[0], name=CITY[1], level=DivisionLevel.CITY, parent=province)
    for code, name in DISTRICTS:
        actions.create_division(None, code=code, name=name, level=DivisionLevel.COUNTY, parent=city)
    department = actions.create_department(None, code="CITY-PSB", name="市公安局", division=city,
                                           credit_code=credit_code(1))
    registry = define_registry(None, code=REGISTRY_CODE, name="人口基础信息", department=department,
                               fields=person_fields())
    return {"registry": registry.pk, "fields": [spec.name for spec in person_fields()]}


def child_copy(rows: int) -> dict:
    """The baseline: the file into a plain table by PostgreSQL's own COPY, streamed from the client."""
    _common.configure(database_name(rows), var_dir(rows))
    from django.db import connection

    backend = backend_pid()
    raw = connection.connection
    columns = ", ".join(f"{name} text" for name in HEADER)
    with raw.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_plain_person")
        cursor.execute(f"CREATE TABLE bench_plain_person ({columns})")
    raw.commit()
    cpu, backend_cpu = process_cpu(), process_cpu(backend)
    started = time.perf_counter()
    with (raw.transaction(), raw.cursor() as cursor, csv_path(rows).open("rb") as handle,
          cursor.copy("COPY bench_plain_person FROM STDIN (FORMAT csv, HEADER true)") as copy):
        while chunk := handle.read(1 << 20):
            copy.write(chunk)
    seconds = time.perf_counter() - started
    with raw.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_plain_person")
        (count,) = cursor.fetchone()
    assert count == rows, count
    return {"phase": "copy", "rows": rows, "seconds": seconds, "cpu_python_s": process_cpu() - cpu,
            "cpu_postgres_s": process_cpu(backend) - backend_cpu, "rss": peak_rss()}


def child_import(rows: int) -> dict:
    _common.configure(database_name(rows), var_dir(rows))
    from django.db import connection

    from zhengtong.audit.models import AuditEntry
    from zhengtong.registries import importing
    from zhengtong.registries.models import Record, RecordTerm, Registry

    registry = Registry.objects.get(code=REGISTRY_CODE)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE registries_recordterm, registries_recordchange, registries_record")
    backend = backend_pid()
    before = peak_rss()
    cpu, backend_cpu = process_cpu(), process_cpu(backend)
    started = time.perf_counter()
    outcome = importing.import_file(None, registry, csv_path(rows), file_format="csv")
    seconds = time.perf_counter() - started
    result = {"phase": "import", "rows": rows, "seconds": seconds, "cpu_python_s": process_cpu() - cpu,
              "cpu_postgres_s": process_cpu(backend) - backend_cpu, "rss_before": before, "rss": peak_rss(),
              "status": str(outcome.status), "created": outcome.created, "rejected": outcome.rejected,
              "problems": outcome.problems[:5], "batch_rows": importing.BATCH_ROWS}
    result["records"] = Record.objects.filter(registry=registry).count()
    result["terms"] = RecordTerm.objects.filter(registry=registry).count()
    result["audit_entries"] = AuditEntry.objects.filter(action=importing.IMPORT_ACTION).count()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE registries_record")
        cursor.execute("ANALYZE registries_recordterm")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('registries_record')), "
                       "pg_size_pretty(pg_total_relation_size('registries_recordterm')), "
                       "pg_size_pretty(pg_total_relation_size('bench_plain_person'))")
        result["sizes"] = dict(zip(("records", "terms", "plain_copy"), cursor.fetchone(), strict=True))
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_meta (rows bigint, complete boolean, info jsonb)")
        cursor.execute("DELETE FROM bench_meta")
        cursor.execute("INSERT INTO bench_meta VALUES (%s, %s, %s)",
                       [rows, outcome.created == rows, json.dumps({"csv": str(csv_path(rows))})])
    return result


def child_store(rows: int) -> dict:
    """Diagnostic: COPY of the rows the import wrote into tables like the registry's, with the same indexes and
    foreign keys, in one transaction: the database's own cost of storing what the import stores."""
    _common.configure(database_name(rows), var_dir(rows))
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    dumps = {table: var_dir(rows) / f"{table}.copy" for table in ("registries_record", "registries_recordterm")}
    with raw.cursor() as cursor:
        for table, path in dumps.items():
            with path.open("wb") as handle, cursor.copy(f"COPY {table} TO STDOUT") as copy:
                for data in copy:
                    handle.write(data)
        cursor.execute("DROP TABLE IF EXISTS bench_store_term")
        cursor.execute("DROP TABLE IF EXISTS bench_store_record")
        cursor.execute("CREATE TABLE bench_store_record (LIKE registries_record INCLUDING ALL)")
        cursor.execute("CREATE TABLE bench_store_term (LIKE registries_recordterm INCLUDING ALL)")
        cursor.execute("ALTER TABLE bench_store_record ADD FOREIGN KEY (registry_id) REFERENCES registries_registry "
                       "DEFERRABLE INITIALLY DEFERRED")
        cursor.execute("ALTER TABLE bench_store_term ADD FOREIGN KEY (registry_id) REFERENCES registries_registry "
                       "DEFERRABLE INITIALLY DEFERRED")
        cursor.execute("ALTER TABLE bench_store_term ADD FOREIGN KEY (record_id) REFERENCES bench_store_record "
                       "DEFERRABLE INITIALLY DEFERRED")
    raw.commit()
    backend = backend_pid()
    cpu, backend_cpu = process_cpu(), process_cpu(backend)
    started = time.perf_counter()
    with raw.transaction(), raw.cursor() as cursor:
        for table, path in (("bench_store_record", dumps["registries_record"]),
                            ("bench_store_term", dumps["registries_recordterm"])):
            with path.open("rb") as handle, cursor.copy(f"COPY {table} FROM STDIN") as copy:
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
    seconds = time.perf_counter() - started
    size = sum(path.stat().st_size for path in dumps.values())
    for path in dumps.values():
        path.unlink()
    with raw.cursor() as cursor:
        cursor.execute("DROP TABLE bench_store_term")
        cursor.execute("DROP TABLE bench_store_record")
    raw.commit()
    return {"phase": "store", "rows": rows, "seconds": seconds, "cpu_python_s": process_cpu() - cpu,
            "cpu_postgres_s": process_cpu(backend) - backend_cpu, "bytes": size, "rss": peak_rss()}


CHILDREN = {"setup": child_setup, "copy": child_copy, "import": child_import, "store": child_store}


# --- the parent: no Django here ------------------------------------------------------------------------------------


def run_child(*args: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"child {' '.join(args)} failed with status {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def ensure_csv(rows: int, args: argparse.Namespace) -> dict:
    path = csv_path(rows)
    if path.exists():
        return {"path": str(path), "generated_s": None, "bytes": path.stat().st_size}
    log(args, f"generating {rows:,} persons into {path} ...")
    seconds = generate_csv(rows, path)
    return {"path": str(path), "generated_s": seconds, "bytes": path.stat().st_size}


def build(rows: int, args: argparse.Namespace, store: bool = True, repeat: int = 1) -> dict:
    """Everything for one size; also what registry_lookup.py calls to get an imported database."""
    entry: dict = {"rows": rows, "database": database_name(rows), "csv": ensure_csv(rows, args), "runs": []}
    log(args, f"  {rows:,}: setup (fresh database {database_name(rows)}) ...")
    entry["setup"] = run_child("setup", str(rows))
    phases = ["copy", "import", *(["store"] if store else [])]
    for _ in range(repeat):
        for phase in phases:
            log(args, f"  {rows:,}: {phase} ...")
            run = run_child(phase, str(rows))
            log(args, f"    {run['seconds']:.1f} s, {rows / run['seconds']:,.0f} rows/s, "
                      f"peak RSS {run['rss']['VmHWM_kib'] / 1024:.0f} MiB")
            entry["runs"].append(run)
    for phase in phases:
        runs = [run for run in entry["runs"] if run["phase"] == phase]
        entry[f"{phase}_seconds"] = _common.median([run["seconds"] for run in runs])
        entry[f"{phase}_rows_per_second"] = rows / entry[f"{phase}_seconds"]
        entry[f"{phase}_cpu_python_s"] = _common.median([run["cpu_python_s"] for run in runs])
        entry[f"{phase}_cpu_postgres_s"] = _common.median([run["cpu_postgres_s"] for run in runs])
        entry[f"{phase}_peak_rss_mib"] = max(run["rss"]["VmHWM_kib"] for run in runs) / 1024
    imports = [run for run in entry["runs"] if run["phase"] == "import"]
    copies = [run for run in entry["runs"] if run["phase"] == "copy"]
    entry["ratio_import_to_copy"] = _common.median(
        [run["seconds"] / copy["seconds"] for run, copy in zip(imports, copies, strict=True)])
    if store:
        stores = [run for run in entry["runs"] if run["phase"] == "store"]
        entry["ratio_import_to_store"] = _common.median(
            [run["seconds"] / stored["seconds"] for run, stored in zip(imports, stores, strict=True)])
        entry["ratio_store_to_copy"] = _common.median(
            [stored["seconds"] / copy["seconds"] for stored, copy in zip(stores, copies, strict=True)])
    last = imports[-1]
    entry["import_check"] = {key: last[key] for key in ("status", "created", "rejected", "records", "terms",
                                                        "audit_entries", "problems", "sizes")}
    entry["import_rss_at_start_mib"] = last["rss_before"]["VmRSS_kib"] / 1024
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="1000000",
                        help="persons in the file; a comma-separated list runs each size, e.g. 1000000,2000000 to "
                             "show that peak memory does not grow with the file (default 1000000)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of copy, import (and store) per size; times "
                                                              "are medians (default 1)")
    parser.add_argument("--no-store", action="store_true", help="skip the store diagnostic")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](int(args.child[1])), default=str))
        return 0
    sizes = [int(value.replace("_", "")) for value in args.rows.split(",") if value.strip()]
    summary: dict = {"benchmark": "registry_import", "machine": _common.machine(),
                     "goals": {"ratio_import_to_copy": f"<= {GOAL_RATIO}", "import_peak_rss_mib": f"< {GOAL_RSS_MB}"},
                     "sizes": []}
    for rows in sizes:
        summary["sizes"].append(build(rows, args, store=not args.no_store, repeat=args.repeat))
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
    print(f"registry_import: {machine['cpus']} CPUs, PostgreSQL {machine.get('postgres')}, "
          f"shared_buffers={machine.get('shared_buffers')}; each phase in its own subprocess")
    print("  copy   = COPY ... FROM STDIN (FORMAT csv) of the same file into a table of 5 text columns (baseline)")
    print("  import = importing.import_file: validation, AES-256-GCM sealing, blind indexes, COPY of records + terms")
    print("  store  = COPY of exactly what the import wrote into tables like the registry's (the database's floor)")
    print()
    print(f"  {'rows':>10} {'copy s':>7} {'import s':>9} {'store s':>8} {'import rows/s':>14} {'import/copy':>12} "
          f"{'import/store':>13} {'peak RSS':>9}   CPU s: import python + postgres | store postgres")
    for entry in summary["sizes"]:
        store = entry.get("store_seconds")
        print(f"  {entry['rows']:>10,} {entry['copy_seconds']:7.1f} {entry['import_seconds']:9.1f} "
              f"{store if store is None else format(store, '8.1f'):>8} {entry['import_rows_per_second']:14,.0f} "
              f"{entry['ratio_import_to_copy']:11.1f}x "
              f"{'-' if store is None else format(entry['ratio_import_to_store'], '12.2f') + 'x':>13} "
              f"{entry['import_peak_rss_mib']:5.0f} MiB   "
              f"{entry['import_cpu_python_s']:.1f} + {entry['import_cpu_postgres_s']:.1f}"
              + ("" if store is None else f" | {entry['store_cpu_postgres_s']:.1f}"))
    print()
    print(f"  goals: import <= {GOAL_RATIO:.0f}x copy; import peak RSS < {GOAL_RSS_MB} MB whatever the size")
    for entry in summary["sizes"]:
        check = entry["import_check"]
        print(f"  {entry['rows']:,}: {check['status']}, {check['records']:,} records, {check['terms']:,} terms, "
              f"{check['audit_entries']} audit entry; on disk: {check['sizes']}; RSS when the import started "
              f"{entry['import_rss_at_start_mib']:.0f} MiB")
        if check["problems"]:
            print(f"    problems: {check['problems']}")


if __name__ == "__main__":
    sys.exit(main())
