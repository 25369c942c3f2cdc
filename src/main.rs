//! The `cardscreen` binary: parse, set up logging, run, map the outcome to an exit code.

use std::process::ExitCode;

use cardscreen::cli::{Cli, Command, Settings, StoreCommand};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        #[cfg(feature = "simulator")]
        Command::Simulate(config) => {
            cardscreen::logging::init(cardscreen::logging::LogFormat::Text);
            cardscreen::run_simulator(config)
        }
        Command::Completions { shell } => cardscreen::print(&cardscreen::cli::completions(shell)),
        Command::Man => cardscreen::print(&cardscreen::cli::man_page()),
        Command::History(args) => {
            cardscreen::logging::init(cardscreen::logging::LogFormat::Text);
            cardscreen::run_history(&args)
        }
        Command::Store(StoreCommand::Stats(args)) => {
            cardscreen::logging::init(cardscreen::logging::LogFormat::Text);
            cardscreen::run_store(&args, None)
        }
        Command::Store(StoreCommand::Runs(args)) => {
            cardscreen::logging::init(cardscreen::logging::LogFormat::Text);
            cardscreen::run_store_runs(&args.store, args.limit, args.json)
        }
        Command::Store(StoreCommand::Report(args)) => {
            cardscreen::logging::init(cardscreen::logging::LogFormat::Text);
            cardscreen::run_store_report(&args.store, &args.output)
        }
        Command::Store(StoreCommand::Prune(args)) => match args.older_than() {
            Ok(age) => {
                cardscreen::logging::init(cardscreen::logging::LogFormat::Text);
                cardscreen::run_store(&args.store, Some((age, args.vacuum)))
            }
            Err(e) => {
                eprintln!("cardscreen: {e}");
                2
            }
        },
        Command::Screen(args) => match Settings::resolve(&args, |name| std::env::var(name).ok()) {
            Ok(settings) => {
                cardscreen::logging::init(settings.log_format);
                cardscreen::run_screen(settings)
            }
            Err(e) => {
                eprintln!("cardscreen: {e}");
                2
            }
        },
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
