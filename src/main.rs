//! The `ferry` binary: parses the command line, sets up tracing and runs the command.
//! Connectors are registered here, so the engine never names one.

mod cli;
mod demo;
mod placeholders;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc instead of glibc malloc: a run allocates and frees many short-lived JSON values on
/// several threads, where glibc spent a quarter of the CPU (docs/benchmarks.md, "Allocator").
/// Its options are built in from `.cargo/config.toml`.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(cli::dispatch(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
