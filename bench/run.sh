#!/usr/bin/env bash
# Benchmarks for cardscreen: builds in release, generates card files, runs `cardscreen simulate`
# on loopback as a separate process (a fresh one for every measured run, so its counters cover
# exactly that run) and prints a table in which every figure is the median of RUNS runs with
# min and max, next to a reference measured in the same iterations (RUNS=5 by default).
#
#   bench/run.sh                      # all scenarios, 5 runs per figure
#   RUNS=3 bench/run.sh               # fewer runs per figure (at least 3)
#   BENCH_SCENARIOS="overhead rate" bench/run.sh   # a subset of:
#       overhead latency rate memory workbook pacer adaptive large
#       store_reuse store_overhead store_size versus nights
#
# `pacer` and `adaptive` run, side by side in each iteration, this checkout's binary and the
# one built from PACER_BASELINE (default 2e01ae0, the last revision whose pacer was a GCRA of
# its own rather than governor's). `large` screens 10,000,000 rows once (LARGE_RUNS=1): about
# four minutes and 1.5 GB for the simulator. `versus` runs the overhead, 1,000,000-row memory
# and .xlsx runs with this checkout's binary and, beside it in each iteration, the one built
# from VERSUS (default 5985ae2, the last revision before the source was regrouped into
# util/, card/, call/answer/, output/journal/, the options table and the run's steps).
#
# `nights` screens 30 nights with `--refresh due` and then `level` under a clock that
# libfaketime moves a day a night.
#
# Needs the Rust toolchain, git, python3, GNU time (/usr/bin/time) and, for `nights`, faketime. Talks only to 127.0.0.1.
# Results (table and raw JSON lines) are kept in $CARGO_TARGET_DIR/bench (default target/bench).
# Takes about 50 minutes on a 2-core machine with every scenario (RUNS=3 about 35).

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
target=${CARGO_TARGET_DIR:-$repo/target}
runs=${RUNS:-5}
scenarios=${BENCH_SCENARIOS:-overhead latency rate memory workbook pacer adaptive large store_reuse store_overhead store_size nights}
baseline_rev=${PACER_BASELINE:-2e01ae0}
versus_rev=${VERSUS:-5985ae2}
pacer_rates=${PACER_RATES:-5 10 50 200 1000}
large_runs=${LARGE_RUNS:-1}
concurrency=64
key=bench-key-7d1c
lib="$here/lib.py"

die() {
    echo "bench: $*" >&2
    exit 1
}

[[ -x /usr/bin/time ]] || die "GNU time is needed at /usr/bin/time (apt-get install time)"
command -v python3 >/dev/null || die "python3 is needed for the card files and the table"
((runs >= 3)) || die "RUNS must be at least 3: every figure is a median"

# Every call stays on loopback: no proxy may take the simulator's traffic elsewhere.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

results_dir="$target/bench"
mkdir -p "$results_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/cardscreen-bench.XXXXXX")
results="$results_dir/results.jsonl"
: >"$results"
sim_pid=""

stop_sim() {
    [[ -n $sim_pid ]] || return 0
    kill -INT "$sim_pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$sim_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
    sim_pid=""
}

cleanup() {
    stop_sim
    for tree in baseline versus; do
        if [[ -d $work/$tree ]]; then
            git -C "$repo" worktree remove --force "$work/$tree" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ms() { date +%s%3N; }

# start_sim [simulator flags...]: sets sim_pid and sim_addr.
start_sim() {
    # A fresh file each time: reading the last simulator's line would aim at a dead port.
    rm -f "$work/sim.out"
    "$bin" simulate --listen 127.0.0.1:0 --key "$key" "$@" >"$work/sim.out" 2>"$work/sim.err" &
    sim_pid=$!
    local line=""
    for _ in $(seq 200); do
        line=$(head -n 1 "$work/sim.out" 2>/dev/null || true)
        [[ $line == "listening on http://"* ]] && break
        kill -0 "$sim_pid" 2>/dev/null || die "the simulator exited: $(cat "$work/sim.err")"
        sleep 0.05
    done
    sim_addr=${line#listening on http://}
    [[ $sim_addr == 127.0.0.1:* ]] || die "the simulator did not say where it listens: ${line@Q}"
}

fetch_stats() {
    python3 -c '
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open("http://" + sys.argv[1] + "/stats", timeout=120) as answer:
    open(sys.argv[2], "wb").write(answer.read())
' "$sim_addr" "$1"
}

# measure_cardscreen SCENARIO SUBJECT ROWS "SIM FLAGS" [screen flags...]
# The input is cards_ROWS.$input_ext and the output out.$output_ext (both csv unless set).
# Runs $screen_bin (default: this checkout's). Every row must be called exactly once unless
# $retries_expected is set (the adaptive scenario, where 10011 answers are retried).
measure_cardscreen() {
    local scenario=$1 subject=$2 rows=$3 sim_flags=$4
    shift 4
    # shellcheck disable=SC2086 # the simulator flags are words on purpose
    start_sim $sim_flags
    local out="$work/out.${output_ext:-csv}" status=0
    rm -f "$out" "$out.journal" "$work/summary.json"
    local spawned
    spawned=$(now_ms)
    # Debug logs name the cause of each failed call, and cost nothing while calls succeed.
    JUHE_KEY=$key RUST_LOG=cardscreen=debug timeout 900 /usr/bin/time -v -o "$work/time.txt" \
        "${screen_bin:-$bin}" screen "$work/cards_$rows.${input_ext:-csv}" -o "$out" \
        --endpoint "http://$sim_addr/bankcardblack/query" \
        --concurrency "$concurrency" --progress never --summary "$work/summary.json" \
        "$@" 2>"$work/screen.err" || status=$?
    local ended
    ended=$(now_ms)
    if ((status != 0)); then
        cp "$work/screen.err" "$results_dir/failed-run.log"
        die "cardscreen exited with $status in $scenario (log kept in $results_dir/failed-run.log): $(tail -n 5 "$work/screen.err")"
    fi
    fetch_stats "$work/stats.json"
    stop_sim
    python3 "$lib" record "$results" scenario="$scenario" subject="$subject" rows="$rows" \
        spawned_ms="$spawned" ended_ms="$ended" stats="$work/stats.json" time="$work/time.txt" \
        summary="$work/summary.json" concurrency="$concurrency" "${extra_fields[@]}"
    python3 - "$results" "$rows" "${expect_calls:-$rows}" "${retries_expected:-}" <<'PY'
import json, sys
run = json.loads(open(sys.argv[1]).read().splitlines()[-1])
rows, calls = int(sys.argv[2]), int(sys.argv[3])
retries = bool(sys.argv[4])
problems = [what for what, bad in [
    ("rows in the summary", run["summary_rows"] != rows),
    ("calls counted by cardscreen", run["summary_calls"] != run["calls"]),
    ("calls seen by the simulator", run["calls"] != calls and not retries),
    ("error rows", run["summary_errors"] != 0),
] if bad]
if problems:
    sys.exit("bench: wrong run (" + ", ".join(problems) + "): " + json.dumps(run))
PY
    rm -f "$out" "$out.journal"
}

# measure_bare SCENARIO ROWS "SIM FLAGS"
measure_bare() {
    local scenario=$1 rows=$2 sim_flags=$3
    # shellcheck disable=SC2086
    start_sim $sim_flags
    local spawned
    spawned=$(now_ms)
    timeout 900 /usr/bin/time -v -o "$work/time.txt" \
        "$bare" "http://$sim_addr/bankcardblack/query" "$key" "$concurrency" \
        "$work/cards_$rows.txt" >"$work/bare.out" 2>&1 || die "bare_loop failed: $(cat "$work/bare.out")"
    local ended
    ended=$(now_ms)
    grep -q " failures=0$" "$work/bare.out" || die "bare_loop had failures: $(cat "$work/bare.out")"
    fetch_stats "$work/stats.json"
    stop_sim
    python3 "$lib" record "$results" scenario="$scenario" subject=bare_loop rows="$rows" \
        spawned_ms="$spawned" ended_ms="$ended" stats="$work/stats.json" time="$work/time.txt" \
        concurrency="$concurrency" "${extra_fields[@]}"
}

# measure_dry SCENARIO SUBJECT ROWS [screen flags...]: a --dry-run, timed; no simulator.
measure_dry() {
    local scenario=$1 subject=$2 rows=$3
    shift 3
    local spawned ended
    spawned=$(now_ms)
    timeout 900 /usr/bin/time -v -o "$work/time.txt" "$bin" screen "$work/cards_$rows.csv" \
        --dry-run --progress never "$@" >"$work/dry.out" 2>"$work/screen.err" ||
        die "the dry run failed in $scenario: $(tail -n 5 "$work/screen.err")"
    ended=$(now_ms)
    python3 "$lib" record "$results" scenario="$scenario" subject="$subject" rows="$rows" \
        spawned_ms="$spawned" ended_ms="$ended" time="$work/time.txt"
}

# screen_into_store ROWS STORE [screen flags...]: one unmeasured night into STORE.
screen_into_store() {
    local rows=$1 store=$2
    shift 2
    start_sim
    JUHE_KEY=$key "$bin" screen "$work/cards_$rows.csv" -o "$work/night.csv" \
        --endpoint "http://$sim_addr/bankcardblack/query" --concurrency "$concurrency" \
        --rate 0 --progress never --store "$store" "$@" 2>"$work/screen.err" ||
        die "a night into the store failed: $(tail -n 5 "$work/screen.err")"
    stop_sim
}

# store_size: 30 nights of the same 100,000 cards against one simulator that moves on a day
# (about 1% of cards change) between nights; then the store's size per card.
store_size() {
    local store="$work/size.db" rows=100000
    rm -f "$store" "$store"-wal "$store"-shm "$store.key"
    start_sim
    for night in $(seq 30); do
        JUHE_KEY=$key "$bin" screen "$work/cards_$rows.csv" -o "$work/night.csv" \
            --endpoint "http://$sim_addr/bankcardblack/query" --concurrency "$concurrency" \
            --rate 0 --progress never --store "$store" 2>"$work/screen.err" ||
            die "night $night failed: $(tail -n 5 "$work/screen.err")"
        python3 -c '
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
opener.open(urllib.request.Request("http://" + sys.argv[1] + "/next-day", method="POST"), timeout=30).read()
' "$sim_addr"
    done
    stop_sim
    "$bin" store stats --store "$store" | tee "$work/stats.txt"
    local bytes cards history
    bytes=$(($(stat -c %s "$store") + $(stat -c %s "$store"-wal 2>/dev/null || echo 0)))
    cards=$(awk '/^cards:/ {gsub(",", "", $2); print $2}' "$work/stats.txt")
    history=$(awk '/^history rows:/ {gsub(",", "", $3); print $3}' "$work/stats.txt")
    python3 "$lib" record "$results" scenario=store_size subject=nights_30 rows="$rows" \
        store_bytes="$bytes" cards="$cards" history_rows="$history"
}

# nights MODE: 30 nights of 100,000 cards plus 1,000 new a night, --max-age 7d, the wall clock
# moved a day a night with libfaketime (the monotonic clock left alone), --refresh MODE; the
# calls of each night against the ideal (cards/7 + new, and every card on the first night).
nights() {
    local mode=$1 store="$work/nights_$1.db" base=100000 new=1000
    rm -f "$store" "$store"-wal "$store"-shm "$store.key"
    [[ -f $work/cards_130000.csv ]] || python3 "$lib" cards 130000 "$work/cards_130000.csv" "$work/cards_130000.txt"
    start_sim
    for night in $(seq 30); do
        local rows=$((base + new * night))
        head -n $((rows + 1)) "$work/cards_130000.csv" >"$work/nights_in.csv"
        JUHE_KEY=$key FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "+$((24 * (night - 1)))h" \
            "$bin" screen "$work/nights_in.csv" -o "$work/nights_out.csv" \
            --endpoint "http://$sim_addr/bankcardblack/query" --concurrency "$concurrency" \
            --rate 0 --progress never --store "$store" --max-age 7d --refresh "$mode" \
            --summary "$work/nights_summary.json" 2>"$work/screen.err" ||
            die "night $night ($mode) failed: $(tail -n 5 "$work/screen.err")"
        local calls
        calls=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["calls"])' "$work/nights_summary.json")
        python3 "$lib" record "$results" scenario=nights subject="$mode" rows="$rows" \
            night="$night" night_calls="$calls" new="$new"
    done
    stop_sim
}

wants() { [[ " $scenarios " == *" $1 "* ]]; }

echo "== Machine"
{
    echo "cores:  $(nproc)"
    echo "cpu:    $(grep -m 1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory: $(awk '/MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo)"
    echo "rustc:  $(rustc --version)"
    echo "commit: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet 2>/dev/null || echo ' (with local changes)')"
    echo "date:   $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "runs:   $runs per figure"
} | tee "$results_dir/machine.txt"

echo "== Building (release)"
(cd "$repo" && cargo build --release --quiet --bin cardscreen --example bare_loop)
bin="$target/release/cardscreen"
bare="$target/release/examples/bare_loop"
if wants pacer || wants adaptive; then
    echo "== Building the baseline pacer ($baseline_rev, release)"
    git -C "$repo" worktree add --quiet --detach "$work/baseline" "$baseline_rev"
    (cd "$work/baseline" && CARGO_TARGET_DIR="$target/bench-baseline" \
        cargo build --release --quiet --bin cardscreen)
    baseline_bin="$target/bench-baseline/release/cardscreen"
fi
if wants versus; then
    echo "== Building the revision to compare with ($versus_rev, release)"
    git -C "$repo" worktree add --quiet --detach "$work/versus" "$versus_rev"
    # The dependencies are the same build: start from this checkout's.
    [[ -d $target/bench-versus/release ]] ||
        { mkdir -p "$target/bench-versus" && cp -a "$target/release" "$target/bench-versus/"; }
    (cd "$work/versus" && CARGO_TARGET_DIR="$target/bench-versus" \
        cargo build --release --quiet --bin cardscreen)
    versus_bin="$target/bench-versus/release/cardscreen"
fi

echo "== Card files (distinct, Luhn-valid)"
sizes=()
wants overhead && sizes+=(40000)
wants latency && sizes+=(16000)
wants rate && sizes+=(2000)
wants memory && sizes+=(2000 100000 1000000)
wants workbook && sizes+=(200000)
if wants pacer; then
    for rate in $pacer_rates; do
        # About 12 s of calls at each rate, and never fewer than 60.
        rows=$((rate * 12 > 60 ? rate * 12 : 60))
        sizes+=("$rows")
    done
fi
wants adaptive && sizes+=(300)
wants large && sizes+=(2000 10000000)
wants store_reuse && sizes+=(1000000)
wants store_overhead && sizes+=(100000)
wants store_size && sizes+=(100000)
wants versus && sizes+=(40000 1000000 200000)
for rows in $(printf '%s\n' "${sizes[@]}" | sort -un); do
    python3 "$lib" cards "$rows" "$work/cards_$rows.csv" "$work/cards_$rows.txt"
    echo "   $rows rows: $(du -h "$work/cards_$rows.csv" | cut -f1)"
done
if wants workbook || wants versus; then
    python3 "$lib" workbook 200000 "$work/cards_200000.xlsx"
    echo "   200000 rows as .xlsx: $(du -h "$work/cards_200000.xlsx" | cut -f1)"
fi

if wants store_reuse; then
    echo "-- store: one night of 1,000,000 cards into a store, for the reuse scenario"
    screen_into_store 1000000 "$work/reuse.db"
fi
if wants store_overhead; then
    echo "-- store: one night of 100,000 cards into a store, for the overhead scenario"
    screen_into_store 100000 "$work/night1.db"
fi

for run in $(seq "$runs"); do
    echo "== Iteration $run of $runs"
    if wants overhead; then
        extra_fields=()
        echo "-- overhead: bare loop, then cardscreen (latency 0, --rate 0, 40,000 rows)"
        measure_bare overhead 40000 ""
        measure_cardscreen overhead cardscreen 40000 "" --rate 0
    fi
    if wants latency; then
        extra_fields=(latency_ms=20)
        echo "-- latency-bound: bare loop, then cardscreen (latency 20 ms, --rate 0, 16,000 rows)"
        measure_bare latency 16000 "--latency 20ms"
        measure_cardscreen latency cardscreen 16000 "--latency 20ms" --rate 0
    fi
    if wants rate; then
        extra_fields=()
        echo "-- rate: cardscreen --rate 200 --burst 1, 2,000 rows"
        measure_cardscreen rate cardscreen 2000 "" --rate 200 --burst 1
    fi
    if wants memory; then
        extra_fields=()
        echo "-- memory: cardscreen, 2,000, 100,000 and 1,000,000 rows (--rate 0)"
        measure_cardscreen memory cardscreen_2k 2000 "" --rate 0
        measure_cardscreen memory cardscreen_100k 100000 "" --rate 0
        measure_cardscreen memory cardscreen_1m 1000000 "" --rate 0
    fi
    if wants workbook; then
        extra_fields=()
        echo "-- workbook: 200,000 rows, CSV to CSV, then .xlsx to CSV, then .xlsx to .xlsx (--rate 0)"
        measure_cardscreen workbook csv_to_csv 200000 "" --rate 0
        input_ext=xlsx measure_cardscreen workbook xlsx_to_csv 200000 "" --rate 0
        input_ext=xlsx output_ext=xlsx measure_cardscreen workbook xlsx_to_xlsx 200000 "" --rate 0
    fi
    if wants pacer; then
        for rate in $pacer_rates; do
            rows=$((rate * 12 > 60 ? rate * 12 : 60))
            extra_fields=(rate_set="$rate")
            echo "-- pacer: --rate $rate --burst 1, $rows rows: baseline, then governor"
            screen_bin=$baseline_bin measure_cardscreen pacer baseline "$rows" "" --rate "$rate" --burst 1
            measure_cardscreen pacer governor "$rows" "" --rate "$rate" --burst 1
        done
    fi
    if wants adaptive; then
        extra_fields=(rate_set=40 qps_limit=10)
        echo "-- adaptive: --rate 40 against --qps-limit 10, 300 rows: baseline, then governor"
        retries_expected=1 screen_bin=$baseline_bin measure_cardscreen adaptive baseline 300 "--qps-limit 10" --rate 40
        retries_expected=1 measure_cardscreen adaptive governor 300 "--qps-limit 10" --rate 40
    fi
    if wants store_reuse; then
        extra_fields=()
        echo "-- store reuse: dry runs, then 1,000,000 rows all answered from the store"
        measure_dry store_reuse dry_run 1000000
        measure_dry store_reuse dry_run_store 1000000 --store "$work/reuse.db" --max-age 1d
        expect_calls=0 measure_cardscreen store_reuse reuse 1000000 "" --rate 0 \
            --store "$work/reuse.db" --max-age 1d
    fi
    if wants store_overhead; then
        extra_fields=()
        echo "-- store overhead: 100,000 rows, latency 0, without a store, then a second night with one"
        measure_cardscreen store_overhead without_store 100000 "" --rate 0
        # Every measured night starts from the same store: night 1's.
        rm -f "$work/night2.db"-wal "$work/night2.db"-shm
        cp "$work/night1.db" "$work/night2.db"
        cp "$work/night1.db.key" "$work/night2.db.key"
        measure_cardscreen store_overhead with_store 100000 "" --rate 0 \
            --store "$work/night2.db" --max-age 0
    fi
    if wants versus; then
        extra_fields=()
        echo "-- versus: $versus_rev, then this checkout: overhead 40k, memory 1M, .xlsx 200k to CSV"
        for subject in versus current; do
            bin_now=$bin
            [[ $subject == versus ]] && bin_now=$versus_bin
            screen_bin=$bin_now measure_cardscreen versus "overhead_$subject" 40000 "" --rate 0
            screen_bin=$bin_now measure_cardscreen versus "memory_$subject" 1000000 "" --rate 0
            input_ext=xlsx screen_bin=$bin_now measure_cardscreen versus "xlsx_$subject" 200000 "" --rate 0
        done
    fi
done

if wants large; then
    for run in $(seq "$large_runs"); do
        extra_fields=()
        echo "== Large: 2,000 rows then 10,000,000 rows (--rate 0), run $run of $large_runs"
        measure_cardscreen large cardscreen_2k 2000 "" --rate 0
        measure_cardscreen large cardscreen_10m 10000000 "" --rate 0
    done
fi

if wants nights; then
    echo "-- nights: 30 nights of 100,000 cards + 1,000 new a night, --max-age 7d, clock moved (once: they are counts)"
    command -v faketime >/dev/null || die "the nights scenario needs faketime (Debian package faketime)"
    nights due
    nights level
fi

if wants store_size; then
    echo "-- store size: 30 nights of 100,000 cards, about 1% changing a night (once: it is a count)"
    store_size
fi

echo "== Results"
status=0
python3 "$lib" table "$results" | tee "$results_dir/table.md" || status=$?
echo
echo "Kept in $results_dir (table.md, results.jsonl, machine.txt)."
exit "$status"
