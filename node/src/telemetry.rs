//! Logging: human-readable lines by default, one JSON object per line with `--log-format json`.
//! The filter comes from `RUST_LOG` if set, else from the config's `log.filter`.

use anyhow::{Context, Result};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Call once, before anything logs.
pub fn init_logging(format: LogFormat, filter: &str) -> Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.trim().is_empty() => EnvFilter::try_new(from_env).context("RUST_LOG")?,
        _ => EnvFilter::try_new(filter).with_context(|| format!("log.filter {filter:?}"))?,
    };
    // Colours only on a terminal: `keel testnet` sends each node's log to a file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}
