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
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "cardscreen", &mut script);
    script
}

/// What man(1) shows beside the flags: what the exit codes mean and what the environment sets.
const EXIT_STATUS_AND_ENVIRONMENT: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
completed; every row ok or invalid
.TP
\fB1\fR
completed, \-\-fail\-on\-hit, at least one hit (and no row error)
.TP
\fB2\fR
usage, config or input error found before any call
.TP
\fB3\fR
completed, at least one row error: run again with \-\-retry\-errors
.TP
\fB4\fR
aborted: the API refused the key, IP or interface, the TLS certificate is not trusted, or too many rows failed in a row: fix it, then \-\-resume
.TP
\fB5\fR
stopped: quota used up or \-\-max\-calls reached: \-\-resume later
.TP
\fB130\fR, \fB143\fR
interrupted by SIGINT or SIGTERM after saving progress: \-\-resume
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

/// The man page: the program, then each subcommand with its synopsis and options, then exit
/// codes and environment.
pub fn man_page() -> Vec<u8> {
    let mut cli = Cli::command();
    // Gives each subcommand its full name (`cardscreen screen`) for its synopsis.
    cli.build();
    let man = Man::new(cli.clone());
    let mut page = Vec::new();
    // Rendering into memory cannot fail.
    let _ = man.render_title(&mut page);
    let _ = man.render_name_section(&mut page);
    let _ = man.render_synopsis_section(&mut page);
    let _ = man.render_description_section(&mut page);
    let _ = man.render_subcommands_section(&mut page);
    // `help` says nothing a man page reader needs.
    for command in cli.get_subcommands().filter(|c| c.get_name() != "help") {
        let name = command.get_bin_name().unwrap_or_else(|| command.get_name());
        let man = Man::new(command.clone());
        let heading = format!(".SH \"{}\"\n", name.to_uppercase());
        page.extend(section(
            |w| man.render_synopsis_section(w),
            "SYNOPSIS",
            &heading,
        ));
        page.extend(section(
            |w| man.render_description_section(w),
            "DESCRIPTION",
            ".PP\n",
        ));
        if command.get_arguments().any(|arg| !arg.is_hide_set()) {
            let options = section(
                |w| man.render_options_section(w),
                "OPTIONS",
                ".SS Options\n",
            );
            page.extend(options);
        }
    }
    page.extend_from_slice(EXIT_STATUS_AND_ENVIRONMENT.as_bytes());
    let _ = man.render_version_section(&mut page);
    tidy(&page, &cli)
}

/// One page from the pieces: the preamble every piece starts with kept once, and the
/// subcommands named as the sections of this page rather than as pages of their own.
fn tidy(page: &[u8], cli: &clap::Command) -> Vec<u8> {
    const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    let mut text = String::from_utf8_lossy(page).replace(PREAMBLE, "");
    for command in cli.get_subcommands() {
        let name = command.get_name().replace('-', "\\-");
        text = text.replace(
            &format!("cardscreen\\-{name}(1)"),
            &format!("\\fBcardscreen {name}\\fR"),
        );
    }
    format!("{PREAMBLE}{text}").into_bytes()
}

/// One section of a subcommand's own page, its `.SH` heading replaced so that it reads as part
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
