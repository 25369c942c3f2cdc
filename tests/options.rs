//! Output-shaping and logging options do what they say: --mask hides cards from the output but
//! not from the API, --prefix renames every added column, --log-format json writes one object a
//! line, and a config file applies under the flags, never showing the key it holds.

use crate::common::*;

#[test]
fn mask_hides_the_card_in_the_output_only() {
    let sim = Simulator::start(&[]);
    let all = cards(5, 60);
    let result = Screen::new(&sim).card_list(&all).arg("--mask").run();
    result.ok();
    let shown = result.column("card");
    assert_eq!(shown.len(), all.len());
    for (card, masked) in all.iter().zip(&shown) {
        assert_eq!(masked, &format!("{}******{}", &card[..6], &card[12..]));
    }
    // The API still got the real numbers.
    assert_eq!(sim.calls_for(&all[0]), 1);
}

#[test]
fn prefix_renames_the_added_columns_and_avoids_clashes() {
    let sim = Simulator::start(&[]);
    let card = &cards(1, 61)[0];
    let clash = Screen::new(&sim)
        .csv(format!("card,status\n{card},active\n"))
        .run();
    assert_refused(&clash, "--prefix");
    let result = Screen::new(&sim)
        .work(&clash.work)
        .input(&clash.input)
        .args(["--prefix", "juhe_"])
        .run();
    result.ok();
    let (header, rows) = (&result.header, &result.rows);
    assert_eq!(header[..2], ["card", "status"]);
    assert_eq!(header[2..], ADDED.map(|name| format!("juhe_{name}")));
    assert_eq!(rows[0][1], "active");
    assert_eq!(rows[0][2], "ok");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let sim = Simulator::start(&["--timeout-rate", "0.3"]);
    let result = Screen::new(&sim)
        .cards(20, 62)
        .args(["--log-format", "json", "--max-attempts", "20"])
        .env("RUST_LOG", "debug")
        .run();
    result.ok();
    let log = &result.stderr;
    let json_lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert!(
        json_lines.iter().any(|v| v["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("retry"))),
        "{log}"
    );
}

#[test]
fn config_file_settings_apply_and_flags_win() {
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write(
        "cards.tsv",
        format!("卡号\tname\n{}\t张三\n", cards(1, 63)[0]),
    );
    let config = work.write(
        "c.toml",
        format!(
            "endpoint = \"{}\"\ndelimiter = \"\\\\t\"\nprefix = \"cfg_\"\nrate = 0\n",
            sim.endpoint()
        ),
    );
    let screen = || Screen::new(&sim).work(&work).input(&input);
    let result = screen()
        .output("out.tsv")
        .arg("--config")
        .arg(&config)
        .args(["--prefix", "flag_"])
        .run();
    result.ok();
    let (header, rows) = read_csv_with(result.out(), b'\t');
    assert_eq!(header[2], "flag_status");
    assert_eq!(rows[0][1], "张三");

    let bad = work.write("bad.toml", "ratee = 5\n");
    let result = screen().unnamed_output().arg("--config").arg(&bad).run();
    assert_refused(&result, "ratee");
    assert!(!work.path("cards.screened.tsv").exists());
}

#[cfg(unix)]
#[test]
fn a_key_in_a_readable_config_file_is_warned_about_but_never_shown() {
    use std::os::unix::fs::PermissionsExt;
    let sim = Simulator::start(&[]);
    let work = Workdir::new();
    let input = work.write("cards.csv", card_csv(&cards(3, 64)));
    let config = work.write("c.toml", format!("key = \"{KEY}\"\n"));
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let result = Screen::new(&sim)
        .work(&work)
        .input(&input)
        .output("o.csv")
        .arg("--config")
        .arg(&config)
        .env_remove("JUHE_KEY")
        .env("RUST_LOG", "trace")
        .run();
    result.ok();
    let log = &result.stderr;
    assert!(log.contains("chmod 600"), "{log}");
    assert!(!log.contains(KEY));
}

#[test]
fn the_example_config_file_runs_as_it_is_under_the_flags() {
    let sim = Simulator::start(&[]);
    let all = cards(4, 65);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let result = Screen::new(&sim)
        .card_list(&all)
        .args(["--config", example])
        .run();
    result.ok();
    let header = &result.header;
    assert_eq!(header[header.len() - ADDED.len()..], ADDED);
    assert_eq!(result.rows.len(), all.len());
    assert_eq!(result.calls, all.len() as u64);
}
