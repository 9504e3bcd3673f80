//! `rollama`: the client commands go to [`rollama::cli`]; `serve` parses flags, sets up
//! logging, binds and serves; `bench`, `perf`, `convert` run here.

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use rollama::config::{Cli, Command, ServeArgs};
use std::sync::Arc;

use rollama::engine::{RegistryConfig, Service};
use rollama::model::LoadOptions;
use rollama::server::{self, AppState};
use rollama::store::ModelStore;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        // Only `-v`/`--version` gets here: clap prints the help for no arguments at all.
        println!("rollama version is {}", env!("CARGO_PKG_VERSION"));
        return std::process::ExitCode::SUCCESS;
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = match command {
        // The client commands print their own errors, Ollama's way, and choose the status.
        Command::Client(command) => runtime.block_on(rollama::cli::main(command)),
        command => match runtime.block_on(local(command)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    };
    // Dropping a runtime waits for its blocking threads: a model load still running (or
    // one abandoned to OLLAMA_LOAD_TIMEOUT) would hold a drained server past SIGKILL.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

async fn local(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Client(_) => Ok(()),
        Command::Serve(args) => {
            init_logging(args.observe.json_logs());
            serve(args).await
        }
        Command::Bench(args) => rollama::loadgen::run(args).await,
        Command::Perf(args) => tokio::task::spawn_blocking(|| rollama::perf::run(args)).await?,
        Command::Convert(args) => {
            tokio::task::spawn_blocking(|| rollama::convert::run(args)).await??;
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let addr = args.bind_addr()?;
    if let Some(n) = args.threads {
        rollama::model::quant::set_pool_threads(n);
    }
    let device = rollama::model::default_device()?;
    let memory_budget = args.memory_budget(&device);
    tracing::info!(
        budget = memory_budget.map(rollama::engine::residency::human_bytes),
        max_loaded = args.max_loaded(),
        "model residency"
    );
    // Before the engine: a bad origin or limit stops the start.
    let gateway = args.gateway()?;
    let engine = Service::new(
        ModelStore::new(args.models_dir()),
        RegistryConfig {
            default_keep_alive: args.default_keep_alive(),
            max_loaded: args.max_loaded(),
            memory_budget,
            load_wait: args.load_wait(),
            default_num_ctx: args.context_length,
            caps: gateway.limits.engine.clone(),
            engine: args.engine_config(),
            device,
            load: LoadOptions {
                cpu_requantize: args.cpu_requantize,
            },
        },
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(%addr, models = %args.models_dir().display(), "rollama listening");
    let state = AppState {
        gateway,
        engine: Arc::new(engine),
        version: args.ollama_version,
        metrics: args.metrics,
        sse_keep_alive: server::SSE_KEEP_ALIVE,
    };
    server::run(listener, state, rollama::shutdown::signal()).await?;
    Ok(())
}

/// `RUST_LOG` wins; otherwise `OLLAMA_DEBUG=1` means debug, `2` trace, else info. To
/// stderr, as Ollama logs; `json`: one object per line, the event's fields at the top
/// level and the request's span (its id) beside them.
fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let level = match std::env::var("OLLAMA_DEBUG").as_deref() {
            Ok("2") => "trace",
            Ok("1") | Ok("true") => "debug",
            _ => "info",
        };
        EnvFilter::new(format!("rollama={level},tower_http=warn"))
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match json {
        true => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        false => logs.init(),
    }
}
