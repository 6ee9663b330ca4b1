//! `taskctx snapshot`: decode a stored task snapshot, or fetch one from a store.

use std::io::Read as _;
use std::time::Duration;

use clap::{Args, Subcommand};
use taskctx_scope::{DEFAULT_QUEUE_NAME, KeySpace, TaskKey};
use taskctx_snapshot::{
    AccessToken, Codec, DecodeError, FernetKey, FernetKeys, HeaderPolicy, Headers, KeyRing,
    SealingKey, SnapshotCodec, StoredForm, TaskContextSnapshot, json,
};
use taskctx_worker_glue::open;

use crate::failure::Failure;

/// Shown instead of a secret.
const REDACTED: &str = "[redacted]";

/// The `snapshot` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum SnapshotCommand {
    /// Decode one stored value read from stdin (JSON, Fernet, native or sealed native form).
    Decode(DecodeArgs),
    /// Load a task's stored snapshot from a store and decode it, with its remaining TTL.
    Get(GetArgs),
}

/// How to show a decoded snapshot.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The environment variable holding the Fernet key material (for encrypted values). Give it
    /// several times while rotating keys: a value written under any of them is read.
    #[arg(long, value_name = "VAR")]
    key_env: Vec<String>,
    /// The environment variable holding the sealing keys (for sealed native values), as
    /// `ID:BASE64KEY[,ID:BASE64KEY…]`.
    #[arg(long, value_name = "VAR")]
    sealing_key_env: Option<String>,
    /// Print the reference's JSON form instead of a table.
    #[arg(long)]
    json: bool,
    /// A header to treat as secret (redacted) beside the always-secret credentials and the
    /// marks the native form carries; the reference's JSON carries no marks, so name here the
    /// headers the capturing server's policy marks secret. Repeatable.
    #[arg(long = "secret-header", value_name = "NAME")]
    secret_headers: Vec<String>,
    /// Show the access token and secret header values instead of redacting them.
    #[arg(long)]
    show_secrets: bool,
}

impl ShowArgs {
    /// The header policy whose secret marks the decoded headers get.
    fn header_policy(&self) -> HeaderPolicy {
        self.secret_headers
            .iter()
            .fold(HeaderPolicy::all(), |policy, name| policy.secret(name))
    }
}

/// Arguments of `snapshot decode`.
#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// The full Redis key the value was stored under: a sealed value is bound to it.
    #[arg(
        long,
        value_name = "KEY",
        default_value = "",
        allow_hyphen_values = true
    )]
    redis_key: String,
    #[command(flatten)]
    show: ShowArgs,
}

/// Arguments of `snapshot get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The snapshot store URL.
    #[arg(long)]
    url: String,
    /// The task key (an execution key with a leg suffix is accepted).
    #[arg(long, allow_hyphen_values = true)]
    key: String,
    /// The queue name.
    #[arg(long, default_value = DEFAULT_QUEUE_NAME)]
    queue: String,
    #[command(flatten)]
    show: ShowArgs,
}

/// Runs a `snapshot` subcommand.
pub(crate) fn run(command: &SnapshotCommand) -> Result<(), Failure> {
    match command {
        SnapshotCommand::Decode(args) => {
            let mut stored = Vec::new();
            std::io::stdin()
                .read_to_end(&mut stored)
                .map_err(|e| Failure::input("could not read stdin", e))?;
            let stored = trim_line_end(&stored);
            let snapshot = decode(stored, &args.redis_key, &args.show)?;
            show(&snapshot, StoredForm::detect(stored), None, &args.show);
            Ok(())
        }
        SnapshotCommand::Get(args) => get(args),
    }
}

/// Drops one trailing newline (a value piped from `echo` or a file), never inner bytes.
fn trim_line_end(stored: &[u8]) -> &[u8] {
    let stored = stored.strip_suffix(b"\n").unwrap_or(stored);
    stored.strip_suffix(b"\r").unwrap_or(stored)
}

fn decode(stored: &[u8], redis_key: &str, args: &ShowArgs) -> Result<TaskContextSnapshot, Failure> {
    let form = StoredForm::detect(stored);
    let codec = match (args.key_env.split_first(), form) {
        (Some((primary, older)), StoredForm::JsonFernet) => {
            let older = older.iter().map(|var| fernet_key(var));
            Codec::json_fernet_keys(FernetKeys::with_reading_keys(
                fernet_key(primary)?,
                older.collect::<Result<Vec<_>, _>>()?,
            ))
        }
        (_, StoredForm::NativeSealed) if args.sealing_key_env.is_some() => {
            Codec::native_sealed(sealing_keys(args.sealing_key_env.as_deref())?)
        }
        _ => Codec::json(),
    };
    let mut snapshot = codec.decode(stored, redis_key).map_err(|e| {
        let what = match &e {
            DecodeError::MissingKey { .. } => {
                "the stored snapshot is encrypted and no key was given for it"
            }
            DecodeError::Fernet(_) => {
                "could not decrypt the stored snapshot (wrong key or altered value)"
            }
            DecodeError::Native(_) => "could not read the native snapshot envelope",
            DecodeError::Json(_) => "the input is not a stored task snapshot",
            _ => "could not decode the stored snapshot",
        };
        Failure::input(what, e)
    })?;
    if let Some(mut headers) = snapshot.take_http_headers() {
        headers.apply_secret_marks(&args.header_policy());
        snapshot = snapshot.into_builder().headers(headers).build();
    }
    Ok(snapshot)
}

/// Derives the Fernet key from the key material in the environment variable `var`.
fn fernet_key(var: &str) -> Result<FernetKey, Failure> {
    let material = std::env::var(var).map_err(|_| {
        Failure::input(
            "no key material",
            format!("the environment variable {var} is not set or not UTF-8"),
        )
    })?;
    FernetKey::derive(&material).map_err(|e| Failure::input("invalid key material", e))
}

/// Reads a key ring from the environment variable `var`: `ID:BASE64KEY` entries separated by
/// commas, the first one active.
fn sealing_keys(var: Option<&str>) -> Result<KeyRing, Failure> {
    let var = var.unwrap_or_default();
    let text = std::env::var(var).map_err(|_| {
        Failure::input(
            "no sealing keys",
            format!("the environment variable {var} is not set or not UTF-8"),
        )
    })?;
    let mut keys = Vec::new();
    for entry in text
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let (id, key) = entry.split_once(':').ok_or_else(|| {
            Failure::input(
                "invalid sealing keys",
                format!("{var}: expected ID:BASE64KEY entries"),
            )
        })?;
        keys.push(
            SealingKey::from_base64(id, key)
                .map_err(|e| Failure::input("invalid sealing keys", e))?,
        );
    }
    let mut keys = keys.into_iter();
    let active = keys
        .next()
        .ok_or_else(|| Failure::input("invalid sealing keys", format!("{var} holds no key")))?;
    KeyRing::with_reading_keys(active, keys).map_err(|e| Failure::input("invalid sealing keys", e))
}

fn get(args: &GetArgs) -> Result<(), Failure> {
    let (key, _leg) =
        TaskKey::parse_execution(&args.key).map_err(|e| Failure::input("invalid task key", e))?;
    let store = open(&args.url).map_err(|e| Failure::input("could not open the store", e))?;
    let keys = KeySpace::new(&args.queue, store.deployment())
        .map_err(|e| Failure::input("invalid queue name", e))?;
    let snapshot_key = keys.snapshot_key(key.scope(), key.task_id());
    let runtime = crate::demo::runtime(1)?;
    let stored = runtime
        .block_on(store.load_with_ttl(&snapshot_key))
        .map_err(|e| Failure::check("could not load the snapshot", e))?
        .ok_or_else(|| {
            Failure::check(
                "no stored snapshot",
                format!("{snapshot_key} is missing or expired"),
            )
        })?;
    let snapshot = decode(&stored.value, &snapshot_key, &args.show)?;
    show(
        &snapshot,
        StoredForm::detect(&stored.value),
        Some((&snapshot_key, stored.ttl)),
        &args.show,
    );
    Ok(())
}

/// The snapshot with its token and secret header values replaced by `[redacted]`.
fn redacted(snapshot: &TaskContextSnapshot) -> TaskContextSnapshot {
    let mut builder = snapshot.clone().into_builder();
    if let Some(token) = snapshot.access_token() {
        let mut redacted = AccessToken::builder(REDACTED, token.client_id())
            .scopes(token.scopes().iter().cloned())
            .claims(token.claims().clone());
        if let Some(expires_at) = token.expires_at() {
            redacted = redacted.expires_at(expires_at);
        }
        if let Some(resource) = token.resource() {
            redacted = redacted.resource(resource);
        }
        if let Some(subject) = token.subject() {
            redacted = redacted.subject(subject);
        }
        if let Some(original) = token.original_client_id() {
            redacted = redacted.original_client_id(original);
        }
        builder = builder.access_token(redacted.build());
    }
    if let Some(headers) = snapshot.http_headers() {
        let mut copy = Headers::new();
        for (name, value) in headers.iter() {
            if headers.is_secret(name) {
                copy.insert_secret(name, REDACTED);
            } else {
                copy.insert(name, value);
            }
        }
        builder = builder.headers(copy);
    }
    builder.build()
}

fn show(
    snapshot: &TaskContextSnapshot,
    form: StoredForm,
    stored_at: Option<(&str, Option<Duration>)>,
    args: &ShowArgs,
) {
    let redacted_copy;
    let snapshot = if args.show_secrets {
        snapshot
    } else {
        redacted_copy = redacted(snapshot);
        &redacted_copy
    };
    if args.json {
        out!("{}", json::to_json(snapshot));
        if let Some((_, ttl)) = stored_at {
            eprintln!("ttl: {}", ttl_text(ttl));
        }
        return;
    }
    if let Some((key, ttl)) = stored_at {
        out!("redis key            {key}");
        out!("ttl                  {}", ttl_text(ttl));
    }
    out!("stored form          {form:?}");
    match snapshot.access_token() {
        None => out!("caller               (anonymous)"),
        Some(token) => {
            out!("client_id            {}", token.client_id());
            if let Some(sub) = token.sub_claim() {
                out!("sub                  {sub}");
            }
            out!("scopes               {}", token.scopes().join(" "));
            if let Some(expires_at) = token.expires_at() {
                out!("expires_at           {expires_at}");
            }
            out!("token                {}", token.token());
        }
    }
    let optional = [
        ("origin_request_id", snapshot.origin_request_id()),
        ("session_id", snapshot.session_id()),
        ("owning_tool_name", snapshot.owning_tool_name()),
        ("owning_tool_version", snapshot.owning_tool_version()),
        ("traceparent", snapshot.traceparent()),
        ("tracestate", snapshot.tracestate()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            out!("{name:<20} {value}");
        }
    }
    if let Some(headers) = snapshot.http_headers() {
        for (name, value) in headers.iter() {
            out!("header {name:<13} {value}");
        }
    }
}

fn ttl_text(ttl: Option<Duration>) -> String {
    ttl.map_or_else(
        || "no expiry".to_owned(),
        |ttl| format!("{} s", ttl.as_secs()),
    )
}
