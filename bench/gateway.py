"""Gateway reads by key over HTTP, against a baseline endpoint in the same server, and the memory of an export.

    .venv/bin/python bench/gateway.py [--persons 1000000] [--rounds 5] [--seconds 10] [--clients 8] [--json]
    .venv/bin/python bench/gateway.py --persons 100000                     # a quick run
    .venv/bin/python bench/gateway.py --no-quota                           # diagnostic: no calls counted

--workers and --threads are passed to `zhengtong serve`; --build-only builds the database and stops; --no-export
skips the export; --help lists the rest.

On PostgreSQL, in the database `zt_bench_gateway` (built once per size and kept; --rebuild builds it again):

* setup   — migrate; divisions; the provider (市公安局, CITY-PSB) and a consumer (市人社局, CITY-HRSS); the persons
            base registry (zhengtong/registries/base.py: 11 fields, 5 of them encrypted, the resident ID found by
            its blind index) and a registry a tenth of its size for the export; a grant to the consumer of every
            field, masked by each field's rule, with a daily quota and a rate per minute (counted on every call,
            never reached). N persons are generated once into a CSV under the system temp directory (valid
            resident IDs as bench/registry_import.py makes them) and loaded with the registries importer.
* serve   — `zhengtong serve` (gunicorn, --workers, --threads) with ZHENGTONG_BENCH_BASELINE=true, logging as in
            production (INFO, to a file in the var directory).
* load    — from this process, --clients client processes, each with one keep-alive HTTP/1.1 connection
            (http.client), call as fast as the server answers, each with a bearer credential of the consumer's
            API client:
              gateway   GET /api/v1/gateway/registries/persons/records/{resident id}?purpose=bench
                        (the one door: the right from the grant, quota and rate counted, the record found through
                        the blind index and opened, every field masked, an audit entry written, then the answer)
              baseline  GET /api/v1/gateway/baseline/registries/persons/records/{resident id}
                        (the same client authentication, the same record found and opened, answered as it is:
                        no right, no masking, no audit)
            Both read the same resident IDs (people in the registry, drawn at random) in the same order. After a
            warm-up, --rounds rounds each run both for --seconds, in alternating order, so that the machine's
            noise hits both; the ratio is taken per round and its median reported.
* memory  — the RSS and PSS of the gunicorn master and its workers (/proc), sampled every 0.2 s; the peak during
            the baseline's phases and during the gateway's.
* export  — whether an export streams: a server of one worker and one thread is started, and the provider's own
            system asks it for GET /api/v1/gateway/registries/{code}/export?format=csv&purpose=bench, for the
            registry a tenth of the size and then for the whole one, reading each to the end; the peak RSS of
            the worker that streams each, and their ratio.

The report gives requests/s of each endpoint and the ratio gateway / baseline (goal >= 0.70), p50 and p99
latency of each, the CPU each request cost the server and PostgreSQL (steadier than requests/s on a busy
machine), the server's peak memory in each, a check that every gateway answer wrote its audit entry, and the
export's records/s and peak memory. No pass/fail.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import http.client
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import registry_import  # noqa: E402

DATABASE = "zt_bench_gateway"
PERSONS = "persons"
TENTH = "persons-tenth"
GOAL_RATIO = 0.70
PURPOSE = "bench"
GATEWAY_PATH = "/api/v1/gateway/registries/persons/records/{key}?purpose=" + PURPOSE
BASELINE_PATH = "/api/v1/gateway/baseline/registries/persons/records/{key}"
EXPORT_PATH = "/api/v1/gateway/registries/{code}/export?format=csv&purpose=" + PURPOSE
ENDPOINTS = {"gateway": GATEWAY_PATH, "baseline": BASELINE_PATH}
SAMPLE_SECONDS = 0.2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LIMITS = (1_000_000_000, 100_000_000)  # the grant's daily quota and rate per minute: counted, never reached
HEADER = ["resident_id", "name", "gender", "ethnicity", "birth_date", "household_division", "residence_address",
          "mobile_phone", "marital_status", "education", "status"]
ROADS = ["文三路", "学院路", "天目山路", "莫干山路", "延安路", "解放路", "建国路", "凤起路", "庆春路", "湖墅南路"]
ETHNICITIES = ["01"] * 18 + ["03", "08"]
MARITAL = ["10", "20", "20", "20", "30", "40"]
EDUCATION = ["10", "20", "30", "40", "60", "70", "80"]


def var_dir() -> Path:
    return Path(tempfile.gettempdir()) / "zhengtong-bench-gateway"


def csv_path(rows: int) -> Path:
    return Path(tempfile.gettempdir()) / f"zhengtong-bench-gateway-persons-{rows}.csv"


def tenth(rows: int) -> int:
    return max(1, rows // 10)


# --- the people -----------------------------------------------------------------------------------------------


def generate_csv(rows: int, path: Path, log) -> None:  # noqa: ANN001
    """The persons registry's CSV: person i has registry_import's i-th resident ID, so keys can be drawn
    without reading the file."""
    people = registry_import.People()
    rng = random.Random(20261128)  # noqa: S311 (test data)
    districts = registry_import.DISTRICTS
    draft = path.with_suffix(".partial")
    with draft.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for index in range(rows):
            number, born = people.resident_id(index)
            district, district_name = rng.choice(districts)
            name = (rng.choice(registry_import.SURNAMES)
                    + "".join(rng.choice(registry_import.GIVEN) for _ in range(rng.randint(1, 2))))
            address = (f"{registry_import.PROVINCE[1]}{registry_import.CITY[1]}{district_name}{rng.choice(ROADS)}"
                       f"{rng.randint(1, 999)}号{rng.randint(1, 30)}幢{rng.randint(101, 2404)}室")
            writer.writerow((number, name, "M" if int(number[16]) % 2 else "F", rng.choice(ETHNICITIES), born,
                             district, address, registry_import.phone(index), rng.choice(MARITAL),
                             rng.choice(EDUCATION), "active"))
            if index and index % 200_000 == 0:
                log(f"    {index:,} persons written")
    draft.replace(path)


def first_rows(source: Path, rows: int, target: Path) -> None:
    with source.open(encoding="utf-8") as reading, target.open("w", encoding="utf-8") as writing:
        for number, line in enumerate(reading):
            if number > rows:
                break
            writing.write(line)


def sample_keys(rows: int, count: int, seed: int) -> list[str]:
    people = registry_import.People()
    rng = random.Random(seed)  # noqa: S311 (test data)
    return [people.resident_id(rng.randrange(rows))[0] for _ in range(count)]


# --- child processes (Django) ---------------------------------------------------------------------------------


def child_setup(rows: int) -> dict:
    shutil.rmtree(var_dir(), ignore_errors=True)
    _common.recreate_database(DATABASE)
    _common.configure(DATABASE, var_dir())
    _common.migrate()
    from zhengtong.conftest import credit_code
    from zhengtong.exchange import actions as exchange
    from zhengtong.identity import actions
    from zhengtong.identity.models import DivisionLevel
    from zhengtong.registries.actions import define_registry
    from zhengtong.registries.base import person_fields

    province_code, province_name = registry_import.PROVINCE
    city_code, city_name = registry_import.CITY
    province = actions.create_division(None, code=province_code, name=province_name, level=DivisionLevel.PROVINCE,
                                       parent=None)
    city = actions.create_division(None, code=city_code, name=city_name, level=DivisionLevel.CITY, parent=province)
    for code, name in registry_import.DISTRICTS:
        actions.create_division(None, code=code, name=name, level=DivisionLevel.COUNTY, parent=city)
    provider = actions.create_department(None, code="CITY-PSB", name="市公安局", division=city,
                                         credit_code=credit_code(1))
    consumer = actions.create_department(None, code="CITY-HRSS", name="市人力资源和社会保障局", division=city,
                                         credit_code=credit_code(2))
    registries = {code: define_registry(None, code=code, name=name, department=provider, fields=person_fields(),
                                        is_base=code == PERSONS)
                  for code, name in ((PERSONS, "人口基础信息"), (TENTH, "人口基础信息（十分之一）"))}
    today = datetime.date.today()
    grant = exchange.issue_grant(
        None, consumer=consumer, resource=registries[PERSONS].catalog_resource, purpose="社会保险待遇资格认证",
        legal_basis="《中华人民共和国社会保险法》第七十四条",
        terms=exchange.Terms(fields=HEADER, valid_from=today - datetime.timedelta(days=1),
                             valid_until=today + datetime.timedelta(days=3650), daily_quota=LIMITS[0],
                             rate_per_minute=LIMITS[1]))
    return {"grant": grant.number}


class Progress:
    """The importer's progress callback: a line on stderr every tenth of the rows."""

    def __init__(self, code: str, size: int):
        self.code, self.size, self.reported = code, size, 0

    def __call__(self, done: int, _total: int | None) -> None:
        if done - self.reported >= max(self.size // 10, 1):
            self.reported = done
            print(f"    {self.code}: {done:,} / {self.size:,} imported", file=sys.stderr, flush=True)


def child_import(rows: int) -> dict:
    _common.configure(DATABASE, var_dir())
    from django.db import connection

    from zhengtong.registries import importing
    from zhengtong.registries.models import Registry

    result: dict = {}
    for code, size, path in ((PERSONS, rows, csv_path(rows)), (TENTH, tenth(rows), csv_path(rows).with_suffix(
            ".tenth.csv"))):
        if code == TENTH:
            first_rows(csv_path(rows), size, path)
        started = time.perf_counter()
        outcome = importing.import_file(None, Registry.objects.get(code=code), path, file_format="csv",
                                        progress=Progress(code, size))
        if outcome.created != size:
            raise SystemExit(f"{code}: {outcome.created} of {size} imported: {outcome.problems[:5]}")
        result[code] = {"records": outcome.created, "seconds": time.perf_counter() - started}
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_meta (rows bigint, complete boolean)")
        cursor.execute("DELETE FROM bench_meta")
        cursor.execute("INSERT INTO bench_meta VALUES (%s, true)", [rows])
    return result


def child_prepare(rows: int, limits: str) -> dict:
    """Before each run: new API clients of the consumer and of the provider (a credential is only shown once),
    and the consumer's grant in force today, with its quota and rate ("on") or without ("off", --no-quota)."""
    _common.configure(DATABASE, var_dir())
    from zhengtong.exchange import actions as exchange
    from zhengtong.exchange.models import Grant
    from zhengtong.identity import actions
    from zhengtong.identity.models import Department

    consumer = Department.objects.get(code="CITY-HRSS")
    grant = Grant.objects.get(consumer=consumer)
    today = datetime.date.today()
    terms = exchange.Terms(**{name: getattr(grant, name) for name in exchange.GRANT_TERMS})
    if not grant.in_force_on(today):
        terms.valid_from, terms.valid_until = today - datetime.timedelta(days=1), today + datetime.timedelta(days=3650)
    terms.daily_quota, terms.rate_per_minute = LIMITS if limits == "on" else (None, None)
    if any(getattr(terms, name) != getattr(grant, name) for name in exchange.GRANT_TERMS):
        exchange.change_grant(None, grant, terms, reason="bench: the grant this run measures")
    made = f"{datetime.datetime.now():%H%M%S}"
    issued = actions.create_api_client(None, department=consumer, name=f"bench {made}")
    provider = actions.create_api_client(None, department=Department.objects.get(code="CITY-PSB"),
                                         name=f"bench export {made}")
    return {"credential": issued.credential, "provider_credential": provider.credential}


CHILDREN = {"setup": child_setup, "import": child_import, "prepare": child_prepare}


# --- the parent: no Django here ---------------------------------------------------------------------------------


def run_child(*args: str) -> dict:
    """A child's result (the last line it prints); its progress goes to this process's stderr."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)  # noqa: S603
    if completed.returncode != 0:
        raise SystemExit(f"child {' '.join(args)} failed with status {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def database_ready(rows: int) -> bool:
    if not _common.database_exists(DATABASE) or not (var_dir() / "keys").exists():
        return False
    import psycopg

    try:
        with psycopg.connect(_common.database_url(DATABASE)) as connection:
            row = connection.execute("SELECT rows, complete FROM bench_meta").fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0] == rows and row[1])


def build(rows: int, log) -> dict:  # noqa: ANN001
    path = csv_path(rows)
    if not path.exists():
        log(f"generating {rows:,} persons into {path} ...")
        started = time.perf_counter()
        generate_csv(rows, path, log)
        log(f"  {time.perf_counter() - started:.0f} s")
    log(f"setup: fresh database {DATABASE} ...")
    run_child("setup", str(rows))
    log(f"import: {rows:,} persons and {tenth(rows):,} for the tenth registry (the registries importer) ...")
    started = time.perf_counter()
    imported = run_child("import", str(rows))
    log(f"  {time.perf_counter() - started:.0f} s")
    return {"imported": imported, "seconds": time.perf_counter() - started}


def audit_reads() -> int:
    import psycopg

    with psycopg.connect(_common.database_url(DATABASE)) as connection:
        return connection.execute("SELECT count(*) FROM audit_auditentry WHERE action = 'exchange.read'"
                                  ).fetchone()[0]


# --- the server -------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, workers: int, threads: int, log_level: str) -> subprocess.Popen:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("ZHENGTONG_")}
    environment.update({"DATABASE_URL": _common.database_url(DATABASE), "ZHENGTONG_VAR_DIR": str(var_dir()),
                        "ZHENGTONG_BENCH_BASELINE": "true", "ZHENGTONG_LOG_LEVEL": log_level,
                        "DJANGO_SETTINGS_MODULE": "zhengtong.settings"})
    log_file = (var_dir() / "serve.log").open("ab")
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "zhengtong", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--threads", str(threads)],
        cwd=_common.PROJECT_DIR, env=environment, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def get(port: int, path: str, credential: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {credential}"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_ready(server: subprocess.Popen, port: int, credential: str, key: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped (status {server.returncode}); see {var_dir() / 'serve.log'}")
        try:
            get(port, BASELINE_PATH.format(key=key), credential)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer within 60 s; see {var_dir() / 'serve.log'}")


def check_endpoints(port: int, credential: str, key: str) -> dict:
    """Both endpoints answer the same record, the gateway masked and the baseline as it is; the gateway refuses
    a call without a purpose."""
    gateway_status, gateway_body = get(port, GATEWAY_PATH.format(key=key), credential)
    baseline_status, baseline_body = get(port, BASELINE_PATH.format(key=key), credential)
    if baseline_status == 404:
        raise SystemExit("the baseline endpoint answers 404: is bench_baseline_read in zhengtong/exchange/gateway.py "
                         "and ZHENGTONG_BENCH_BASELINE read by the settings?")
    if gateway_status != 200 or baseline_status != 200:
        raise SystemExit(f"gateway {gateway_status} {gateway_body[:300]!r}; baseline {baseline_status} "
                         f"{baseline_body[:300]!r}")
    gateway, baseline = json.loads(gateway_body), json.loads(baseline_body)
    if gateway["id"] != baseline["id"] or baseline["values"]["resident_id"] != key:
        raise SystemExit(f"the endpoints disagree: {gateway} / {baseline}")
    if gateway["values"]["resident_id"] == key or not gateway["masked"]:
        raise SystemExit(f"the gateway did not mask: {gateway}")
    refused, body = get(port, GATEWAY_PATH.format(key=key).split("?")[0], credential)
    if refused != 403 or json.loads(body).get("code") != "no_purpose":
        raise SystemExit(f"the gateway answered {refused} {body[:200]!r} to a call without a purpose")
    return {"gateway": gateway, "baseline_fields": sorted(baseline["values"])}


class MemorySampler(threading.Thread):
    """RSS and PSS of the server's master and workers, every SAMPLE_SECONDS, tagged with the phase running: their
    sums, and the largest single process."""

    def __init__(self, master: int):
        super().__init__(daemon=True)
        self.master = master
        self.phase = "start"
        self.peaks: dict[str, dict[str, int]] = {}
        self.processes = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._stopping.wait(SAMPLE_SECONDS):
            self.sample()

    def sample(self) -> None:
        pids = [self.master, *children_of(self.master)]
        rss = pss = largest = 0
        for pid in pids:
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue  # a worker that just ended
            values = {line.split(":")[0]: int(line.split()[1]) for line in rollup.splitlines()[1:]}
            rss += values.get("Rss", 0)
            pss += values.get("Pss", 0)
            largest = max(largest, values.get("Rss", 0))
        with self._lock:
            peak = self.peaks.setdefault(self.phase, {"rss_kib": 0, "pss_kib": 0, "process_rss_kib": 0})
            for name, value in (("rss_kib", rss), ("pss_kib", pss), ("process_rss_kib", largest)):
                peak[name] = max(peak[name], value)
            self.processes = max(self.processes, len(pids))

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, 0 when it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def database_backends() -> list[int]:
    """The PostgreSQL backends serving the benchmark's database (the server runs on this machine)."""
    import psycopg

    with psycopg.connect(_common.database_url(DATABASE)) as connection:
        rows = connection.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                                  [DATABASE]).fetchall()
    return [pid for (pid,) in rows]


def cpu_snapshot(master: int) -> dict[str, dict[int, float]]:
    return {"server": {pid: process_cpu(pid) for pid in [master, *children_of(master)]},
            "postgres": {pid: process_cpu(pid) for pid in database_backends()}}


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds between two snapshots; a process that appeared in between counts from zero."""
    return {side: sum(seconds - before[side].get(pid, 0.0) for pid, seconds in after[side].items())
            for side in after}


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


# --- the clients ------------------------------------------------------------------------------------------------


def client_loop(commands: multiprocessing.connection.Connection, port: int, credential: str,
                keys: list[str]) -> None:
    """One client: for each phase it is sent, call one endpoint on one keep-alive connection until the phase
    ends, and send back the latencies (ms) and the statuses."""
    headers = {"Authorization": f"Bearer {credential}"}
    while (command := commands.recv()) is not None:
        template, start_at, seconds, offset = command
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        time.sleep(max(0.0, start_at - time.time()))
        end = start_at + seconds
        index = offset
        while time.time() < end:
            path = template.format(key=keys[index % len(keys)])
            index += 1
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (http.client.HTTPException, OSError):
                connection.close()  # the server closed the connection: open another, count the failure
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
        connection.close()
        commands.send((latencies, dict(statuses)))


class Clients:
    def __init__(self, count: int, port: int, credential: str, keys: list[str]):
        context = multiprocessing.get_context("fork")  # this process has no Django, threads or sockets to copy
        self.pipes = []
        self.processes = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=client_loop, args=(theirs, port, credential, keys), daemon=True)
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)
        self.keys = len(keys)

    def phase(self, template: str, seconds: float, offset: int) -> dict:
        start_at = time.time() + 0.3
        share = self.keys // len(self.pipes)
        for number, pipe in enumerate(self.pipes):
            pipe.send((template, start_at, seconds, offset + number * share))
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        for pipe in self.pipes:
            these, counts = pipe.recv()
            latencies.extend(these)
            statuses.update(counts)
        ok = statuses.get(200, 0)
        return {"requests": len(latencies), "ok": ok, "statuses": dict(statuses), "seconds": seconds,
                "requests_per_second": ok / seconds, "p50_ms": _common.percentile(latencies, 0.50),
                "p99_ms": _common.percentile(latencies, 0.99), "mean_ms": sum(latencies) / len(latencies)}

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for process in self.processes:
            process.join(timeout=10)


# --- the run ----------------------------------------------------------------------------------------------------


def load(args: argparse.Namespace, credential: str, log) -> dict:  # noqa: ANN001
    keys = sample_keys(args.persons, args.keys, seed=11)
    port = args.port or free_port()
    log(f"serve: zhengtong serve --workers {args.workers} --threads {args.threads} on port {port} ...")
    server = start_server(port, args.workers, args.threads, args.log_level)
    try:
        wait_ready(server, port, credential, keys[0])
        checked = check_endpoints(port, credential, keys[0])
        clients = Clients(args.clients, port, credential, keys)  # forked before this process starts a thread
        sampler = MemorySampler(server.pid)
        sampler.start()
        try:
            sampler.phase = "warm-up"
            for name, template in ENDPOINTS.items():
                log(f"  warm-up: {name} for {args.warmup:g} s")
                clients.phase(template, args.warmup, 0)
            reads_before = audit_reads()
            rounds = []
            for number in range(args.rounds):
                order = list(ENDPOINTS) if number % 2 == 0 else list(reversed(ENDPOINTS))
                measured = {}
                for name in order:
                    sampler.phase = name
                    before = cpu_snapshot(server.pid)
                    measured[name] = clients.phase(ENDPOINTS[name], args.seconds, offset=number * 7919)
                    used = cpu_used(before, cpu_snapshot(server.pid))
                    for side, seconds in used.items():
                        measured[name][f"{side}_cpu_ms_per_request"] = seconds * 1000 / max(1, measured[name]["ok"])
                sampler.phase = "between"
                measured["ratio"] = measured["gateway"]["requests_per_second"] / \
                    measured["baseline"]["requests_per_second"]
                rounds.append(measured)
                log(f"  round {number + 1}/{args.rounds}: " + ", ".join(
                    f"{name} {measured[name]['requests_per_second']:,.0f} req/s "
                    f"(p50 {measured[name]['p50_ms']:.1f} ms, p99 {measured[name]['p99_ms']:.1f} ms)"
                    for name in order) + f"; ratio {measured['ratio']:.2f}")
            gateway_ok = sum(r["gateway"]["ok"] for r in rounds)
            audited = audit_reads() - reads_before
        finally:
            clients.close()
            sampler.stop()
    finally:
        stop_server(server)
    result: dict = {"port": port, "workers": args.workers, "threads": args.threads, "clients": args.clients,
                    "keys": len(keys), "check": checked, "rounds": rounds, "gateway_answers": gateway_ok,
                    "audit_entries_written": audited, "server_processes": sampler.processes,
                    "memory_peaks_kib": sampler.peaks}
    for name in ENDPOINTS:
        phases = [r[name] for r in rounds]
        result[name] = {
            "requests_per_second": _common.median([p["requests_per_second"] for p in phases]),
            "p50_ms": _common.median([p["p50_ms"] for p in phases]),
            "p99_ms": _common.median([p["p99_ms"] for p in phases]),
            "errors": sum(p["requests"] - p["ok"] for p in phases),
            "server_cpu_ms_per_request": _common.median([p["server_cpu_ms_per_request"] for p in phases]),
            "postgres_cpu_ms_per_request": _common.median([p["postgres_cpu_ms_per_request"] for p in phases]),
            "peak_rss_mib": sampler.peaks.get(name, {}).get("rss_kib", 0) / 1024,
            "peak_pss_mib": sampler.peaks.get(name, {}).get("pss_kib", 0) / 1024,
        }
    result["ratio"] = _common.median([r["ratio"] for r in rounds])
    return result


def download(port: int, path: str, credential: str) -> dict:
    """Read a streamed response to the end, a chunk at a time, counting its bytes and lines."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {credential}"})
        response = connection.getresponse()
        size = lines = 0
        while chunk := response.read(1 << 16):
            size += len(chunk)
            lines += chunk.count(b"\n")
        return {"status": response.status, "bytes": size, "lines": lines,
                "seconds": time.perf_counter() - started}
    finally:
        connection.close()


def export(args: argparse.Namespace, credential: str, log) -> dict:  # noqa: ANN001
    """The gateway's streamed CSV export of each registry, by the provider's own system, from a server of one
    worker started for it: the memory of the worker that streams, for the registry and the one a tenth of it."""
    port = args.port or free_port()
    log(f"export: zhengtong serve --workers 1 --threads 1 on port {port} ...")
    server = start_server(port, 1, 1, args.log_level)
    runs = {}
    try:
        wait_ready(server, port, credential, sample_keys(args.persons, 1, seed=11)[0])
        sampler = MemorySampler(server.pid)
        sampler.start()
        try:
            time.sleep(1)
            sampler.phase = "idle"
            time.sleep(1)
            for code, size in ((TENTH, tenth(args.persons)), (PERSONS, args.persons)):
                log(f"  GET /api/v1/gateway/registries/{code}/export?format=csv ({size:,} records) ...")
                sampler.phase = code
                run = download(port, EXPORT_PATH.format(code=code), credential)
                sampler.sample()  # at least one sample of a short export
                sampler.phase = "between"
                if run["status"] != 200 or run["lines"] != size + 1:
                    raise SystemExit(f"the export of {code} answered {run['status']} with {run['lines']:,} lines for "
                                     f"{size:,} records; see {var_dir() / 'serve.log'}")
                run.update(records=size, **{f"peak_{name}": value for name, value in sampler.peaks[code].items()})
                log(f"    {run['seconds']:.1f} s, {size / run['seconds']:,.0f} records/s, {run['bytes'] / 2**20:,.0f} "
                    f"MiB; the worker's peak RSS {run['peak_process_rss_kib'] / 1024:.0f} MiB")
                runs[code] = run
        finally:
            sampler.stop()
    finally:
        stop_server(server)
    return {"runs": runs, "idle": sampler.peaks.get("idle", {}),
            "peak_ratio": runs[PERSONS]["peak_process_rss_kib"] / runs[TENTH]["peak_process_rss_kib"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000, help="persons in the registry (default 1000000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of both endpoints (default 5)")
    parser.add_argument("--seconds", type=float, default=10, help="seconds of each endpoint a round (default 10)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up of each endpoint (default 3)")
    parser.add_argument("--clients", type=int, default=8, help="client processes, one connection each (default 8)")
    parser.add_argument("--workers", type=int, default=min(4, (os.cpu_count() or 1) * 2),
                        help="gunicorn workers (default as zhengtong serve: min(4, 2 x CPUs))")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4, as zhengtong serve)")
    parser.add_argument("--keys", type=int, default=20000, help="resident IDs drawn for the calls (default 20000)")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    parser.add_argument("--log-level", default="INFO", help="the server's log level (default INFO, as in production)")
    parser.add_argument("--rebuild", action="store_true", help="build the database again even if it is there")
    parser.add_argument("--build-only", action="store_true", help="build the database, then stop")
    parser.add_argument("--no-export", action="store_true", help="skip the export's memory")
    parser.add_argument("--no-quota", action="store_true",
                        help="diagnostic: the grant without a daily quota and rate, so the gateway counts no calls")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](int(args.child[1]), *args.child[2:]), default=str))
        return 0

    def log(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    summary: dict = {"benchmark": "gateway", "persons": args.persons, "machine": _common.machine(),
                     "goals": {"ratio_gateway_to_baseline": f">= {GOAL_RATIO}"}}
    if args.rebuild or not database_ready(args.persons):
        summary["build"] = build(args.persons, log)
    else:
        log(f"using the database {DATABASE} built before for {args.persons:,} persons (--rebuild to build again)")
    if args.build_only:
        return 0
    credentials = run_child("prepare", str(args.persons), "off" if args.no_quota else "on")
    summary["quota_and_rate"] = not args.no_quota
    summary["load"] = load(args, credentials["credential"], log)
    if not args.no_export:
        summary["export"] = export(args, credentials["provider_credential"], log)
    summary["seconds"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        report(summary)
    return 0


def report(summary: dict) -> None:
    machine, run = summary["machine"], summary["load"]
    print(f"gateway: {summary['persons']:,} persons; {machine['cpus']} CPUs, PostgreSQL {machine.get('postgres')}, "
          f"shared_buffers={machine.get('shared_buffers')}")
    print(f"  zhengtong serve: {run['workers']} workers x {run['threads']} threads; {run['clients']} client "
          f"processes, one keep-alive connection each; {len(run['rounds'])} rounds of "
          f"{run['rounds'][0]['gateway']['seconds']:g} s per endpoint, alternating")
    print("  baseline = the same record found and opened, answered as it is (no right, masking or audit)")
    print("  gateway  = through the one door: grant, " + ("quota and rate, " if summary["quota_and_rate"] else
                                                           "NO quota or rate (--no-quota), ")
          + "masking of every field, audit entry")
    print()
    print(f"  {'endpoint':<9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7} {'peak RSS':>9} {'peak PSS':>9}"
          f"   CPU ms/request: server + postgres")
    for name in ("baseline", "gateway"):
        endpoint = run[name]
        print(f"  {name:<9} {endpoint['requests_per_second']:8,.0f} {endpoint['p50_ms']:7.1f} "
              f"{endpoint['p99_ms']:7.1f} {endpoint['errors']:7} {endpoint['peak_rss_mib']:5.0f} MiB "
              f"{endpoint['peak_pss_mib']:5.0f} MiB   {endpoint['server_cpu_ms_per_request']:.2f} + "
              f"{endpoint['postgres_cpu_ms_per_request']:.2f}")
    print(f"  ratio gateway / baseline (median of rounds): {run['ratio']:.2f}   (goal >= {GOAL_RATIO:.2f}; rounds: "
          + ", ".join(f"{r['ratio']:.2f}" for r in run["rounds"]) + ")")
    cost = [run[name]["server_cpu_ms_per_request"] + run[name]["postgres_cpu_ms_per_request"]
            for name in ("baseline", "gateway")]
    print(f"  CPU per request, baseline / gateway: {cost[0] / cost[1]:.2f} (what the ratio would be with the CPU "
          "the only limit; steadier than req/s on a busy machine)")
    print(f"  audit entries written for the measured gateway answers: {run['audit_entries_written']:,} "
          f"for {run['gateway_answers']:,} answers")
    print(f"  memory: RSS and PSS summed over the master and its workers ({run['server_processes']} processes), "
          "peak while each endpoint was loaded")
    if "export" in summary:
        exported = summary["export"]
        print()
        print("  export: GET /api/v1/gateway/registries/{code}/export?format=csv by the provider's own system, "
              "streamed by a server of one worker")
        for code in (TENTH, PERSONS):
            one = exported["runs"][code]
            print(f"  {one['records']:>10,} records {one['seconds']:7.1f} s {one['records'] / one['seconds']:9,.0f} "
                  f"records/s {one['bytes'] / 2**20:7,.0f} MiB   peak RSS of the worker "
                  f"{one['peak_process_rss_kib'] / 1024:5.0f} MiB (server {one['peak_rss_kib'] / 1024:.0f} MiB)")
        print(f"  peak RSS ratio, whole / tenth: {exported['peak_ratio']:.2f} (flat means it streams; the idle "
              f"worker: {exported['idle'].get('process_rss_kib', 0) / 1024:.0f} MiB)")
    if "build" in summary:
        print(f"  building the database took {summary['build']['seconds']:.0f} s")
    print(f"  the whole run took {summary['seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
