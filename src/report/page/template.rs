//! The page's markup. maud escapes every value it is given, so text from outside (cells, file
//! names, the vendor's words) shows as text; only the charts, which we draw, go in unescaped.

use std::time::Duration;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::advice::{error_advice, exit_words, reason_words, stop_advice};
use super::charts;
use super::data::{local_time, Night, Point, TILES};
use crate::util::humane::{rfc3339, thousands};

/// No script, no address, nothing from elsewhere: styles in the page, pictures as data.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; color: #1d2430; margin: 24px auto; max-width: 1180px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d5dae1; }
dl.header { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.header dt { color: #5b6574; }
.exit-0 , .exit-1 { color: #1f7a3a; } .exit-3 { color: #a15c00; } .stopped { color: #b3261e; }
.tiles { display: grid; grid-template-columns: repeat(6, 1fr); gap: 10px; }
.tile { border: 1px solid #d5dae1; border-radius: 6px; padding: 8px 10px; break-inside: avoid; }
.tile .label { color: #5b6574; font-size: 12px; } .tile .value { font-size: 22px; font-weight: 600; }
.tile .last { color: #5b6574; font-size: 12px; }
svg { width: 100%; max-width: 1100px; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { border: 1px solid #d5dae1; padding: 3px 6px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f1f3f6; } td.num { text-align: right; }
.muted { color: #5b6574; }
@media print {
  @page { size: A4; margin: 12mm; }
  body { margin: 0; max-width: none; font-size: 11px; }
  .tiles { grid-template-columns: repeat(4, 1fr); }
  section { break-inside: avoid-page; } table { break-inside: auto; } tr { break-inside: avoid; }
}
";

/// The whole page of a night.
pub(crate) fn night_page(night: &Night) -> String {
    let summary = night.summary;
    let title = format!("cardscreen report: {}", night.input_name);
    page(
        &title,
        html! {
            h1 { (title) }
            (header(night))
            h2 { "Figures" }
            (tiles(night))
            h2 { "Hits by flag" }
            (PreEscaped(charts::hits_by_flag(&night.entries("hits_by_flag"))))
            @if !night.trend.is_empty() { (trend_charts(&night.trend)) }
            (changes(night))
            (attention(night))
            p.muted { "cardscreen " (env!("CARGO_PKG_VERSION")) ", output " (summary.output) }
        },
    )
}

/// The trend page of a store alone (`store report`).
pub(crate) fn trend_page(store_name: &str, points: &[Point], now: u64) -> String {
    let title = format!("cardscreen trend: {store_name}");
    page(
        &title,
        html! {
            h1 { (title) }
            p.muted { "Written " (local_time(now)) " (" (rfc3339(now)) ") by cardscreen "
                (env!("CARGO_PKG_VERSION")) "; the last " (points.len()) " runs of the store." }
            @if points.is_empty() { p { "The store has no run recorded yet." } }
            @else { (trend_charts(points)) (runs_table(points)) }
        },
    )
}

fn page(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(POLICY);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

fn header(night: &Night) -> Markup {
    let summary = night.summary;
    let code = summary.exit_code;
    let class = if summary.complete {
        format!("exit-{code}")
    } else {
        "stopped".into()
    };
    let seconds = summary.elapsed_seconds.max(0.0).round() as u64;
    html! {
        dl.header {
            dt { "Input" } dd #input { (night.input_name) }
            dt { "Started" } dd { (local_time(night.started)) " · " (rfc3339(night.started)) }
            dt { "Finished" } dd { (local_time(night.finished)) " · " (rfc3339(night.finished)) }
            dt { "Duration" } dd { (humantime::format_duration(Duration::from_secs(seconds))) }
            dt { "Version" } dd { "cardscreen " (env!("CARGO_PKG_VERSION")) }
            dt { "Run by" } dd { (night.user) " on " (night.host) }
            dt { "Exit code" } dd #exit-code class=(class) data-value=(code) {
                (code) ": " (exit_words(code))
            }
        }
    }
}

fn tiles(night: &Night) -> Markup {
    html! {
        div.tiles {
            @for (label, field) in TILES {
                @let value = night.count(field);
                div.tile data-field=(field) {
                    div.label { (label) }
                    @match value {
                        Some(n) => div.value data-value=(n) { (thousands(n)) },
                        None => div.value { "—" },
                    }
                    @if let Some(last) = &night.last {
                        @match last.get(field) {
                            Some(n) => div.last data-value=(n) { "last run: " (thousands(*n)) },
                            None => div.last { "last run: —" },
                        }
                    }
                }
            }
        }
    }
}

fn trend_charts(points: &[Point]) -> Markup {
    let hits = charts::trend(points, ("hits", |p| p.hits), ("new hits", |p| p.new_hits));
    let calls = charts::trend(
        points,
        ("calls paid", |p| Some(p.calls)),
        ("answered from the store", |p| Some(p.reused)),
    );
    html! {
        h2 { "The last " (points.len()) " runs: hits and new hits" }
        (PreEscaped(hits))
        h2 { "The last " (points.len()) " runs: calls paid and answered from the store" }
        (PreEscaped(calls))
    }
}

fn runs_table(points: &[Point]) -> Markup {
    let shown = |v: Option<u64>| v.map_or("—".to_string(), thousands);
    html! {
        h2 { "Runs" }
        table #runs {
            thead { tr { th { "started" } th { "rows" } th { "calls paid" } th { "from the store" }
                th { "hits" } th { "new hits" } th { "errors" } th { "exit" } } }
            tbody {
                @for p in points {
                    tr {
                        td { (local_time(p.started_at)) }
                        td.num { (thousands(p.rows)) } td.num { (thousands(p.calls)) }
                        td.num { (thousands(p.reused)) } td.num { (shown(p.hits)) }
                        td.num { (shown(p.new_hits)) } td.num { (thousands(p.errors)) }
                        td.num { (p.exit_code.map_or("—".to_string(), |c| c.to_string())) }
                    }
                }
            }
        }
    }
}

fn changes(night: &Night) -> Markup {
    html! {
        h2 { "What changed" }
        @match night.changes {
            None => p.muted { "Changes are known with a result store (--store) only." },
            Some(kept) if kept.rows.is_empty() => p { "No new hit, nothing cleared or changed." },
            Some(kept) => {
                table #changes {
                    thead { tr {
                        @for column in &kept.columns { th { (column) } }
                        th { "change" } th { "flags" }
                    } }
                    tbody {
                        @for row in &kept.rows {
                            tr {
                                @for cell in &row.cells { td { (cell) } }
                                td.change { (row.change) } td.flags { (row.flags.join(" ")) }
                            }
                        }
                    }
                }
                @if kept.more > 0 {
                    p #more data-value=(kept.more) {
                        "and " (thousands(kept.more)) " more in the --changes file"
                    }
                }
            }
        }
    }
}

fn attention(night: &Night) -> Markup {
    let summary = night.summary;
    let errors: Vec<(String, u64)> = night
        .entries("errors_by_code")
        .into_iter()
        .take(50)
        .collect();
    let invalid = night.entries("invalid_by_reason");
    html! {
        h2 { "What needs attention" }
        @if let Some(why) = &summary.stopped_because {
            p.stopped #stopped { "The run stopped: " (why) }
            @if let Some(next) = stop_advice(summary.exit_code) { p { (next) } }
        }
        @if !errors.is_empty() {
            table #errors {
                thead { tr { th { "error code" } th { "rows" } th { "what to do" } } }
                tbody { @for (code, n) in &errors {
                    tr { td { (code) } td.num { (thousands(*n)) } td { (error_advice(code)) } }
                } }
            }
        }
        @if !invalid.is_empty() {
            table #invalid {
                thead { tr { th { "invalid: reason" } th { "rows" } th { "what it means" } } }
                tbody { @for (reason, n) in &invalid {
                    tr { td { (reason) } td.num { (thousands(*n)) } td { (reason_words(reason)) } }
                } }
            }
        }
        @if summary.luhn_warnings > 0 {
            p #luhn { (thousands(summary.luhn_warnings))
                " rows failed the Luhn check and were sent anyway (--luhn warn)." }
        }
        @if summary.stopped_because.is_none() && errors.is_empty() && invalid.is_empty()
            && summary.luhn_warnings == 0 {
            p { "Nothing: every row was answered." }
        }
    }
}
