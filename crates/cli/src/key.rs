//! `taskctx key`: build, parse and prefix task keys.

use clap::{Args, Subcommand};
use serde_json::Value;
use taskctx_scope::{Component, Leg, Scope, TaskId, TaskKey, TaskType, scope_prefix};

use crate::failure::Failure;

/// The `key` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Print the (execution) key of a task.
    Build(BuildArgs),
    /// Parse a task key, with or without a leg suffix.
    Parse(ParseArgs),
    /// Print the Redis key prefix of a scope.
    Prefix(ScopeArgs),
}

/// Whose task: a scope, or anonymous.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ScopeArgs {
    /// The authorization scope (`client_id` or `client_id|sub`), as text.
    #[arg(long, allow_hyphen_values = true)]
    scope: Option<String>,
    /// An anonymous task (no scope).
    #[arg(long)]
    anonymous: bool,
}

impl ScopeArgs {
    fn scope(&self) -> Option<Scope<'_>> {
        self.scope.as_deref().map(Scope::new)
    }
}

/// Arguments of `key build`.
#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    #[command(flatten)]
    scope: ScopeArgs,
    /// The client's task id.
    #[arg(long, allow_hyphen_values = true)]
    task_id: String,
    /// The task type (for example `tool`, `prompt`, `resource`).
    #[arg(long, allow_hyphen_values = true)]
    task_type: String,
    /// The component (tool name, prompt name or resource URI).
    #[arg(long, allow_hyphen_values = true)]
    component: String,
    /// The execution leg (1, the default, has no suffix).
    #[arg(long)]
    leg: Option<u64>,
}

/// Arguments of `key parse`.
#[derive(Debug, Args)]
pub(crate) struct ParseArgs {
    /// The key to parse.
    #[arg(allow_hyphen_values = true)]
    key: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs a `key` subcommand.
pub(crate) fn run(command: KeyCommand) -> Result<(), Failure> {
    match command {
        KeyCommand::Build(args) => {
            let task_id = TaskId::new(args.task_id.as_str())
                .map_err(|e| Failure::input("invalid task id", e))?;
            let task_type = TaskType::new(args.task_type.as_str())
                .map_err(|e| Failure::input("invalid task type", e))?;
            let key = TaskKey::new(
                args.scope.scope(),
                task_id,
                task_type,
                Component::new(args.component.as_str()),
            );
            out!("{}", key.execution_key(Leg::new(args.leg.unwrap_or(1))));
            Ok(())
        }
        KeyCommand::Parse(args) => {
            let (key, leg) = TaskKey::parse_execution(&args.key)
                .map_err(|e| Failure::input("invalid task key", e))?;
            let scope = key.scope().map(|scope| scope.to_str().into_owned());
            if args.json {
                // Fields in a fixed order: scope, task_id, task_type, component, leg.
                let text = |value: &str| Value::String(value.to_owned()).to_string();
                let value = format!(
                    r#"{{"scope": {}, "task_id": {}, "task_type": {}, "component": {}, "leg": {}}}"#,
                    scope.as_deref().map_or_else(|| "null".to_owned(), text),
                    text(key.task_id().as_str()),
                    text(key.task_type().as_str()),
                    text(&key.component().to_str()),
                    leg.get(),
                );
                out!("{value}");
            } else {
                let scope = scope.map_or_else(|| "(anonymous)".to_owned(), |s| format!("{s:?}"));
                out!("scope      {scope}");
                out!("task_id    {}", key.task_id().as_str());
                out!("task_type  {}", key.task_type().as_str());
                out!("component  {:?}", key.component().to_str());
                out!("leg        {}", leg.get());
            }
            Ok(())
        }
        KeyCommand::Prefix(args) => {
            out!("{}", scope_prefix(args.scope().as_ref()));
            Ok(())
        }
    }
}
