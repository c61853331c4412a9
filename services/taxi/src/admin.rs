//! `taxi admin`: operators' tools that talk to the city's Redis directly, not through
//! the gRPC services (so they work while no server runs).
//!
//! - `taxi admin audit verify`: walks the operators' audit log and names the first
//!   removed or altered entry.
//! - `taxi admin create-operator`: a person's account (how a city makes its first
//!   supervisor); the password comes from `TAXI_ADMIN_PASSWORD` or the first line of
//!   stdin, never from a flag (flags show in `ps`).
//! - `taxi admin create-service-key`: the phone switch's or the terminal gateway's key,
//!   printed once.
//! - `taxi admin add-taxis`: registers and signs on many taxis at once through the store's
//!   own scripts (those `RegisterTaxi` and `SignOn` run), for load tests and demos of a
//!   big city; prints their ids. Their positions come from a gateway, as any taxi's.
//!
//! Exit codes: 0 done (the log is intact), 1 the log is not intact or the name is taken,
//! 2 bad configuration or input (the flag or field named), 3 Redis could not be read.

use crate::config::{ENV_CITY, ENV_REDIS_URL, check_city, check_redis_url, default_city};
use clap::{Args, Subcommand};
use std::process::ExitCode;
use taxi_auth::Role;
use taxi_store::{Store, StoreConfig};

/// `TAXI_ADMIN_PASSWORD`: the new account's password for `taxi admin create-operator`
/// (else it is read from stdin).
pub(crate) const ENV_ADMIN_PASSWORD: &str = "TAXI_ADMIN_PASSWORD";

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
    /// Create a person's account (the first supervisor is made this way). The password
    /// is read from TAXI_ADMIN_PASSWORD, else from the first line of stdin.
    CreateOperator {
        /// The login name: 3 to 32 of `a-z 0-9 . - _`.
        #[arg(long)]
        username: String,
        /// operator, supervisor, fleet-admin or auditor.
        #[arg(long, default_value = "operator")]
        role: String,
        /// The name shown to others (defaults to the username).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Create (or replace) a service's key and print its secret once.
    CreateServiceKey {
        /// The service's name: 3 to 32 of `a-z 0-9 . - _`.
        #[arg(long)]
        name: String,
        /// phone-switch or gateway.
        #[arg(long)]
        role: String,
    },
    /// Bind an in-car terminal (JT/T 808) to a taxi by the terminal's SIM phone number: it
    /// may then register and authenticate at the terminal gateway as that taxi. A taxi
    /// has one terminal (binding another replaces it).
    BindTerminal {
        /// The taxi's id.
        #[arg(long)]
        taxi_id: String,
        /// The terminal's phone number (digits, as its header carries it).
        #[arg(long)]
        phone: String,
    },
    /// Register and sign on COUNT taxis (plates PREFIX00000, PREFIX00001, ...) through the
    /// store's scripts, 256 at a time, and print their ids, one a line. Person-made
    /// registrations go through FleetService (audited one by one); this is for load tests
    /// and demos.
    AddTaxis {
        /// How many (1 to 200000).
        #[arg(long)]
        count: usize,
        /// The plates' prefix (a province character and a letter, say `渝B`).
        #[arg(long)]
        prefix: String,
    },
}

/// At most this many taxis per `add-taxis`.
const MAX_ADD_TAXIS: usize = 200_000;

/// Why an admin command did not do what it was asked.
enum Refusal {
    /// Bad input (exit 2).
    Input(String),
    /// The name is taken (exit 1).
    Taken(String),
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
                AdminCommand::CreateOperator {
                    username,
                    role,
                    display_name,
                } => {
                    let made = match person_role(&role).and_then(|role| {
                        Ok(taxi_access::NewAccount {
                            display_name: display_name.unwrap_or_else(|| username.clone()),
                            username: username.clone(),
                            password: password()?,
                            role,
                        })
                    }) {
                        Ok(account) => create_operator(&store, &account).await?,
                        Err(e) => Err(e),
                    };
                    Ok(outcome(made))
                }
                AdminCommand::AddTaxis { count, prefix } => {
                    if !(1..=MAX_ADD_TAXIS).contains(&count) {
                        return Ok(outcome(Err(Refusal::Input(format!(
                            "--count: {count} is outside 1..={MAX_ADD_TAXIS}"
                        )))));
                    }
                    add_taxis(&store, count, &prefix).await
                }
                AdminCommand::BindTerminal { taxi_id, phone } => {
                    let Some(phone) = taxi_jtt808::header::terminal_phone(phone.trim()) else {
                        return Ok(outcome(Err(Refusal::Input(format!(
                            "--phone: `{phone}` is not 1 to 20 digits"
                        )))));
                    };
                    match store.bind_terminal(taxi_id.trim(), &phone).await {
                        Ok(()) => {
                            eprintln!(
                                "terminal {phone} is bound to taxi {taxi_id} in city {}",
                                store.city()
                            );
                            Ok(ExitCode::SUCCESS)
                        }
                        Err(e @ taxi_store::StoreError::Unavailable(_)) => Err(e.into()),
                        Err(e) => Ok(outcome(Err(Refusal::Input(e.to_string())))),
                    }
                }
                AdminCommand::CreateServiceKey { name, role } => {
                    let made = match service_role(&role) {
                        Ok(role) => create_service_key(&store, &name, role).await?,
                        Err(e) => Err(e),
                    };
                    Ok(outcome(made))
                }
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

/// The exit code of a create command, its refusal printed.
fn outcome(made: Result<(), Refusal>) -> ExitCode {
    match made {
        Ok(()) => ExitCode::SUCCESS,
        Err(Refusal::Input(e)) => {
            eprintln!("taxi: {e}");
            ExitCode::from(2)
        }
        Err(Refusal::Taken(e)) => {
            eprintln!("taxi: {e}");
            ExitCode::from(1)
        }
    }
}

/// `--role` of `create-operator`: a person's role.
fn person_role(code: &str) -> Result<Role, Refusal> {
    Role::from_code(code)
        .filter(|r| r.is_person())
        .ok_or_else(|| {
            Refusal::Input(format!(
                "--role: `{code}` is not operator, supervisor, fleet-admin or auditor"
            ))
        })
}

/// `--role` of `create-service-key`: a service's role.
fn service_role(code: &str) -> Result<Role, Refusal> {
    Role::from_code(code)
        .filter(|r| r.is_service())
        .ok_or_else(|| Refusal::Input(format!("--role: `{code}` is not phone-switch or gateway")))
}

/// The new account's password: `TAXI_ADMIN_PASSWORD`, else the first line of stdin.
fn password() -> Result<String, Refusal> {
    if let Ok(p) = std::env::var(ENV_ADMIN_PASSWORD) {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Refusal::Input(format!("password: cannot read stdin: {e}")))?;
    let p = line.trim_end_matches(['\n', '\r']).to_string();
    if p.is_empty() {
        return Err(Refusal::Input(format!(
            "password: set {ENV_ADMIN_PASSWORD} or give it as the first line of stdin"
        )));
    }
    Ok(p)
}

/// Maps what the access crate refused; Redis failures stay errors (exit 3).
fn refusal(e: taxi_edge::ApiError) -> anyhow::Result<Result<(), Refusal>> {
    match e.code() {
        tonic::Code::InvalidArgument => Ok(Err(Refusal::Input(e.to_string()))),
        tonic::Code::AlreadyExists => Ok(Err(Refusal::Taken(e.to_string()))),
        _ => Err(anyhow::anyhow!("{e}")),
    }
}

async fn create_operator(
    store: &Store,
    a: &taxi_access::NewAccount,
) -> anyhow::Result<Result<(), Refusal>> {
    match taxi_access::create_account(store, a).await {
        Ok(()) => {
            println!(
                "created {} `{}` in city {}; log in with AuthService.Login",
                a.role,
                a.username,
                store.city()
            );
            Ok(Ok(()))
        }
        Err(e) => refusal(e),
    }
}

async fn create_service_key(
    store: &Store,
    name: &str,
    role: Role,
) -> anyhow::Result<Result<(), Refusal>> {
    match taxi_access::create_service_key(store, name, role).await {
        Ok(secret) => {
            eprintln!(
                "created the {role} key `{name}` in city {}; its secret (shown once) follows on stdout",
                store.city()
            );
            println!("{secret}");
            Ok(Ok(()))
        }
        Err(e) => refusal(e),
    }
}

/// Registers and signs on `count` taxis; prints their ids in plate order.
async fn add_taxis(store: &Store, count: usize, prefix: &str) -> anyhow::Result<ExitCode> {
    use futures::StreamExt;
    use taxi_domain::taxi::TaxiEvent;
    let ids: Vec<anyhow::Result<String>> = futures::stream::iter(0..count)
        .map(|i| async move {
            let t = store
                .register_taxi(&taxi_store::taxis::NewTaxi {
                    plate: format!("{prefix}{i:05}"),
                    driver_name: format!("司机{i}"),
                    color: "黄色".into(),
                    wheelchair: false,
                    tags: vec![],
                    driver_phone: String::new(),
                })
                .await?;
            store.transition_taxi(&t.id, TaxiEvent::SignOn).await?;
            Ok(t.id)
        })
        .buffered(256)
        .collect()
        .await;
    let mut out = String::with_capacity(count * 28);
    for id in ids {
        out.push_str(&id?);
        out.push('\n');
    }
    print!("{out}");
    eprintln!(
        "registered and signed on {count} taxis in city {}",
        store.city()
    );
    Ok(ExitCode::SUCCESS)
}
