//! `taskctx`: build and parse task keys, inspect stored task snapshots, and run an end-to-end
//! isolation demo of submit → store → restore on any snapshot store.
//!
//! Exit codes: 0 success, 1 a check failed (for example an isolation violation in `demo`),
//! 2 bad usage or input. Errors go to stderr as one sentence and its cause.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command line reports on stdout and stderr"
)]

/// `println!` for command output that ends the process quietly once stdout is closed (for example
/// `taskctx bench | head`), where `println!` would panic: the reader has gone, nothing is left to
/// report to it.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout().lock(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

mod bench;
mod demo;
mod failure;
mod key;
mod queue;
mod snapshot;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Safe task context for background work: keys, stored snapshots and an isolation demo.
#[derive(Debug, Parser)]
#[command(name = "taskctx", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build, parse and prefix task keys.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Run simulated callers and workers end to end and check every task restores its own caller.
    Demo(demo::DemoArgs),
    /// Submit the demo's tasks to a Redis list, for `taskctx work` in other processes.
    Submit(queue::SubmitArgs),
    /// Run the tasks on a Redis list as workers, checking every task's caller.
    Work(queue::WorkArgs),
    /// Measure submit and run throughput and latency per stored form, beside raw SET and GET.
    Bench(bench::BenchArgs),
    /// Decode and fetch stored task snapshots.
    #[command(subcommand)]
    Snapshot(snapshot::SnapshotCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { 2 } else { 0 };
            // Help and version go to stdout, usage errors to stderr.
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let outcome = match cli.command {
        Command::Key(command) => key::run(command),
        Command::Demo(args) => demo::run(&args),
        Command::Submit(args) => queue::submit(&args),
        Command::Work(args) => queue::work(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Snapshot(command) => snapshot::run(&command),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("taskctx: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
