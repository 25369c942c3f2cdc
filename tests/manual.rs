//! The man page read back as man(1) and groff set it at 80 columns, and the completion scripts
//! read back by the shells themselves: every command and option with its argument, no option
//! name hyphenated across lines, the words an option takes offered, files only where a file
//! goes.

use std::path::Path;
use std::process::{Command, Stdio};

use clap::CommandFactory;

use crate::common::*;

/// Every command but `help`, by its full name (`cardscreen store prune`), depth first.
fn commands(parent: &clap::Command, name: &str) -> Vec<(String, clap::Command)> {
    let mut all = Vec::new();
    for command in parent.get_subcommands().filter(|c| c.get_name() != "help") {
        let full = format!("{name} {}", command.get_name());
        all.push((full.clone(), command.clone()));
        all.extend(commands(command, &full));
    }
    all
}

fn cli() -> clap::Command {
    let mut cli = cardscreen::cli::Cli::command();
    cli.build();
    cli
}

/// `--older-than DUR`, as the synopsis writes an option and its value.
fn with_value(arg: &clap::Arg) -> Option<(String, String)> {
    let long = arg.get_long()?;
    if !arg.get_action().takes_values() {
        return Some((format!("--{long}"), String::new()));
    }
    let value = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map_or_else(|| arg.get_id().as_str().to_uppercase(), |n| n.to_string());
    Some((format!("--{long}"), value))
}

fn output_of(command: &mut Command) -> String {
    let result = command.stderr(Stdio::inherit()).output().expect("run it");
    assert!(result.status.success(), "{command:?}");
    String::from_utf8(result.stdout).expect("UTF-8")
}

/// The page written by `cardscreen man` into `dir`.
fn page(dir: &Path) -> std::path::PathBuf {
    let page = output_of(Command::new(BIN).arg("man"));
    let path = dir.join("cardscreen.1");
    std::fs::write(&path, page).unwrap();
    path
}

/// A line that ends in a word broken by a hyphen (`--retry-er-` / `rors`).
fn broken_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| {
            let mut end = line.trim_end().chars().rev();
            matches!(end.next(), Some('-' | '\u{2010}'))
                && end.next().is_some_and(char::is_alphanumeric)
        })
        .collect()
}

/// What a reader sees: the page set at `width` columns by man(1), and by groff directly.
fn rendered(page: &Path, width: u32) -> [String; 2] {
    let by_man = output_of(
        Command::new("man")
            .arg("-l")
            .arg(page)
            .env("MANWIDTH", width.to_string())
            .env("MANPAGER", "cat")
            .env("LANG", "C.UTF-8")
            .env_remove("MAN_KEEP_FORMATTING"),
    );
    let by_groff = output_of(
        Command::new("groff")
            .args(["-man", "-Tutf8", "-P-cbou"])
            .arg(format!("-rLL={width}n"))
            .arg(page),
    );
    [by_man, by_groff]
}

#[test]
#[ignore = "needs man"]
fn the_man_page_shows_every_command_and_option_with_its_argument() {
    let work = Workdir::new();
    let page = page(work.dir.path());
    for text in rendered(&page, 80) {
        for (name, command) in commands(&cli(), "cardscreen") {
            let heading = name.to_uppercase();
            let at = text
                .find(&format!("\n{heading}\n"))
                .unwrap_or_else(|| panic!("no section {heading}"));
            let section = &text[at..];
            let section = &section[..section[1..].find("\n\n").map_or(section.len(), |n| n + 1)];
            // The synopsis: the command, then each option with its value, never `<--store>`.
            assert!(section.contains(&format!("\n       {name}")), "{heading}");
            assert!(!section.contains("<--"), "{heading}: {section}");
            for arg in command.get_arguments().filter(|arg| !arg.is_positional()) {
                let Some((flag, value)) = with_value(arg) else {
                    continue;
                };
                let shown = format!("{flag} {value}");
                assert!(
                    section.contains(shown.trim_end()),
                    "{heading} synopsis lacks {shown}: {section}"
                );
                if !value.is_empty() {
                    assert!(
                        text.contains(&format!("{flag} <{value}>")),
                        "{flag} <{value}>"
                    );
                }
            }
        }
        assert!(text.contains("--older-than DUR") && text.contains("store prune"));
        // The store may come from the config file: not a required option.
        assert!(text.contains("cardscreen history [--store PATH] [--store-key-file PATH]"));
        assert_eq!(broken_lines(&text), Vec::<&str>::new());
        let exit = &text[text.find("\nEXIT STATUS\n").expect("EXIT STATUS")..];
        for words in ["lock", "output closed", "disk full", "--max-invalid"] {
            assert!(exit.contains(words), "EXIT STATUS lacks {words}");
        }
        let files = &text[text.find("\nFILES\n").expect("FILES")..];
        for file in [
            "cardscreen.toml",
            "<store>.key",
            "<output>.journal",
            "<output>.lock",
        ] {
            assert!(files.contains(file), "FILES lacks {file}");
        }
    }
    // Narrower still, no option name is broken either.
    for text in rendered(&page, 60) {
        assert_eq!(broken_lines(&text), Vec::<&str>::new());
    }
}

#[test]
#[ignore = "needs man"]
fn groff_reads_the_page_without_a_warning() {
    let work = Workdir::new();
    let page = page(work.dir.path());
    let result = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&page)
        .output()
        .expect("groff");
    assert!(result.status.success());
    assert_eq!(String::from_utf8_lossy(&result.stderr), "");
}

/// The options that take one of a fixed set of words, and the words.
const WORDS: [(&str, &str); 6] = [
    ("--luhn", "warn reject"),
    ("--progress", "auto always never"),
    ("--output-format", "csv xlsx"),
    ("--encoding", "auto utf-8 gbk gb18030"),
    ("--log-format", "text json"),
    ("--refresh", "level due"),
];

fn script(shell: &str) -> String {
    output_of(Command::new(BIN).args(["completions", shell]))
}

#[test]
fn the_completion_scripts_offer_the_words_an_option_takes() {
    let bash = script("bash");
    for (flag, words) in WORDS {
        let case = format!("{flag})\n                    COMPREPLY=($(compgen -W \"{words}\"");
        assert!(bash.contains(&case), "bash: {flag}");
    }
    // A file where a file goes, and no file for a number: the case up to its `;;`.
    let case = |flag: &str| {
        let at = bash
            .find(&format!("                {flag})\n"))
            .expect(flag);
        let case = &bash[at..];
        case[..case.find(";;").unwrap_or(case.len())].to_string()
    };
    assert!(
        case("--output").contains("compgen -f"),
        "{}",
        case("--output")
    );
    assert!(!case("--rate").contains("compgen -f"), "{}", case("--rate"));
    let zsh = script("zsh");
    for (flag, words) in WORDS {
        assert!(zsh.contains(&format!(":({words})'")), "zsh: {flag}");
    }
    assert!(zsh.contains("'--output=[") && zsh.contains(":PATH:_files'"));
    let fish = script("fish");
    for (flag, _) in WORDS {
        let line = fish
            .lines()
            .find(|line| line.contains(&format!(" -l {} ", &flag[2..])))
            .expect(flag);
        assert!(line.contains(" -f -a \""), "fish: {line}");
    }
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let offered =
            format!("-n \"__fish_cardscreen_using_subcommand completions\" -f -a \"{shell}\"");
        assert!(fish.contains(&offered), "fish: {shell}");
    }
}

/// What bash's completion function offers for `words`, the last being the word completed.
fn bash_offers(script: &Path, dir: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n\
         COMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n\
         _cardscreen cardscreen \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\" \
         2>/dev/null\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" ")
    );
    let out = output_of(Command::new("bash").arg("-c").arg(program).current_dir(dir));
    out.lines().map(str::to_string).collect()
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn bash_completes_the_words_and_the_files() {
    if !have("bash") {
        eprintln!("no bash: skipped");
        return;
    }
    let work = Workdir::new();
    let path = work.write("cardscreen.bash", script("bash"));
    work.write("cards.csv", "card\n");
    let dir = work.dir.path();
    for (flag, words) in WORDS {
        let offered = bash_offers(&path, dir, &["cardscreen", "screen", flag, ""]);
        assert_eq!(offered.join(" "), words, "{flag}");
    }
    let offered = bash_offers(&path, dir, &["cardscreen", "screen", "--luhn", "r"]);
    assert_eq!(offered, ["reject"]);
    let offered = bash_offers(&path, dir, &["cardscreen", "completions", ""]);
    for shell in ["bash", "zsh", "fish", "powershell"] {
        assert!(offered.iter().any(|o| o == shell), "{offered:?}");
    }
    let offered = bash_offers(&path, dir, &["cardscreen", "store", ""]);
    for command in ["stats", "prune", "runs", "report"] {
        assert!(offered.iter().any(|o| o == command), "{offered:?}");
    }
    let offered = bash_offers(&path, dir, &["cardscreen", "screen", "--output", "cards."]);
    assert_eq!(offered, ["cards.csv"]);
    let offered = bash_offers(
        &path,
        dir,
        &["cardscreen", "store", "prune", "--store", "cards."],
    );
    assert_eq!(offered, ["cards.csv"]);
}

/// What fish offers for the command line `line`, in `dir`.
fn fish_offers(script: &Path, dir: &Path, line: &str) -> Vec<String> {
    let program = format!("source '{}'; complete -C'{line}'", script.display());
    let out = output_of(Command::new("fish").arg("-c").arg(program).current_dir(dir));
    out.lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
#[ignore = "needs fish"]
fn fish_offers_the_shells_and_the_words_not_files() {
    let work = Workdir::new();
    let path = work.write("cardscreen.fish", script("fish"));
    work.write("cards.csv", "card\n");
    let dir = work.dir.path();
    let mut shells = fish_offers(&path, dir, "cardscreen completions ");
    shells.sort();
    assert_eq!(shells, ["bash", "fish", "powershell", "zsh"]);
    for (flag, words) in WORDS {
        let mut offered = fish_offers(&path, dir, &format!("cardscreen screen {flag} "));
        let mut expected: Vec<&str> = words.split(' ').collect();
        offered.sort();
        expected.sort();
        assert_eq!(offered, expected, "{flag}");
    }
    let offered = fish_offers(&path, dir, "cardscreen screen --output cards.");
    assert_eq!(offered, ["cards.csv"]);
}

/// Drives an interactive zsh on a terminal (zsh's own `zpty`): each line is typed with a tab
/// after it, and what zsh lists is read back, each after a `=== line` of its own.
const ZSH_DRIVER: &str = r#"zmodload zsh/zpty
zpty -b z zsh -f -i
zpty -w z "PS1=''; fpath=($PWD \$fpath); autoload -U compinit; compinit -u -D; setopt nobeep"
sleep 2; while zpty -r -t z line; do :; done
for query in "$@"; do
  zpty -w -n z "$query"$'\t'
  sleep 1.5
  print -r -- "=== $query"
  while zpty -r -t z line; do print -r -- "$line"; done
  zpty -w -n z $'\x15'
  sleep 0.2; while zpty -r -t z line; do :; done
done
zpty -d z
"#;

#[test]
#[ignore = "needs zsh"]
fn zsh_offers_the_words_and_the_files() {
    let work = Workdir::new();
    work.write("_cardscreen", script("zsh"));
    work.write("driver.zsh", ZSH_DRIVER);
    work.write("cards.csv", "card\n");
    let mut lines = vec!["cardscreen completions ".to_string()];
    lines.extend(
        WORDS
            .iter()
            .map(|(flag, _)| format!("cardscreen screen {flag} ")),
    );
    lines.push("cardscreen screen --output cards.".into());
    let out = output_of(
        Command::new("timeout")
            .args(["60", "zsh", "-f", "driver.zsh"])
            .args(&lines)
            .current_dir(work.dir.path()),
    );
    // The terminal's escape sequences out, the listing left.
    let mut text = String::new();
    let mut chars = out.chars().filter(|c| *c != '\r');
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            let _ = chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            text.push(c);
        }
    }
    let listed = |line: &str| {
        let at = text.find(&format!("=== {line}\n")).expect(line) + line.len() + 5;
        let block = &text[at..];
        block[..block.find("=== ").unwrap_or(block.len())].to_string()
    };
    let shells = listed("cardscreen completions ");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        assert!(shells.contains(shell), "{shells}");
    }
    assert!(!shells.contains("cards.csv"), "{shells}");
    for (flag, words) in WORDS {
        let offered = listed(&format!("cardscreen screen {flag} "));
        for word in words.split(' ') {
            assert!(offered.contains(word), "{flag}: {offered}");
        }
        assert!(!offered.contains("cards.csv"), "{flag}: {offered}");
    }
    assert!(listed("cardscreen screen --output cards.").contains("cards.csv"));
}
