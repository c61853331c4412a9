//! `taxi admin`: operators' tools that talk to the city's Redis directly, not through
//! the gRPC services (so they work while no server runs).
//!
//! - `taxi admin audit verify`: walks the operators' audit log and names the first
//!   removed or altered entry.
//!
//! Exit codes: 0 done (the log is intact), 1 the log is not intact, 2 bad configuration,
//! 3 Redis could not be read.

use crate::config::{ENV_CITY, ENV_REDIS_URL, check_city, check_redis_url, default_city};
use clap::{Args, Subcommand};
use std::process::ExitCode;
use taxi_store::{Store, StoreConfig};

/// Flags of `taxi admin` (each also read from its environment variable).
#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    /// The city's Redis: a `redis://` URL, or several comma-separated for a cluster.
    #[arg(long, env = ENV_REDIS_URL, global = true)]
    redis_url: Option<String>,
    /// The city's administrative division code.
    #[arg(long, env = ENV_CITY, default_value_t = default_city(), global = true)]
    city: String,
    #[command(subcommand)]
    command: AdminCommand,
}

/// What `taxi admin` does.
#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// The operators' audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// What `taxi admin audit` does.
#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the hash chain: exit 0 if intact, 1 naming the first removed or edited entry.
    Verify,
}

/// Runs `taxi admin ...`; prints what it found and returns the exit code.
pub(crate) fn run(args: AdminArgs) -> ExitCode {
    let url = match checked(&args) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("taxi: bad configuration: {e:#}");
            return ExitCode::from(2);
        }
    };
    let result = crate::runtime().and_then(|rt| {
        rt.block_on(async {
            // Connecting needs the runtime: the store's connections live on it.
            let store = Store::connect(StoreConfig::new(url, &args.city))?;
            match args.command {
                AdminCommand::Audit {
                    command: AuditCommand::Verify,
                } => verify(&store).await,
            }
        })
    });
    result.unwrap_or_else(|e| {
        eprintln!("taxi: {e:#}");
        ExitCode::from(3)
    })
}

/// The Redis URL, once every flag passed its check.
fn checked(args: &AdminArgs) -> anyhow::Result<String> {
    let Some(url) = &args.redis_url else {
        anyhow::bail!("--redis-url / {ENV_REDIS_URL} is required: the city's Redis");
    };
    check_redis_url(url)?;
    check_city(&args.city)?;
    Ok(url.clone())
}

async fn verify(store: &Store) -> anyhow::Result<ExitCode> {
    let verdict = store.oplog_verify().await?;
    let city = store.city();
    if verdict.is_intact() {
        println!(
            "audit log of city {city}: {} entries checked, intact",
            verdict.checked()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("audit log of city {city}: NOT INTACT: {verdict}");
        Ok(ExitCode::from(1))
    }
}
