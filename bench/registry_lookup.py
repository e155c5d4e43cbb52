"""Exact lookup by resident ID through the blind index on 1,000,000 persons, against a plain indexed lookup.

    .venv/bin/python bench/registry_lookup.py [--rows 1000000] [--lookups 4000] [--rounds 3] [--json]

Uses the database that bench/registry_import.py leaves for --rows (`zhengtong_bench_import_<N>`, its var
directory holding the keys); when it is missing or incomplete, runs that script's setup and import first.

In one process, on one connection, the same resident IDs — half of people in the registry, half valid numbers
of nobody in it, shuffled — are looked up by:

* plain        — the baseline: `SELECT * FROM bench_plain_person WHERE resident_id = %s` through Django's cursor,
                 on the import benchmark's plain COPY of the same CSV (text columns) with a b-tree index on
                 resident_id: a plain indexed lookup of the same key text.
* find_record  — `zhengtong.registries.queries.find_record(registry, resident_id, codec=codec)`: the number
                 cleaned as on input (stdnum's checks), its keyed blind index (HMAC), the ORM query on the
                 (registry, key_value) unique index, the Record built. The codec is made once, as a page or API
                 handler holds one for its request.
* orm_key      — diagnostic: the same ORM query with the blind index computed beforehand (the database's part).
* new_codec    — diagnostic: find_record without a codec, as a request that looks up one person pays (the
                 schema and keys read again), over the first 500 keys only.

Each round runs the phases in a different order over the same keys, after a warm-up. Reports p50 and p99 (and
the mean) for each phase, over all lookups and for hits and misses apart, and the ratio to plain. No pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import registry_import  # noqa: E402

PHASES = ("plain", "find_record", "orm_key", "new_codec")
WARM_UP = 200
NEW_CODEC_LOOKUPS = 500  # new_codec takes milliseconds a lookup: a subset of the keys is enough to see it


def imported(rows: int) -> bool:
    if not _common.database_exists(registry_import.database_name(rows)):
        return False
    if not (registry_import.var_dir(rows) / "keys").exists():
        return False
    import psycopg

    try:
        with psycopg.connect(_common.database_url(registry_import.database_name(rows))) as connection:
            row = connection.execute("SELECT complete FROM bench_meta WHERE rows = %s", [rows]).fetchone()
            plain = connection.execute("SELECT to_regclass('bench_plain_person') IS NOT NULL").fetchone()[0]
    except psycopg.Error:
        return False
    return bool(row and row[0] and plain)


def sample(rows: int, count: int, seed: int) -> list[tuple[str, bool]]:
    """`count` resident IDs, half of people in the registry (index < rows) and half of nobody in it."""
    people = registry_import.People()
    rng = random.Random(seed)  # noqa: S311 (test data)
    hits = [(people.resident_id(rng.randrange(rows))[0], True) for _ in range(count // 2)]
    misses = [(people.resident_id(rows + rng.randrange(10 * rows))[0], False) for _ in range(count - count // 2)]
    keys = hits + misses
    rng.shuffle(keys)
    return keys


def run(rows: int, lookups: int, rounds: int, log) -> dict:  # noqa: ANN001
    _common.configure(registry_import.database_name(rows), registry_import.var_dir(rows))
    from django.db import connection

    from zhengtong.registries import queries
    from zhengtong.registries.codec import RecordCodec
    from zhengtong.registries.models import Record, Registry

    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX IF NOT EXISTS bench_plain_person_resident_id "
                       "ON bench_plain_person (resident_id)")
        cursor.execute("ANALYZE bench_plain_person")
        cursor.execute("ANALYZE registries_record")
    registry = Registry.objects.get(code=registry_import.REGISTRY_CODE)
    codec = RecordCodec(registry)
    keys = sample(rows, lookups, seed=7)
    blind = {key: codec.key_value({codec.schema.key_fields[0].name: key}) for key, _hit in keys}

    def plain(key: str) -> object:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM bench_plain_person WHERE resident_id = %s", [key])
            return cursor.fetchone()

    def find(key: str) -> object:
        return queries.find_record(registry, key, codec=codec)

    def orm_key(key: str) -> object:
        return Record.objects.filter(registry=registry, key_value=blind[key], deleted_at__isnull=True).first()

    def new_codec(key: str) -> object:
        return queries.find_record(registry, key)

    functions = {"plain": plain, "find_record": find, "orm_key": orm_key, "new_codec": new_codec}
    # Every phase must agree on who is there.
    for key, hit in keys[:200]:
        for name, function in functions.items():
            assert (function(key) is not None) == hit, (name, key, hit)
    times: dict[str, list[tuple[float, bool]]] = {name: [] for name in PHASES}
    order = list(PHASES)
    for round_number in range(rounds):
        order = order[1:] + order[:1]
        for name in order:
            function = functions[name]
            for key, _hit in keys[:WARM_UP]:
                function(key)
            measured = times[name]
            for key, hit in (keys[:NEW_CODEC_LOOKUPS] if name == "new_codec" else keys):
                started = time.perf_counter_ns()
                function(key)
                measured.append(((time.perf_counter_ns() - started) / 1000, hit))
        log(f"  round {round_number + 1}/{rounds}: " + ", ".join(
            f"{name} p50 {_common.percentile([t for t, _h in times[name]], 0.5):.0f} µs" for name in PHASES))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM registries_record WHERE registry_id = %s", [registry.pk])
        (records,) = cursor.fetchone()
    result: dict = {"records": records, "lookups_per_phase": len(keys) * rounds, "rounds": rounds, "phases": {},
                    "load_average_after": list(os.getloadavg())}
    for name in PHASES:
        every = [t for t, _hit in times[name]]
        result["phases"][name] = {
            "all": summarize(every), "hits": summarize([t for t, hit in times[name] if hit]),
            "misses": summarize([t for t, hit in times[name] if not hit])}
    base = result["phases"]["plain"]["all"]
    for name in PHASES:
        phase = result["phases"][name]["all"]
        phase["p50_ratio_to_plain"] = phase["p50_us"] / base["p50_us"]
        phase["p99_ratio_to_plain"] = phase["p99_us"] / base["p99_us"]
    return result


def summarize(values: list[float]) -> dict[str, float]:
    return {"p50_us": _common.percentile(values, 0.50), "p99_us": _common.percentile(values, 0.99),
            "mean_us": sum(values) / len(values), "count": len(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="persons in the registry (default 1000000)")
    parser.add_argument("--lookups", type=int, default=4000,
                        help="resident IDs looked up per phase and round, half of them misses (default 4000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the phases (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    built = None
    if not imported(args.rows):
        log(f"no imported database of {args.rows:,} persons: building it with bench/registry_import.py ...")
        entry = registry_import.build(args.rows, argparse.Namespace(json=args.json), store=False)
        built = {"import_seconds": entry["import_seconds"], "copy_seconds": entry["copy_seconds"]}
    summary: dict = {"benchmark": "registry_lookup", "machine": _common.machine(), "rows": args.rows,
                     "database": registry_import.database_name(args.rows), "built_now": built}
    summary.update(run(args.rows, args.lookups, args.rounds, log))
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        report(summary)
    return 0


def report(summary: dict) -> None:
    machine = summary["machine"]
    print(f"registry_lookup: {summary['records']:,} persons, {summary['lookups_per_phase']:,} lookups a phase "
          f"({summary['rounds']} rounds, half misses); {machine['cpus']} CPUs, PostgreSQL {machine.get('postgres')}")
    print()
    print(f"  {'phase':12} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8} {'p50/plain':>10} {'p99/plain':>10}   "
          f"{'hits p50/p99':>14}   {'misses p50/p99':>15}")
    labels = {"plain": "plain", "find_record": "find_record", "orm_key": "orm_key", "new_codec": "new_codec"}
    for name in PHASES:
        phase = summary["phases"][name]
        every, hits, misses = phase["all"], phase["hits"], phase["misses"]
        print(f"  {labels[name]:12} {every['p50_us']:8.0f} {every['p99_us']:8.0f} {every['mean_us']:8.0f} "
              f"{every['p50_ratio_to_plain']:9.1f}x {every['p99_ratio_to_plain']:9.1f}x   "
              f"{hits['p50_us']:6.0f} / {hits['p99_us']:<6.0f}   {misses['p50_us']:6.0f} / {misses['p99_us']:<6.0f}")
    print()
    print("  plain = indexed SELECT of the resident ID in clear (baseline); find_record = queries.find_record through "
          "the blind index;")
    print("  orm_key = its ORM query alone; new_codec = find_record building its codec (schema and keys) per lookup")


if __name__ == "__main__":
    sys.exit(main())
