//! The `weir` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;
use weir::client::{self, DeadFilter, Remote};
use weir::config::{Config, Overrides};
use weir::error::one_line;

mod allocator;

/// weir: a durable event pipeline with sandboxed WebAssembly handlers.
#[derive(Parser)]
#[command(name = "weir", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline: HTTP ingest, queue, dispatch and plugins.
    ///
    /// With no options weir keeps its data in ./weir-data, installs its example
    /// plugins into ./weir-data/plugins, routes events to them, and listens on
    /// 127.0.0.1:8080.
    Serve {
        /// weir.toml to read (every value in it has a default).
        #[arg(long, env = "WEIR_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long, env = "WEIR_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// Where the queue, results and state are kept.
        #[arg(long, env = "WEIR_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The directory of NAME.wasm plugin components.
        #[arg(long, env = "WEIR_PLUGINS_DIR")]
        plugins_dir: Option<PathBuf>,
        /// Log format.
        #[arg(long, env = "WEIR_LOG_FORMAT", default_value = "pretty")]
        log_format: LogFormat,
        /// Export traces over OTLP/HTTP to this collector, e.g.
        /// http://127.0.0.1:4318 (spans go to its /v1/traces). Off if unset.
        #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
        otlp_endpoint: Option<String>,
        /// Listen beyond loopback without [auth]: only when something in
        /// front of weir (a proxy, a private network) decides who may call.
        #[arg(long)]
        allow_unauthenticated_remote: bool,
    },
    /// Work with the routing table.
    Routes {
        #[command(subcommand)]
        command: RoutesCommand,
    },
    /// Make API tokens for `[auth]`.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Show a running weir: readiness, each plugin's deliveries, each
    /// tenant's backlog.
    Status {
        #[command(flatten)]
        remote: Remote,
    },
    /// Read events from a running weir.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Dead letters: list them, or run them again.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a running weir's plugins: state, version, slots and limits.
    Plugins {
        #[command(flatten)]
        remote: Remote,
    },
    /// Write plugins: scaffold one in Rust, Python, JavaScript or C, build it,
    /// check it against weir's WIT world, and run an event through it.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Post events to a running weir: a JSON event, a JSON array of events, or
    /// one event per line, from FILE or standard input.
    Send {
        /// The file of events; `-` or none for standard input.
        file: Option<PathBuf>,
        /// Events per request.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Print an event with its deliveries, attempts and results.
    Show {
        /// The event id.
        id: String,
        /// The event's tenant, if several tenants used the id.
        #[arg(long)]
        tenant: Option<String>,
        /// The event's source, if several sources used the id.
        #[arg(long)]
        source: Option<String>,
        /// Print weir's JSON answer as it is (times in epoch milliseconds),
        /// for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List dead letters, oldest first.
    List {
        #[command(flatten)]
        filter: DeadFilter,
        /// Letters per page (1 to 1,000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Where the previous page ended (it prints the command).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Run dead deliveries again: one event's, or with --all every one that
    /// matches the filter.
    Replay {
        /// The event id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every dead letter that matches the filter.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        filter: DeadFilter,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Create the folder NAME with a plugin that builds and passes its own
    /// test: a handler, a manifest, a test event, a build script and a README.
    New {
        /// The plugin's name (and its folder's).
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: weir::authoring::Language,
        /// Where to create the folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The Rust SDK (a weir checkout's plugin-sdk folder); default: the
        /// one this weir was built from.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build the plugin in DIR with its language's toolchain into DIR/NAME.wasm,
    /// then check it.
    Build {
        /// The plugin folder, named after the plugin.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Check that a component loads into weir: compile it as weir would, and
    /// print what it imports and exports and any import weir will refuse.
    Check {
        /// The component, NAME.wasm (its manifest NAME.toml beside it is read too).
        file: PathBuf,
    },
    /// Run one event through a plugin and print its outcome, state writes
    /// and fuel used (its log lines go to standard error); or, with
    /// --vectors, every case of a test-vectors file, failing if any fails.
    Test {
        /// The component, NAME.wasm.
        file: PathBuf,
        /// A CloudEvents JSON file; id, source and specversion may be left out.
        #[arg(long, required_unless_present = "vectors", conflicts_with = "vectors")]
        event: Option<PathBuf>,
        /// A test-vectors file (`{"type", "vectors": [{"name", "data", "emit" |
        /// "fail"}]}`, as plugins/booking-normalizer.vectors.json).
        #[arg(long)]
        vectors: Option<PathBuf>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new random token and the `[auth]` line that lets it in.
    New {
        /// The tenant the token speaks for; without it, an admin token.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Print the `[auth]` hash of a token read from standard input.
    Hash,
}

#[derive(Subcommand)]
enum RoutesCommand {
    /// Check a config file's routes as start-up would, without starting weir:
    /// globs, predicates, unreachable routes, and that every plugin a route
    /// names is in the plugin directory (give it the --data-dir or
    /// --plugins-dir that `weir serve` gets).
    Check {
        /// The config file (default: $WEIR_CONFIG, else the built-in example routes).
        #[arg(env = "WEIR_CONFIG")]
        file: Option<PathBuf>,
        /// The data directory `weir serve` uses; its plugins folder is the
        /// plugin directory unless one is set.
        #[arg(long, env = "WEIR_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The directory of NAME.wasm plugin components.
        #[arg(long, env = "WEIR_PLUGINS_DIR")]
        plugins_dir: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
            plugins_dir,
            log_format,
            otlp_endpoint,
            allow_unauthenticated_remote,
        } => {
            // Before anything starts: this may replace the process.
            let not_restarted = allocator::give_back_sooner();
            let json = matches!(log_format, LogFormat::Json);
            let telemetry = match weir::telemetry::init(json, otlp_endpoint.as_deref()) {
                Ok(telemetry) => telemetry,
                Err(error) => {
                    eprintln!("weir: {}", one_line(error.as_ref()));
                    return ExitCode::FAILURE;
                }
            };
            if let Some(error) = not_restarted {
                let delay_ms = allocator::PURGE_DELAY_MS;
                tracing::warn!(%error, "cannot start again with MIMALLOC_PURGE_DELAY={delay_ms}; freed memory goes back to the system after mimalloc's default of a second");
            }
            let overrides = Overrides {
                data_dir,
                listen,
                plugins_dir,
            };
            let served = serve(config, overrides, allow_unauthenticated_remote);
            // Said once, in the form of the other lines on stderr: a JSON log
            // line for a log collector, else a plain sentence for a person.
            if let Err(error) = &served {
                let error = one_line(error.as_ref());
                match json {
                    true => tracing::error!("{error}"),
                    false => eprintln!("weir: {error}"),
                }
            }
            telemetry.shutdown();
            if served.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Routes {
            command:
                RoutesCommand::Check {
                    file,
                    data_dir,
                    plugins_dir,
                },
        } => {
            let overrides = Overrides {
                data_dir,
                plugins_dir,
                ..Overrides::default()
            };
            finish("routes check", check_routes(file, overrides))
        }
        Command::Token { command } => finish("token", token(command)),
        Command::Status { remote } => finish("status", client::status(&remote.client())),
        Command::Events {
            command:
                EventsCommand::Show {
                    id,
                    tenant,
                    source,
                    json,
                },
            remote,
        } => finish(
            "events show",
            client::show_event(
                &remote.client(),
                &id,
                tenant.as_deref(),
                source.as_deref(),
                json,
            ),
        ),
        Command::Dlq { command, remote } => match command {
            DlqCommand::List {
                filter,
                limit,
                cursor,
            } => finish(
                "dlq list",
                client::list_dead_letters(&remote.client(), &filter, limit, cursor.as_deref()),
            ),
            DlqCommand::Replay { id, filter, .. } => finish(
                "dlq replay",
                client::replay_dead_letters(&remote.client(), id.as_deref(), &filter),
            ),
        },
        Command::Plugins { remote } => finish("plugins", client::show_plugins(&remote.client())),
        Command::Plugin { command } => finish("plugin", plugin(command)),
        Command::Send {
            file,
            batch,
            remote,
        } => finish(
            "send",
            client::send(&remote.client(), file.as_deref(), batch),
        ),
    }
}

/// The exit code of command `name`, with its error printed.
fn finish(name: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `weir status | head -1`: the reader has what it wanted.
        Err(error) if client::out::reader_left(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weir {name}: {}", one_line(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::New { tenant } => {
            if let Some(tenant) = &tenant {
                weir::event::check_tenant(tenant).map_err(anyhow::Error::msg)?;
            }
            let token = weir::config::new_token().context("no randomness from the system")?;
            let hash = weir::config::written_hash(&token);
            weir::outln!("token: {token}")?;
            weir::outln!(
                "\nweir keeps only its hash: give the token to its user now. In weir.toml:\n"
            )?;
            match tenant {
                Some(tenant) => weir::outln!("[auth.tenants]\n{tenant} = [\"{hash}\"]")?,
                None => weir::outln!("[auth]\nadmin_tokens = [\"{hash}\"]")?,
            }
        }
        TokenCommand::Hash => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("cannot read the token from standard input")?;
            let token = line.trim();
            anyhow::ensure!(!token.is_empty(), "no token on standard input");
            weir::outln!("{}", weir::config::written_hash(token))?;
        }
    }
    Ok(())
}

fn plugin(command: PluginCommand) -> anyhow::Result<()> {
    use weir::authoring;
    // Compiling and running a plugin needs a scratch store; it goes when done.
    let scratch = tempfile::tempdir().context("cannot create a scratch folder")?;
    match command {
        PluginCommand::New {
            name,
            lang,
            dir,
            sdk,
        } => {
            let folder = authoring::scaffold(&dir, &name, lang, sdk.as_deref())?;
            weir::outln!("created {}; build and test it with:", folder.display())?;
            weir::outln!("  weir plugin build {}", folder.display())?;
            weir::outln!(
                "  weir plugin test {} --event {}",
                folder.join(format!("{name}.wasm")).display(),
                folder.join("event.json").display()
            )?;
        }
        PluginCommand::Build { dir } => {
            let built = authoring::build(&dir, &mut |command| eprintln!("$ {command}"))?;
            let report = authoring::check(&built.component, scratch.path())?;
            weir::outln!(
                "built {} in {:.1} s",
                built.component.display(),
                built.took.as_secs_f64()
            )?;
            print_report(&report)?;
        }
        PluginCommand::Check { file } => print_report(&authoring::check(&file, scratch.path())?)?,
        PluginCommand::Test {
            file,
            event,
            vectors,
            json,
        } => {
            // The plugin's log lines, not the scratch store's.
            tracing_subscriber::fmt()
                .with_env_filter("warn,weir=info")
                .with_writer(std::io::stderr)
                .with_target(false)
                .init();
            let Some(event) = event else {
                let vectors = vectors.context("--event or --vectors is required")?;
                let cases = authoring::run_vectors(&file, &vectors, scratch.path())?;
                return print_cases(&cases, json);
            };
            let trial = authoring::trial(&file, &event, scratch.path())?;
            if json {
                weir::outln!("{}", serde_json::to_string(&trial)?)?;
            } else {
                weir::outln!("{}", serde_json::to_string_pretty(&trial.result)?)?;
                match trial.state_writes.is_empty() {
                    true => weir::outln!("state writes: none")?,
                    false => weir::outln!(
                        "state writes: {}",
                        serde_json::to_string_pretty(&trial.state_writes)?
                    )?,
                }
                weir::outln!(
                    "fuel: {} of {}; {:.2} ms (instantiate and handle)",
                    trial.fuel_consumed,
                    trial.fuel_limit,
                    trial.duration_ms
                )?;
            }
        }
    }
    Ok(())
}

/// Prints each case, pass or fail with what differed; an error when any failed.
fn print_cases(cases: &[weir::authoring::Case], json: bool) -> anyhow::Result<()> {
    if json {
        weir::outln!("{}", serde_json::to_string(cases)?)?;
    } else {
        for case in cases {
            let verdict = if case.differences.is_empty() {
                "pass"
            } else {
                "FAIL"
            };
            weir::outln!("{verdict}  {}", case.name)?;
            for difference in &case.differences {
                weir::outln!("      {difference}")?;
            }
        }
    }
    let failed = cases
        .iter()
        .filter(|case| !case.differences.is_empty())
        .count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} cases failed", cases.len());
    }
    if !json {
        weir::outln!("all {} cases passed", cases.len())?;
    }
    Ok(())
}

fn print_report(report: &weir::authoring::Report) -> std::io::Result<()> {
    weir::outln!(
        "{} (version {}, {} bytes) fits weir's handler-plugin world",
        report.name,
        report.version,
        report.size_bytes
    )?;
    weir::outln!("imports:")?;
    for name in &report.imports {
        weir::outln!("  {name}")?;
    }
    weir::outln!("exports:")?;
    for name in &report.exports {
        weir::outln!("  {name}")?;
    }
    for warning in &report.warnings {
        weir::outln!("warning: {warning}")?;
    }
    Ok(())
}

fn check_routes(file: Option<PathBuf>, overrides: Overrides) -> anyhow::Result<()> {
    let config = Config::load(file.as_deref(), overrides)?;
    let checked = weir::route_check::check(&config)?;
    let source = file.map_or_else(
        || "the built-in example routes".to_owned(),
        |f| f.display().to_string(),
    );
    let routes = match checked.routes {
        1 => "1 route".to_owned(),
        n => format!("{n} routes"),
    };
    weir::outln!(
        "{source}: {routes}, all reachable, to {}",
        checked.plugins.join(", ")
    )?;
    if checked.plugins_present {
        weir::outln!("every plugin is in {}", config.plugins_dir.display())?;
    } else {
        weir::outln!(
            "{} does not exist yet: weir installs its example plugins there at first start, and the routes name only those",
            config.plugins_dir.display()
        )?;
    }
    Ok(())
}

fn serve(
    config_path: Option<PathBuf>,
    overrides: Overrides,
    allow_unauthenticated_remote: bool,
) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref(), overrides)?;
    if let Some(refusal) = weir::config::unauthenticated_remote(
        config.listen,
        &config.auth,
        allow_unauthenticated_remote,
    ) {
        anyhow::bail!(refusal);
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        weir::run(config, listener, shutdown).await?;
        Ok(())
    })
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: no new events; finishing deliveries in flight");
    shutdown.cancel();
}
