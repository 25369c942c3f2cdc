#!/usr/bin/env python3
"""Helpers for bench/run.sh: card files, one record per measured run, and the final table.

    lib.py cards N CSV TXT          distinct Luhn-valid cards, as a CSV and one card a line
    lib.py workbook N XLSX          the same rows as the CSV of `cards`, as an .xlsx workbook
    lib.py record OUT.jsonl k=v...  one run: reads the simulator's /stats, /usr/bin/time -v
                                    and cardscreen's --summary files named in k=v, appends JSON
    lib.py table RESULTS.jsonl      the table, in Markdown, on stdout
"""

import json
import statistics
import sys
import zipfile

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


BRANCHES = ["Beijing, Chaoyang", "Shanghai", "Shenzhen", "广州天河支行"]
HEADER = ["id", "name", "bankcard", "branch"]


def card_rows(count: int):
    """(id, name, card, branch) of every row, the same for the CSV and the workbook."""
    for index in range(count):
        partial = f"{CARD_PREFIX}{index:09d}"
        card = partial + luhn_check_digit(partial)
        yield index + 1, f"customer {index + 1}", card, BRANCHES[index % len(BRANCHES)]


def cards(count: int, csv_path: str, txt_path: str) -> None:
    with open(csv_path, "w", encoding="utf-8") as csv, open(txt_path, "w") as txt:
        csv.write(",".join(HEADER) + "\n")
        for ident, name, card, branch in card_rows(count):
            if "," in branch:
                branch = f'"{branch}"'
            csv.write(f"{ident},{name},{card},{branch}\n")
            txt.write(card + "\n")


def workbook(count: int, xlsx_path: str) -> None:
    """The rows of `cards` as Excel saves them: the id a number, every text in the shared
    string table (a card column formatted as Text), written with the standard library only."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rels = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    fixed = HEADER + BRANCHES
    # Shared string indices: the fixed strings first, then each row's name and card.
    def row_strings(index):
        return len(fixed) + 2 * index, len(fixed) + 2 * index + 1

    with zipfile.ZipFile(xlsx_path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", head + (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{kind}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{kind}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{kind}.sharedStrings+xml"/>'
            "</Types>"))
        book.writestr("_rels/.rels", head + (
            f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
            f'Type="{rels}/officeDocument" Target="xl/workbook.xml"/></Relationships>'))
        book.writestr("xl/workbook.xml", head + (
            f'<workbook xmlns="{main}" xmlns:r="{rels}"><sheets>'
            '<sheet name="Cards" sheetId="1" r:id="rId1"/></sheets></workbook>'))
        book.writestr("xl/_rels/workbook.xml.rels", head + (
            f'<Relationships xmlns="{package}">'
            f'<Relationship Id="rId1" Type="{rels}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rels}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"))
        with book.open("xl/worksheets/sheet1.xml", "w") as raw:
            sheet = _Utf8(raw)
            sheet.write(head + f'<worksheet xmlns="{main}"><dimension ref="A1:D{count + 1}"/><sheetData>')
            sheet.write('<row r="1">' + "".join(
                f'<c r="{column}1" t="s"><v>{i}</v></c>' for i, column in enumerate("ABCD")) + "</row>")
            for index, (ident, _, _, _) in enumerate(card_rows(count)):
                r = index + 2
                name, card = row_strings(index)
                branch = len(HEADER) + index % len(BRANCHES)
                sheet.write(f'<row r="{r}"><c r="A{r}"><v>{ident}</v></c>'
                            f'<c r="B{r}" t="s"><v>{name}</v></c><c r="C{r}" t="s"><v>{card}</v></c>'
                            f'<c r="D{r}" t="s"><v>{branch}</v></c></row>')
            sheet.write("</sheetData></worksheet>")
            sheet.flush()
        with book.open("xl/sharedStrings.xml", "w") as raw:
            strings = _Utf8(raw)
            unique = len(fixed) + 2 * count
            strings.write(head + f'<sst xmlns="{main}" count="{unique}" uniqueCount="{unique}">')
            for text in fixed:
                strings.write(f"<si><t>{text}</t></si>")
            for _, name, card, _ in card_rows(count):
                strings.write(f"<si><t>{name}</t></si><si><t>{card}</t></si>")
            strings.write("</sst>")
            strings.flush()


class _Utf8:
    """Text written as UTF-8 through a buffer, for a zip entry opened for writing."""

    def __init__(self, raw):
        self.raw, self.parts, self.size = raw, [], 0

    def write(self, text):
        self.parts.append(text)
        self.size += len(text)
        if self.size > 1 << 16:
            self.flush()

    def flush(self):
        self.raw.write("".join(self.parts).encode("utf-8"))
        self.parts, self.size = [], 0


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
        row["throttled_calls"] = stats.get("by_code", {}).get("10011", 0)
        row["peak_in_flight"] = stats["peak_in_flight"]
        first, last = stats.get("first_call_unix_ms"), stats.get("last_call_unix_ms")
        if first and last and last > first:
            # N calls arrive over N-1 gaps: the rate between the first and the last arrival.
            row["rate"] = (stats["calls"] - 1) / ((last - first) / 1000)
            # Calls the simulator answered with a result: what a rate limit let through.
            row["ok_rate"] = max(stats["ok_calls"] - 1, 0) / ((last - first) / 1000)
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
    """What src/dedup.rs's table holds for `cards` distinct cards: each shard starts at 16
    slots and grows by a third whenever more than 17/20 of them would be full; a slot is a u64
    card code and a 40-bit value."""
    per_shard = -(-cards // shards)
    slots = 0
    while (per_shard + 0) * 20 > slots * 17:
        slots = max(slots + slots // 3, 16)
    return shards * slots * (8 + 5)


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
        ratio = statistics.median(growth) / 24
        add("Memory: growth over the 2k-row median, bytes per distinct card", spread(growth, ".1f"),
            "2k-row run", f"{ratio:.3f} of budget", "≤ 24 B", max(growth) <= 24)
    if middle and large:
        # Past the reorder window (8,192 rows) only the dedup table should grow: the growth
        # from 100k to 1M rows against what the table itself adds over those cards.
        growth = [(l - statistics.median(middle)) * 1e6 / 900_000 for l in large]
        table = (dedup_table_bytes(1_000_000) - dedup_table_bytes(100_000)) / 900_000
        ratio = statistics.median(growth) / table
        add("Memory: growth 100k → 1M rows, bytes per added card", spread(growth, ".1f"),
            f"dedup table alone {table:.1f} B", f"{ratio:.3f}", "≈ 1: nothing else grows", None)
    huge = [kb * 1024 / 1e6 for kb in pick("large", "cardscreen_10m", "max_rss_kb")]
    base = [kb * 1024 / 1e6 for kb in pick("large", "cardscreen_2k", "max_rss_kb")]
    if huge:
        add("Memory: peak RSS, 10,000,000 rows (MB)", spread(huge, ".1f"), "—", "—", "reported", None)
    if huge and base:
        growth = [(h - statistics.median(base)) * 1e6 / 10_000_000 for h in huge]
        table = dedup_table_bytes(10_000_000) / 10_000_000
        add("Memory: growth over 2k rows at 10,000,000 cards, bytes per card", spread(growth, ".1f"),
            f"dedup table alone {table:.1f} B", f"{statistics.median(growth) / 24:.3f} of budget",
            "≤ 24 B", max(growth) <= 24)
    started = pick("large", "cardscreen_10m", "first_call_ms")
    if started:
        add("Start-up: spawn → first call, 10M-row file (ms)", spread(started, ".0f"), "—", "—",
            "reported", None)

    # Versus: this checkout against an earlier revision, side by side in each iteration.
    for kind, key, label, fmt, scale in (
        ("overhead", "rate", "calls/s, latency 0, 40k rows", ".0f", None),
        ("overhead", "cpu_s", "CPU s per 100k rows, 40k rows", ".2f", 100_000 / 40_000),
        ("memory", "max_rss_kb", "peak RSS (MB), 1,000,000 rows", ".1f", 1024 / 1e6),
        ("memory", "cpu_s", "CPU s per 100k rows, 1,000,000 rows", ".2f", 100_000 / 1_000_000),
        ("xlsx", "wall_s", "wall s, 200k-row .xlsx to CSV", ".2f", None),
    ):
        def of(subject):
            values = pick("versus", f"{kind}_{subject}", key)
            return [v * scale for v in values] if scale else values
        current, earlier = of("current"), of("versus")
        if current and earlier:
            ratio = statistics.median(current) / statistics.median(earlier)
            add(f"Versus: {label}", spread(current, fmt), "earlier " + spread(earlier, fmt),
                f"{ratio:.3f}", "within noise", None)

    # The pacer: governor's limiter against the baseline GCRA, same rates, same run.
    for rate in sorted({float(r["rate_set"]) for r in runs if r["scenario"] == "pacer"}):
        def at(subject, key):
            return [r[key] for r in runs if r["scenario"] == "pacer" and r["subject"] == subject
                    and float(r["rate_set"]) == rate and key in r]
        label = f"{rate:g}"
        for subject in ("governor", "baseline"):
            achieved = at(subject, "rate")
            busiest = at(subject, "max_calls_in_1s")
            if not achieved:
                continue
            ratio = statistics.median(achieved) / rate
            judged = subject == "governor"
            passed = (abs(ratio - 1) <= 0.02 and min(achieved) >= 0.97 * rate
                      and max(busiest) <= rate) if judged else None
            add(f"Pacer ({subject}): calls/s at --rate {label}; busiest 1 s",
                spread(achieved, ".2f") + "; " + spread(busiest, ".0f"), label, f"{ratio:.4f}",
                "within 2%, ≥ 97%, busiest ≤ rate" if judged else "reference", passed)
    for subject in ("governor", "baseline"):
        runs_of = [r for r in runs if r["scenario"] == "adaptive" and r["subject"] == subject]
        if not runs_of:
            continue
        throttled = [100 * r["throttled_calls"] / r["calls"] for r in runs_of]
        used = [100 * r["ok_rate"] / 10 for r in runs_of if "ok_rate" in r]
        judged = subject == "governor"
        passed = (max(throttled) <= 3 and min(used) >= 90) if judged else None
        add(f"Adaptive ({subject}): --rate 40 vs --qps-limit 10: % answered 10011; % of 10/s used",
            spread(throttled, ".1f") + "; " + spread(used, ".1f"), "limit 10/s", "—",
            "≤ 3%; ≥ 90%" if judged else "reference", passed)

    # Workbooks: the same 200,000 rows read from .xlsx and written to .xlsx, against the CSV run.
    def mb(subject):
        return [kb * 1024 / 1e6 for kb in pick("workbook", subject, "max_rss_kb")]

    def rows_per_s(subject):
        return [r["rows"] / r["wall_s"] for r in runs
                if r["scenario"] == "workbook" and r["subject"] == subject and "wall_s" in r]

    csv_rss, csv_speed = mb("csv_to_csv"), rows_per_s("csv_to_csv")
    for subject, label in [("xlsx_to_csv", ".xlsx in, CSV out"), ("xlsx_to_xlsx", ".xlsx in, .xlsx out")]:
        rss, speed = mb(subject), rows_per_s(subject)
        if rss and csv_rss:
            add(f"Workbook: peak RSS, 200k rows, {label} (MB)", spread(rss, ".1f"),
                "CSV in, CSV out " + spread(csv_rss, ".1f"),
                f"{statistics.median(rss) / statistics.median(csv_rss):.2f}", "reported", None)
        if speed and csv_speed:
            add(f"Workbook: rows/s end to end, 200k rows, {label}", spread(speed, ".0f"),
                "CSV in, CSV out " + spread(csv_speed, ".0f"),
                f"{statistics.median(speed) / statistics.median(csv_speed):.3f}", "reported", None)

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
    nights_rows(runs, add)

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


def nights_rows(runs, add) -> None:
    """Calls a night over 30 nights, --refresh due against level: the max and mean after the
    first night, the ideal (cards/7 + new), and the worst night against its ideal after the
    first week."""
    for mode in ("due", "level"):
        nights = sorted((int(r["night"]), int(r["night_calls"]), int(r["rows"]), int(r["new"]))
                        for r in runs if r["scenario"] == "nights" and r["subject"] == mode)
        if not nights:
            continue
        later = nights[1:]
        ideal = [rows / 7 + new for _, _, rows, new in later]
        calls = [c for _, c, _, _ in later]
        worst = max(c / i for (n, c, _, _), i in zip(later, ideal) if n >= 8)
        total_ideal = nights[0][2] + sum(ideal)
        total = sum(c for _, c, _, _ in nights)
        add(f"Nights, --refresh {mode}: calls a night, nights 2–30 (30 nights, 100k + 1k new a night, --max-age 7d)",
            f"max {max(calls):,}, mean {statistics.mean(calls):,.0f}",
            f"ideal mean {statistics.mean(ideal):,.0f}; night 1 {nights[0][1]:,}",
            f"worst night ≥ 8: {worst:.2f}× ideal; total {total / total_ideal:.2f}× ideal",
            "level: ≤ 1.3× from night 8" if mode == "level" else "reported",
            worst <= 1.3 if mode == "level" else None)


def main() -> int:
    command, *args = sys.argv[1:]
    if command == "cards":
        cards(int(args[0]), args[1], args[2])
    elif command == "workbook":
        workbook(int(args[0]), args[1])
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
