//! `keel start --home DIR`: runs one validator (see [`crate::node`]).

use anyhow::Result;

use crate::cli::StartArgs;
use crate::config::LogFormat;
use crate::home::NodeHome;

pub(super) fn run(args: &StartArgs, log_format: Option<LogFormat>) -> Result<()> {
    let home = NodeHome::new(&args.home);
    let mut config = home.load_config()?;
    if let Some(address) = args.p2p_address {
        config.p2p.listen_address = address;
    }
    if let Some(address) = args.rpc_address {
        config.rpc.listen_address = address;
    }
    crate::telemetry::init_logging(log_format.unwrap_or(config.log.format), &config.log.filter)?;
    crate::node::start(&home, config)
}
