//! `cardscreen completions SHELL` and `cardscreen man`: the command line described for shells
//! and for man(1), generated from the clap definition that parses it, so they cannot drift.

use clap::CommandFactory;
use clap_mangen::Man;

use super::args::{Cli, Shell};

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    let mut cli = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cli, "cardscreen", &mut script);
    if shell == clap_complete::Shell::Fish {
        script.extend(fish_positionals(&cli, &[]).into_bytes());
    }
    script
}

/// What clap's fish script leaves out: the words a positional argument takes
/// (`cardscreen completions <TAB>` offers the shells, not files).
fn fish_positionals(command: &clap::Command, path: &[&str]) -> String {
    let mut lines = String::new();
    if let Some((last, parents)) = path.split_last() {
        let condition = match parents {
            [] => format!("__fish_cardscreen_using_subcommand {last}"),
            _ => format!(
                "__fish_cardscreen_using_subcommand {}; and __fish_seen_subcommand_from {last}",
                parents.join(" ")
            ),
        };
        for arg in command.get_positionals() {
            for value in arg.get_possible_values() {
                let help = value.get_help().map(|h| h.to_string()).unwrap_or_default();
                lines.push_str(&format!(
                    "complete -c cardscreen -n \"{condition}\" -f -a \"{}\" -d '{}'\n",
                    value.get_name(),
                    help.replace('\\', "\\\\").replace('\'', "\\'"),
                ));
            }
        }
    }
    for sub in command.get_subcommands().filter(|c| c.get_name() != "help") {
        let mut deeper = path.to_vec();
        deeper.push(sub.get_name());
        lines.push_str(&fish_positionals(sub, &deeper));
    }
    lines
}

/// What man(1) shows after the commands: what the exit codes mean, the files cardscreen reads
/// and writes, and what the environment sets.
const EXIT_STATUS_FILES_AND_ENVIRONMENT: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
completed; every row ok or invalid
.TP
\fB1\fR
completed, \-\-fail\-on\-hit, at least one hit (and no row error)
.TP
\fB2\fR
usage, config or input error found before any call; or another run holds the lock on the same output (\fI<output>\fR.lock): the message names its pid, and no call is made. Runs that share a \-\-store take turns writing to it, each waiting up to a minute for the other; a store still locked after that, or one that cannot be written, is exit 2 too (answers already paid for stay in the journal for \-\-resume).
.TP
\fB3\fR
completed, at least one row error: run again with \-\-retry\-errors; or more of the rows invalid than \-\-max\-invalid allows: fix the file as the summary's first line says
.TP
\fB4\fR
aborted: the API refused the key, IP or interface, the TLS certificate is not trusted, too many rows failed in a row, the output closed (the reader of standard output went away) or the disk filled (disk full): fix it, then \-\-resume
.TP
\fB5\fR
stopped: quota used up or \-\-max\-calls reached: \-\-resume later
.TP
\fB130\fR, \fB143\fR
interrupted by SIGINT or SIGTERM (SIGHUP counts as SIGTERM) after saving progress: \-\-resume
.SH FILES
.TP
\fBcardscreen.toml\fR
the config file of \fBcardscreen screen\fR, read from the working directory when there is one and no \-\-config (\-c) names another; its keys are the options' names with _ for \- (see config.example.toml). An unknown key is exit 2.
.TP
\fI<output>\fR.partial
the output while the run goes, renamed to \fI<output>\fR when the run completes
.TP
\fI<output>\fR.journal
every answer received, as it arrives, for \-\-resume; removed once a run completes (\fI<output>\fR.journal.tmp while one is started)
.TP
\fI<output>\fR.lock
held while a run writes \fI<output>\fR, so that a second run on it exits 2
.TP
\fI<store>\fR
the SQLite file of \-\-store (with its \fI<store>\fR\-wal and \fI<store>\fR\-shm beside it while in use)
.TP
\fI<store>\fR.key
the store's key file, with which card numbers are kept as HMAC\-SHA256 codes; created with the store unless \-\-store\-key\-file names another. Without it the store cannot be read.
.SH ENVIRONMENT
.TP
\fBJUHE_KEY\fR
the API key (after \-\-key\-file and the variable \-\-key\-env names)
.TP
\fBCREDENTIALS_DIRECTORY\fR
under systemd, the key is read from its file JUHE_KEY when no other source gives one
.TP
\fBSSL_CERT_FILE\fR, \fBSSL_CERT_DIR\fR
certificates trusted in place of the system's store (beside the built\-in roots and \-\-ca\-cert)
.TP
\fBHTTPS_PROXY\fR, \fBNO_PROXY\fR
the proxy for the API, and the hosts reached without it
.TP
\fBRUST_LOG\fR
filters the log lines on standard error
"#;

/// The man page: the program, every command (`store`'s own too) with its synopsis and options,
/// then exit codes, files and environment. Option names are not hyphenated, and lines are not
/// stretched to the right margin.
pub fn man_page() -> Vec<u8> {
    let mut cli = Cli::command();
    cli.build();
    let man = Man::new(cli.clone());
    let mut page = Vec::new();
    // Rendering into memory cannot fail.
    let _ = man.render_title(&mut page);
    page.extend_from_slice(b".nh\n.ad l\n");
    let _ = man.render_name_section(&mut page);
    page.extend_from_slice(b".SH SYNOPSIS\n");
    page.extend(synopsis(&cli, "cardscreen").into_bytes());
    let _ = man.render_description_section(&mut page);
    let commands = commands(&cli, "cardscreen");
    page.extend_from_slice(b".SH COMMANDS\n");
    for (name, command) in &commands {
        let about = command
            .get_about()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let line = format!(".TP\n\\fB{}\\fR\n{}\n", escape(name), text_line(&about));
        page.extend(line.into_bytes());
    }
    for (name, command) in &commands {
        page.extend(command_section(name, command));
    }
    page.extend_from_slice(EXIT_STATUS_FILES_AND_ENVIRONMENT.as_bytes());
    let _ = man.render_version_section(&mut page);
    tidy(&page)
}

/// Every command under `parent`, by its full name, depth first; `help` says nothing a man page
/// reader needs.
fn commands<'a>(parent: &'a clap::Command, name: &str) -> Vec<(String, &'a clap::Command)> {
    let mut all = Vec::new();
    for command in parent.get_subcommands().filter(|c| c.get_name() != "help") {
        let full = format!("{name} {}", command.get_name());
        all.push((full.clone(), command));
        all.extend(commands(command, &full));
    }
    all
}

/// One command's section: its synopsis, what it does, its options.
fn command_section(name: &str, command: &clap::Command) -> Vec<u8> {
    let man = Man::new(command.clone());
    let mut text = format!(".SH \"{}\"\n", escape(&name.to_uppercase())).into_bytes();
    text.extend(synopsis(command, name).into_bytes());
    text.extend(section(
        |w| man.render_description_section(w),
        "DESCRIPTION",
        ".PP\n",
    ));
    if command.get_arguments().any(|arg| !arg.is_hide_set()) {
        text.extend(section(
            |w| man.render_options_section(w),
            "OPTIONS",
            ".SS Options\n",
        ));
    }
    text
}

/// `cardscreen screen [-o|--output PATH] … INPUT`: each option with the name of its value,
/// optional ones in brackets, and no line broken inside an option.
fn synopsis(command: &clap::Command, name: &str) -> String {
    let mut words = vec![format!("\\fB{}\\fR", escape(name))];
    let shown = |arg: &&clap::Arg| !arg.is_hide_set();
    let options: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|arg| !arg.is_positional())
        .filter(shown)
        .collect();
    let (required, optional): (Vec<_>, Vec<_>) =
        options.into_iter().partition(|arg| arg.is_required_set());
    words.extend(
        optional
            .into_iter()
            .map(|arg| format!("[{}]", option_word(arg))),
    );
    words.extend(required.into_iter().map(option_word));
    for arg in command.get_positionals().filter(shown) {
        let value = format!("\\fI{}\\fR", escape(&value_name(arg)));
        words.push(if arg.is_required_set() {
            value
        } else {
            format!("[{value}]")
        });
    }
    if command.has_subcommands() {
        words.push("\\fICOMMAND\\fR".into());
    }
    format!(".PP\n{}\n", words.join(" "))
}

/// `-o|--output PATH`, joined by unbreakable spaces.
fn option_word(arg: &clap::Arg) -> String {
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("\\fB\\-{}\\fR", escape(&short.to_string())));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("\\fB\\-\\-{}\\fR", escape(long)));
    }
    let mut word = names.join("|");
    if arg.get_action().takes_values() {
        word.push_str(&format!("\\ \\fI{}\\fR", escape(&value_name(arg))));
    }
    word
}

/// The name an argument's value goes by: its value name, else its id in capitals.
fn value_name(arg: &clap::Arg) -> String {
    match arg.get_value_names() {
        Some(names) if !names.is_empty() => names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => arg.get_id().as_str().to_uppercase(),
    }
}

/// Text set as roff would read it literally: backslashes and dashes escaped.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('-', "\\-")
}

/// One line of running text: escaped, on one input line, never read as a request.
fn text_line(text: &str) -> String {
    let line = escape(&text.replace('\n', " "));
    if line.starts_with(['.', '\'']) {
        format!("\\&{line}")
    } else {
        line
    }
}

/// One page from the pieces: the preamble every piece starts with kept once.
fn tidy(page: &[u8]) -> Vec<u8> {
    const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    let text = String::from_utf8_lossy(page).replace(PREAMBLE, "");
    format!("{PREAMBLE}{text}").into_bytes()
}

/// One section of a command's own page, its `.SH` heading replaced so that it reads as part
/// of the program's page.
fn section(
    render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
    title: &str,
    heading: &str,
) -> Vec<u8> {
    let mut text = Vec::new();
    let _ = render(&mut text);
    String::from_utf8_lossy(&text)
        .replacen(&format!(".SH {title}\n"), heading, 1)
        .into_bytes()
}
