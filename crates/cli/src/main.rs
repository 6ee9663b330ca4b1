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
mod ranges;
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
    ///
    /// Keys, for the job list LIST and the worker id ID: each job is moved from LIST to
    /// LIST:processing:ID as it is taken (BLMOVE) and removed from there only once its outcome is
    /// counted; a worker restarted with the same --worker-id first runs the jobs left there. An
    /// entry that is not a job (not UTF-8, no request id) is reported as a failed job and moved to
    /// the dead-letter list LIST:dead, and the worker goes on.
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
        // Help and version go to stdout.
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        // Usage errors go to stderr, with any URL they quote redacted.
        Err(error) => {
            let message = error.render().to_string();
            eprint!(
                "{}",
                redact_arguments(&message, std::env::args_os().skip(1))
            );
            return ExitCode::from(2);
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

/// `message` with every argument that may carry a password (one holding `://` or `@`, whole or
/// after `=`) replaced by its redacted form: clap quotes stray or invalid arguments verbatim.
fn redact_arguments(message: &str, arguments: impl Iterator<Item = std::ffi::OsString>) -> String {
    let mut secrets: Vec<String> = Vec::new();
    for argument in arguments {
        let argument = argument.to_string_lossy().into_owned();
        let value = argument.split_once('=').map(|(_, value)| value.to_owned());
        for candidate in [Some(argument), value].into_iter().flatten() {
            if candidate.contains("://") || candidate.contains('@') {
                secrets.push(candidate);
            }
        }
    }
    // The longest first, so that an argument is replaced whole before any part of it.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    secrets
        .into_iter()
        .fold(message.to_owned(), |message, secret| {
            message.replace(&secret, taskctx_worker_glue::redact_url(&secret).as_str())
        })
}

#[cfg(test)]
#[allow(clippy::panic, reason = "a test fails loudly")]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_never_echo_a_url_password() {
        for argv in [
            vec!["taskctx", "demo", "redis://:hunter2@h"],
            vec!["taskctx", "demo", "--url=redis://:hunter2@h", "--bogus"],
            vec![
                "taskctx",
                "demo",
                "--url",
                "unix://:hunter2@/tmp/x.sock",
                "extra",
            ],
            vec!["taskctx", "bench", "--tasks", "x", "rediss://u:hun?ter2@h"],
        ] {
            let Err(error) = Cli::try_parse_from(&argv) else {
                panic!("{argv:?} parsed");
            };
            let raw = error.render().to_string();
            let shown = redact_arguments(&raw, argv.iter().skip(1).map(std::ffi::OsString::from));
            assert!(
                !shown.contains("hunter2") && !shown.contains("ter2"),
                "{shown}"
            );
            assert!(!shown.is_empty());
        }
    }
}
