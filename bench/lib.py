#!/usr/bin/env python3
"""Helpers for bench/run.sh: card files, one record per measured run, and the final table.

    lib.py cards N CSV TXT          distinct Luhn-valid cards, as a CSV and one card a line
    lib.py record OUT.jsonl k=v...  one run: reads the simulator's /stats, /usr/bin/time -v
                                    and cardscreen's --summary files named in k=v, appends JSON
    lib.py table RESULTS.jsonl      the table, in Markdown, on stdout
"""

import json
import statistics
import sys

CARD_PREFIX = "622202"  # UnionPay-looking BIN; the rest is a running number and a check digit


def luhn_check_digit(partial: str) -> str:
    total = 0
    # Double every second digit from the right, counting the check digit still to come.
    for position, char in enumerate(reversed(partial)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def cards(count: int, csv_path: str, txt_path: str) -> None:
    branches = ["Beijing, Chaoyang", "Shanghai", "Shenzhen", "广州天河支行"]
    with open(csv_path, "w", encoding="utf-8") as csv, open(txt_path, "w") as txt:
        csv.write("id,name,bankcard,branch\n")
        for index in range(count):
            partial = f"{CARD_PREFIX}{index:09d}"
            card = partial + luhn_check_digit(partial)
            branch = branches[index % len(branches)]
            if "," in branch:
                branch = f'"{branch}"'
            csv.write(f"{index + 1},customer {index + 1},{card},{branch}\n")
            txt.write(card + "\n")


def parse_time_v(path: str) -> dict:
    """The fields of `/usr/bin/time -v` that the bench uses."""
    wanted = {
        "User time (seconds)": "user_s",
        "System time (seconds)": "sys_s",
        "Maximum resident set size (kbytes)": "max_rss_kb",
        "Exit status": "exit",
    }
    found = {}
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            name, _, value = line.strip().rpartition(": ")
            if name in wanted:
                found[wanted[name]] = float(value)
    return found


def record(out_path: str, pairs: list) -> None:
    fields = dict(pair.split("=", 1) for pair in pairs)
    row = {
        "scenario": fields.pop("scenario"),
        "subject": fields.pop("subject"),
        "rows": int(fields.pop("rows")),
    }
    spawned_ms = int(fields.pop("spawned_ms", "0"))
    ended_ms = int(fields.pop("ended_ms", "0"))
    if spawned_ms and ended_ms:
        row["wall_s"] = (ended_ms - spawned_ms) / 1000
    stats_path = fields.pop("stats", "")
    if stats_path:
        with open(stats_path, encoding="utf-8") as f:
            stats = json.load(f)
        row["calls"] = stats["calls"]
        row["ok_calls"] = stats["ok_calls"]
        row["max_calls_in_1s"] = stats["max_calls_in_1s"]
        row["peak_in_flight"] = stats["peak_in_flight"]
        first, last = stats.get("first_call_unix_ms"), stats.get("last_call_unix_ms")
        if first and last and last > first:
            # N calls arrive over N-1 gaps: the rate between the first and the last arrival.
            row["rate"] = (stats["calls"] - 1) / ((last - first) / 1000)
        if first and spawned_ms:
            row["first_call_ms"] = first - spawned_ms
    time_path = fields.pop("time", "")
    if time_path:
        row.update(parse_time_v(time_path))
        row["cpu_s"] = row["user_s"] + row["sys_s"]
    summary_path = fields.pop("summary", "")
    if summary_path:
        with open(summary_path, encoding="utf-8") as f:
            summary = json.load(f)
        row["summary_rows"] = summary["rows"]
        row["summary_calls"] = summary["calls"]
        row["summary_errors"] = summary["errors"]
        row["summary_exit"] = summary["exit_code"]
    row.update(fields)
    with open(out_path, "a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
    print("   ", json.dumps(row), flush=True)


def dedup_table_bytes(cards: int, shards: int = 64) -> int:
    """What src/dedup.rs's map holds for `cards` distinct cards: hashbrown keeps at most 7/8 of
    a power-of-two number of buckets full, each bucket a u64 key, a u64 value and a control byte."""
    per_shard = -(-cards // shards)
    buckets = 1
    while buckets * 7 // 8 < per_shard:
        buckets *= 2
    return shards * buckets * (8 + 8 + 1)


def spread(values: list, fmt: str) -> str:
    return "{} ({} – {})".format(
        format(statistics.median(values), fmt),
        format(min(values), fmt),
        format(max(values), fmt),
    )


def table(results_path: str) -> int:
    runs = [json.loads(line) for line in open(results_path, encoding="utf-8") if line.strip()]

    def pick(scenario, subject, key):
        return [r[key] for r in runs if r["scenario"] == scenario and r["subject"] == subject and key in r]

    rows = []
    failures = 0

    def add(name, measured, reference, ratio, target, passed):
        nonlocal failures
        verdict = "—" if passed is None else ("pass" if passed else "**FAIL**")
        if passed is False:
            failures += 1
        rows.append((name, measured, reference, ratio, target, verdict))

    # Overhead: cardscreen against the bare reqwest loop, same calls, same simulator.
    ours = pick("overhead", "cardscreen", "rate")
    bare = pick("overhead", "bare_loop", "rate")
    if ours and bare:
        ratio = statistics.median(ours) / statistics.median(bare)
        add("Overhead: calls/s, latency 0, conc. 64, 40k rows", spread(ours, ".0f"),
            "bare reqwest loop " + spread(bare, ".0f"), f"{ratio:.3f}", "≥ 0.85", ratio >= 0.85)
    ours_wall = [r["rows"] / r["wall_s"] for r in runs
                 if r["scenario"] == "overhead" and r["subject"] == "cardscreen" and "wall_s" in r]
    bare_wall = [r["rows"] / r["wall_s"] for r in runs
                 if r["scenario"] == "overhead" and r["subject"] == "bare_loop" and "wall_s" in r]
    if ours_wall and bare_wall:
        ratio = statistics.median(ours_wall) / statistics.median(bare_wall)
        add("Overhead, end to end: rows/s incl. start-up and exit", spread(ours_wall, ".0f"),
            "bare loop " + spread(bare_wall, ".0f"), f"{ratio:.3f}", "reported", None)

    # CPU per 100,000 rows, overhead scenario.
    ours = [r["cpu_s"] * 100_000 / r["rows"] for r in runs
            if r["scenario"] == "overhead" and r["subject"] == "cardscreen" and "cpu_s" in r]
    bare = [r["cpu_s"] * 100_000 / r["rows"] for r in runs
            if r["scenario"] == "overhead" and r["subject"] == "bare_loop" and "cpu_s" in r]
    if ours and bare:
        ratio = statistics.median(ours) / statistics.median(bare)
        add("CPU: user+sys s per 100k rows (overhead scenario)", spread(ours, ".2f"),
            "bare loop " + spread(bare, ".2f"), f"{ratio:.2f}", "reported", None)

    # Latency-bound: Little's law.
    ours = pick("latency", "cardscreen", "rate")
    if ours:
        concurrency = float(runs[0].get("concurrency", 64))
        latency_s = float(next(r for r in runs if r["scenario"] == "latency").get("latency_ms", 20)) / 1000
        little = concurrency / latency_s
        ratio = statistics.median(ours) / little
        add("Latency-bound: calls/s, latency 20 ms, conc. 64", spread(ours, ".0f"),
            f"64 / 20 ms = {little:.0f}", f"{ratio:.3f}", "≥ 0.95", ratio >= 0.95)
    bare = pick("latency", "bare_loop", "rate")
    if ours and bare:
        ratio = statistics.median(ours) / statistics.median(bare)
        add("Latency-bound, against the bare loop", spread(ours, ".0f"),
            "bare loop " + spread(bare, ".0f"), f"{ratio:.3f}", "reported", None)

    # Rate exactness.
    achieved = pick("rate", "cardscreen", "rate")
    if achieved:
        ratio = statistics.median(achieved) / 200
        inside = all(abs(value - 200) <= 4 for value in achieved)
        add("Rate: achieved calls/s, --rate 200 --burst 1, 2k rows", spread(achieved, ".2f"),
            "200", f"{ratio:.4f}", "every run 196 – 204", inside)
    busiest = pick("rate", "cardscreen", "max_calls_in_1s")
    if busiest:
        add("Rate: most calls in any 1 s window (simulator)", spread(busiest, ".0f"),
            "200", f"{statistics.median(busiest) / 200:.3f}", "every run ≤ 200",
            max(busiest) <= 200)

    # Memory.
    # /usr/bin/time reports KiB; figures are in MB (10^6 bytes).
    small = [kb * 1024 / 1e6 for kb in pick("memory", "cardscreen_2k", "max_rss_kb")]
    middle = [kb * 1024 / 1e6 for kb in pick("memory", "cardscreen_100k", "max_rss_kb")]
    large = [kb * 1024 / 1e6 for kb in pick("memory", "cardscreen_1m", "max_rss_kb")]
    if small:
        add("Memory: peak RSS, 2,000 rows (MB)", spread(small, ".1f"), "—",
            f"{statistics.median(small) / 40:.3f} of target", "≤ 40 MB", max(small) <= 40)
    if middle:
        add("Memory: peak RSS, 100,000 rows (MB)", spread(middle, ".1f"), "—", "—", "reported", None)
    if small and large:
        add("Memory: peak RSS, 1,000,000 rows (MB)", spread(large, ".1f"), "—", "—", "reported", None)
        growth = [(l - statistics.median(small)) * 1e6 / 1_000_000 for l in large]
        ratio = statistics.median(growth) / 48
        add("Memory: growth over the 2k-row median, bytes per distinct card", spread(growth, ".1f"),
            "2k-row run", f"{ratio:.3f} of budget", "≤ 48 B", max(growth) <= 48)
    if middle and large:
        # Past the reorder window (8,192 rows) only the dedup map should grow: the growth from
        # 100k to 1M rows against what the map itself adds over those cards.
        growth = [(l - statistics.median(middle)) * 1e6 / 900_000 for l in large]
        table = (dedup_table_bytes(1_000_000) - dedup_table_bytes(100_000)) / 900_000
        ratio = statistics.median(growth) / table
        add("Memory: growth 100k → 1M rows, bytes per added card", spread(growth, ".1f"),
            f"dedup map alone {table:.1f} B", f"{ratio:.3f}", "≈ 1: nothing else grows", None)

    # Start-up: process spawn to the first call at the simulator.
    ours = pick("overhead", "cardscreen", "first_call_ms")
    bare = pick("overhead", "bare_loop", "first_call_ms")
    if ours and bare:
        ratio = statistics.median(ours) / max(statistics.median(bare), 1)
        add("Start-up: spawn → first call, 40k-row file (ms)", spread(ours, ".0f"),
            "bare loop " + spread(bare, ".0f"), f"{ratio:.2f}", "reported", None)
    ours = pick("memory", "cardscreen_1m", "first_call_ms")
    if ours:
        add("Start-up: spawn → first call, 1M-row file (ms)", spread(ours, ".0f"), "—", "—",
            "reported", None)

    store_rows(runs, pick, add)

    counts = {}
    for r in runs:
        counts[(r["scenario"], r["subject"])] = counts.get((r["scenario"], r["subject"]), 0) + 1
    print("| Figure | cardscreen: median (min – max) | Reference (same run) | Ratio | Target | Result |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("Runs per figure: " + ", ".join(f"{s}/{who} {n}" for (s, who), n in sorted(counts.items())))
    return 1 if failures else 0


def store_rows(runs, pick, add) -> None:
    """The result store's figures: reuse against a dry run, the cost of a store, its size."""

    def rows_per_s(subject):
        return [r["rows"] / r["wall_s"] for r in runs
                if r["scenario"] == "store_reuse" and r["subject"] == subject and "wall_s" in r]

    reuse, dry_store, dry = rows_per_s("reuse"), rows_per_s("dry_run_store"), rows_per_s("dry_run")
    if reuse and dry_store:
        ratio = statistics.median(reuse) / statistics.median(dry_store)
        add("Store: rows/s, 1M rows all answered from the store (--max-age 1d)", spread(reuse, ".0f"),
            "dry run, same store and --max-age " + spread(dry_store, ".0f"), f"{ratio:.3f}", "≥ 0.5",
            ratio >= 0.5)
    if reuse and dry:
        ratio = statistics.median(reuse) / statistics.median(dry)
        add("Store: the same, against a dry run without the store", spread(reuse, ".0f"),
            "dry run " + spread(dry, ".0f"), f"{ratio:.3f}", "reported", None)
    rss = [kb * 1024 / 1e6 for kb in pick("store_reuse", "reuse", "max_rss_kb")]
    if rss:
        add("Store: peak RSS, 1M rows answered from the store (MB)", spread(rss, ".1f"), "—", "—",
            "reported", None)
    with_store = pick("store_overhead", "with_store", "rate")
    without = pick("store_overhead", "without_store", "rate")
    if with_store and without:
        ratio = statistics.median(with_store) / statistics.median(without)
        add("Store, --max-age 0: calls/s, 100k rows, latency 0, a second night", spread(with_store, ".0f"),
            "no store " + spread(without, ".0f"), f"{ratio:.3f}", "≥ 0.85", ratio >= 0.85)

    def wall(subject):
        return [r["rows"] / r["wall_s"] for r in runs
                if r["scenario"] == "store_overhead" and r["subject"] == subject and "wall_s" in r]

    if wall("with_store") and wall("without_store"):
        ratio = statistics.median(wall("with_store")) / statistics.median(wall("without_store"))
        add("Store, --max-age 0, end to end: rows/s incl. the last commit", spread(wall("with_store"), ".0f"),
            "no store " + spread(wall("without_store"), ".0f"), f"{ratio:.3f}", "reported", None)
    sized = [r for r in runs if r["scenario"] == "store_size"]
    if sized:
        r = sized[-1]
        per_card = int(r["store_bytes"]) / int(r["rows"])
        add("Store: bytes per card after 30 nights of 100k cards (~1% changing a night)",
            f"{per_card:.1f}", f"{int(r['cards']):,} cards, {int(r['history_rows']):,} history rows",
            f"{per_card / 120:.3f} of target", "≤ 120 B", per_card <= 120)


def main() -> int:
    command, *args = sys.argv[1:]
    if command == "cards":
        cards(int(args[0]), args[1], args[2])
    elif command == "record":
        record(args[0], args[1:])
    elif command == "table":
        return table(args[0])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
