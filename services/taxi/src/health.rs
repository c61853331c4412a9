//! `taxi health`: one gRPC health check (`grpc.health.v1.Health/Check`) against a running
//! server, for container probes.
//!
//! Kubernetes' native `grpc:` probes speak plain TCP only, and `podman kube play` (4.3)
//! ignores them; an `exec:` probe running this client works in both, and over TLS too
//! (`--tls-ca`), so a deployment that serves TLS keeps real probes. It prints the status
//! on one line and exits 0 only when the server (or `--service`) is SERVING: a readiness
//! probe. With `--alive` (a liveness probe) any answer will do: a server that says
//! NOT_SERVING while Redis is away or while it drains is alive, and restarting it would
//! not bring Redis back.
//!
//! Exit codes: 0 SERVING (with `--alive`: any answer); 1 answered, but not SERVING
//! (NOT_SERVING while draining or while Redis does not answer, or a service this process
//! does not serve); 2 bad input (the flag named); 3 no answer within `--timeout-ms`
//! (nothing listening, a TLS failure, a hang).

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Flags of `taxi health`.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// The server's gRPC address, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    /// The service to ask about, e.g. `taxi.v1.HotlineService`; empty: the server as a whole.
    #[arg(long, default_value = "")]
    service: String,
    /// How long connecting and the answer may take together, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Speak TLS, trusting this CA certificate (PEM) for the server's chain.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the host of `--addr`).
    #[arg(long, requires = "tls_ca")]
    tls_domain: Option<String>,
    /// Liveness: exit 0 when the server answers at all, whatever the status.
    #[arg(long)]
    alive: bool,
}

/// What one check found, and the exit code it maps to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The server or service is SERVING.
    Serving,
    /// It answered something else (its name).
    NotServing(String),
    /// No answer: why.
    Unreachable(String),
}

impl Verdict {
    /// The exit code; `alive`: any answer is success.
    fn exit_code(&self, alive: bool) -> ExitCode {
        match self {
            Verdict::Serving => ExitCode::SUCCESS,
            Verdict::NotServing(_) if alive => ExitCode::SUCCESS,
            Verdict::NotServing(_) => ExitCode::from(1),
            Verdict::Unreachable(_) => ExitCode::from(3),
        }
    }
}

/// Runs `taxi health`: prints the verdict and returns its exit code.
pub(crate) fn run(args: HealthArgs) -> ExitCode {
    let endpoint = match endpoint(&args) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("taxi health: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match crate::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("taxi health: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let timeout = Duration::from_millis(args.timeout_ms);
    let verdict = rt.block_on(check(endpoint, &args.service, timeout));
    match &verdict {
        Verdict::Serving => println!("SERVING"),
        Verdict::NotServing(status) => println!("{status}"),
        Verdict::Unreachable(why) => println!("UNREACHABLE: {why}"),
    }
    verdict.exit_code(args.alive)
}

/// The endpoint `args` name, with TLS when `--tls-ca` is given; an error names the flag.
fn endpoint(args: &HealthArgs) -> Result<Endpoint, String> {
    let (host, port) = args
        .addr
        .rsplit_once(':')
        .filter(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        .ok_or_else(|| format!("--addr: {:?} is not HOST:PORT", args.addr))?;
    if args.timeout_ms == 0 {
        return Err("--timeout-ms: must be at least 1".into());
    }
    let scheme = if args.tls_ca.is_some() {
        "https"
    } else {
        "http"
    };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{host}:{port}"))
        .map_err(|e| format!("--addr: {:?}: {e}", args.addr))?;
    if let Some(ca) = &args.tls_ca {
        let pem = std::fs::read(ca)
            .map_err(|e| format!("--tls-ca: cannot read {}: {e}", ca.display()))?;
        let domain = args
            .tls_domain
            .clone()
            .unwrap_or_else(|| host.trim_matches(['[', ']']).to_string());
        endpoint = endpoint
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(pem))
                    .domain_name(domain),
            )
            .map_err(|e| format!("--tls-ca: {e}"))?;
    }
    Ok(endpoint)
}

/// One `Check` of `service` at `endpoint`, connecting included, within `timeout`.
pub(crate) async fn check(endpoint: Endpoint, service: &str, timeout: Duration) -> Verdict {
    let ask = async {
        let channel = endpoint
            .connect_timeout(timeout)
            .connect()
            .await
            .map_err(|e| Verdict::Unreachable(taxi_server::tls::error_chain(&e)))?;
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .map(|r| r.into_inner().status)
            .map_err(|s| match s.code() {
                // The health service answers NOT_FOUND for a service it does not know.
                tonic::Code::NotFound => {
                    Verdict::NotServing(format!("SERVICE_UNKNOWN: {service:?}"))
                }
                _ => Verdict::Unreachable(format!("{:?}: {}", s.code(), s.message())),
            })
    };
    match tokio::time::timeout(timeout, ask).await {
        Err(_) => Verdict::Unreachable(format!("no answer within {} ms", timeout.as_millis())),
        Ok(Err(verdict)) => verdict,
        Ok(Ok(status)) if status == ServingStatus::Serving as i32 => Verdict::Serving,
        Ok(Ok(status)) => Verdict::NotServing(
            ServingStatus::try_from(status)
                .map(|s| s.as_str_name().to_string())
                .unwrap_or_else(|_| format!("status {status}")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        health: HealthArgs,
    }

    fn args(flags: &[&str]) -> HealthArgs {
        Cli::try_parse_from(std::iter::once("health").chain(flags.iter().copied()))
            .unwrap()
            .health
    }

    #[test]
    fn bad_flags_are_named() {
        for (flags, needle) in [
            (vec!["--addr", "nowhere"], "--addr"),
            (vec!["--addr", ":50051"], "--addr"),
            (vec!["--addr", "host:port"], "--addr"),
            (vec!["--timeout-ms", "0"], "--timeout-ms"),
            (
                vec!["--tls-ca", "/nonexistent/ca.pem"],
                "--tls-ca: cannot read",
            ),
        ] {
            let err = endpoint(&args(&flags)).unwrap_err();
            assert!(err.contains(needle), "{flags:?}: {err}");
        }
        assert!(endpoint(&args(&[])).is_ok());
    }

    #[test]
    fn verdicts_map_to_the_documented_exit_codes() {
        for alive in [false, true] {
            assert_eq!(Verdict::Serving.exit_code(alive), ExitCode::SUCCESS);
            assert_eq!(
                Verdict::Unreachable("refused".into()).exit_code(alive),
                ExitCode::from(3)
            );
        }
        let draining = Verdict::NotServing("NOT_SERVING".into());
        assert_eq!(draining.exit_code(false), ExitCode::from(1));
        assert_eq!(draining.exit_code(true), ExitCode::SUCCESS);
    }
}
