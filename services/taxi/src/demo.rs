//! `taxi demo`: a private Redis, every service in-process, and a simulated city whose
//! every client logs in (`crate::principals`).

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use taxi_proto::v1 as pb;
use taxi_proto::v1::dispatch_service_client::DispatchServiceClient;
use taxi_sim::{Sim, SimConfig};
use tokio_util::sync::CancellationToken;

/// Flags of `taxi demo`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DemoArgs {
    /// How long the city runs, in seconds.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Taxis on shift.
    #[arg(long, default_value_t = 300)]
    pub taxis: usize,
    /// Orders per second.
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Share of orders by older passengers.
    #[arg(long, default_value_t = 0.3)]
    pub elderly_share: f64,
    /// How much faster than real time taxis move, so a short demo sees whole trips.
    #[arg(long, default_value_t = 30.0)]
    pub speed: f64,
    /// Where to write the pictures.
    #[arg(long, default_value = "taxi-demo")]
    pub out: PathBuf,
    /// An external Redis; unset starts a private one (its data is thrown away).
    #[arg(long, env = "TAXI_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Calls per second reaching the 95128 call queue (its seats are the demo's operators).
    #[arg(long, default_value_t = 1.0)]
    pub calls: f64,
    /// Taxis that carry a JT/T 808 in-car terminal instead of the app (on top of
    /// `--taxis`), connected to the terminal gateway.
    #[arg(long, default_value_t = 20)]
    pub terminals: usize,
}

/// Where the demo's log goes: beside its pictures, so the screen shows only the progress
/// table and the summary.
pub(crate) fn log_path(args: &DemoArgs) -> PathBuf {
    args.out.join("demo.log")
}

/// The demo's privacy numbers: the built-in pool's, released soon after each trip so a
/// short run sees them come back.
const DEMO_PRIVACY_POOL: &str = "17100000001-17100000200";
const DEMO_PRIVACY_RELEASE: Duration = Duration::from_secs(20);
/// The mean time between the demo's emergency alerts (long presses of one-key devices).
const DEMO_ALERT_EVERY: Duration = Duration::from_secs(20);

/// What the demo saw, for its caller (the smoke test) and the summary.
#[derive(Debug, Clone)]
pub(crate) struct DemoResult {
    /// The final KPIs.
    pub stats: pb::GetDispatchStatsResponse,
    /// Orders the simulation made.
    pub orders: usize,
    /// Trips the simulated drivers completed.
    pub completed: u64,
    /// The pictures written.
    pub pictures: Vec<PathBuf>,
}

fn secs(d: &Option<taxi_proto::Duration>) -> String {
    match d {
        Some(d) => format!("{:.1} s", d.seconds as f64 + f64::from(d.nanos) / 1e9),
        None => "-".to_string(),
    }
}

/// Throw-away TLS material, PEM: a CA made at start and a server certificate it signs for
/// `localhost` and `127.0.0.1`, with its key. In memory only, gone with the demo.
#[derive(Debug, Clone)]
pub(crate) struct Throwaway {
    /// The CA certificate clients trust.
    pub ca_pem: String,
    /// The server certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl Throwaway {
    /// Makes a CA and a server certificate.
    pub(crate) fn new() -> anyhow::Result<Self> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let mut ca = CertificateParams::default();
        ca.distinguished_name
            .push(DnType::CommonName, "taxi demo throw-away CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate()?;
        let ca_pem = ca.self_signed(&ca_key)?.pem();
        let issuer = Issuer::new(ca, ca_key);
        let mut server =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let cert = server.signed_by(&key, &issuer)?;
        Ok(Self {
            ca_pem,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The server's TLS settings.
    pub(crate) fn settings(&self) -> anyhow::Result<taxi_server::tls::TlsSettings> {
        Ok(taxi_server::tls::TlsSettings::from_pem(
            self.cert_pem.clone(),
            self.key_pem.clone(),
            None,
        )?)
    }
}

/// Runs the demo.
pub(crate) fn run(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.duration >= 1, "--duration: at least 1 second");
    anyhow::ensure!((1..=20_000).contains(&args.taxis), "--taxis: 1 to 20000");
    anyhow::ensure!(
        args.rate > 0.0 && args.rate <= 500.0,
        "--rate: more than 0, at most 500 orders/s"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.elderly_share),
        "--elderly-share: 0 to 1"
    );
    anyhow::ensure!((1.0..=1000.0).contains(&args.speed), "--speed: 1 to 1000");
    anyhow::ensure!(
        (0.0..=50.0).contains(&args.calls),
        "--calls: 0 to 50 calls/s"
    );
    let rt = crate::runtime()?;
    let (redis, url) = crate::redis_or_private(args.redis_url.as_deref())?;
    let result = rt.block_on(demo(args, url));
    drop(redis);
    let r = result?;
    println!(
        "demo done: {} orders, {} trips completed by the simulated drivers, {} pictures",
        r.orders,
        r.completed,
        r.pictures.len()
    );
    anyhow::ensure!(
        r.stats.orders_total > 0,
        "the demo made no orders: something is wrong"
    );
    Ok(())
}

/// The demo against `redis_url`; prints progress and a summary, writes the pictures.
pub(crate) async fn demo(args: DemoArgs, redis_url: String) -> anyhow::Result<DemoResult> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let store = taxi_store::Store::connect(taxi_store::StoreConfig::new(redis_url, "500100"))?;
    let shutdown = CancellationToken::new();
    let mut config = taxi_server::ServerConfig::default();
    let (metrics, metrics_addr) =
        taxi_server::metrics::MetricsEndpoint::bind_now(([127, 0, 0, 1], 0).into())?;
    config.metrics = Some(metrics);
    let pool = taxi_domain::privacy::parse_pool("pool", DEMO_PRIVACY_POOL)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    config.privacy = taxi_privacy::PrivacySettings {
        provider: taxi_privacy::ProviderSettings::Pool {
            numbers: pool.iter().map(|p| p.as_str().to_string()).collect(),
        },
        release_delay: DEMO_PRIVACY_RELEASE,
    };
    // The simulator carries every taxi's dispatch stream (and its own calls) on one
    // connection, like a gateway: let that connection hold them all.
    config.max_streams_per_connection = config
        .max_streams_per_connection
        .max(args.taxis as u32 + 200);
    let tls = Throwaway::new().context("making throw-away certificates")?;
    config.tls = Some(tls.settings()?);
    // The simulated city registers its whole population at once and logs every device in
    // from this one loopback address, and its few operators book for a whole city: the
    // per-identity limits of a real desk would refuse it. The demo shows dispatch, so its
    // limits are wide (a real city keeps `taxi serve`'s defaults).
    let wide = taxi_auth::limits::Rate::per_minute(1_000_000, 60_000_000);
    config.auth.rates = taxi_auth::limits::Rates {
        booking: wide,
        service_booking: wide,
        press: wide,
        caller_upsert: wide,
        login: wide,
    };
    // Recurring trips run on the caring fleet's guarantee, its timeline sped up like the
    // city, and the recurring pass comes round every few seconds.
    let guarantee = crate::demo_recurring::guarantee(args.speed)?;
    config.settings.guarantee = guarantee;
    config.settings.recurring_interval = Duration::from_secs(5);
    let terminal_settings = std::sync::Arc::new(config.settings.clone());
    let server = tokio::spawn(taxi_server::run(
        listener,
        store.clone(),
        config,
        shutdown.clone(),
    ));
    let channel = taxi_sim::connect(addr, Some(&tls.ca_pem)).await?;
    let sessions_end = CancellationToken::new();
    let principals = crate::principals::bootstrap(&store, channel.clone(), 4, &sessions_end)
        .await
        .context("making and logging in the demo's operators and services")?;
    println!(
        "logged in {} operators, a fleet admin, the terminal gateway and the phone switch through AuthService.Login",
        principals.operators.len()
    );
    // A person to open the console with: its password is made here and printed once.
    let console_password = taxi_auth::key::new_secret();
    let console_user = format!("demo-op-{}", &console_password[..6].to_ascii_lowercase());
    taxi_access::create_account(
        &store,
        &taxi_access::NewAccount {
            username: console_user.clone(),
            password: console_password.clone(),
            role: taxi_auth::Role::Supervisor,
            display_name: "演示值班主管".into(),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the demo's console login: {e}"))?;
    println!(
        "operators' console: https://localhost:{}/console/  (throw-away certificate: accept it in the browser)\n  login: {console_user}  password: {console_password}  (a supervisor: sees escalations too)",
        addr.port()
    );
    println!(
        "privacy numbers (AXB) from the built-in pool {DEMO_PRIVACY_POOL}, released {} s after each trip; {} calls/s reach the call queue",
        DEMO_PRIVACY_RELEASE.as_secs(),
        args.calls
    );
    println!(
        "taxi demo over TLS (throw-away certificates made at start): {} taxis, {} orders/s ({}% older passengers), seed {}, {} s, central Chongqing",
        args.taxis,
        args.rate,
        (args.elderly_share * 100.0).round(),
        args.seed,
        args.duration
    );
    let config = SimConfig {
        seed: args.seed,
        taxis: args.taxis,
        rate_per_s: args.rate,
        elderly_share: args.elderly_share,
        devices: (args.taxis / 5).clamp(10, 500),
        speed_factor: args.speed,
        calls: taxi_sim::calls::CallsConfig {
            rate_per_s: args.calls,
            ..Default::default()
        },
        // An older person's emergency every 20 s or so, so a console open on the demo
        // sees alerts arrive, sound and clear (the simulated desk acknowledges each after
        // 25 s unless a person at a console took it first, and resolves it 15 s later).
        alerts: taxi_sim::alerts::AlertsConfig {
            every: Some(DEMO_ALERT_EVERY),
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let setup = Instant::now();
    let sim = std::sync::Arc::new(
        Sim::setup(
            channel.clone(),
            principals.clone(),
            config,
            sessions_end.clone(),
        )
        .await
        .context("registering the simulated city")?,
    );
    println!(
        "registered {} taxis, devices and callers in {:.1} s; the city runs now",
        sim.taxi_count(),
        setup.elapsed().as_secs_f64()
    );
    let recurring =
        crate::demo_recurring::book(principals.operators[0].channel(), store.now_ms(), args.seed)
            .await
            .context("giving older passengers recurring trips")?;
    println!(
        "{} older passengers have a recurring trip a minute apart from the next whole minute (caring fleet first {} s ahead, any taxi {} s, alert {} s)",
        recurring.len(),
        guarantee.caring_lead_ms / 1000,
        guarantee.open_lead_ms / 1000,
        guarantee.alert_lead_ms / 1000
    );
    let stop = CancellationToken::new();
    // Some taxis have an in-car terminal instead of the app: the terminal gateway (the
    // role `terminal-gateway` runs the same) on a port of its own.
    let gateway = taxi_terminal::Gateway::new(
        store.clone(),
        terminal_settings,
        taxi_terminal::DEFAULT_IDLE,
    );
    let (gateway_addr, _) = gateway
        .bind(([127, 0, 0, 1], 0).into(), shutdown.clone())
        .await
        .context("opening the terminal gateway")?;
    let terminal_taxis = terminal_taxis(&store, args.terminals)
        .await
        .context("registering the terminal taxis")?;
    println!(
        "in-car terminal gateway (JT/T 808/905) at {gateway_addr}: {} more taxis drive with a terminal instead of the app",
        terminal_taxis.len()
    );
    let terminals_seen = std::sync::Arc::new(taxi_sim::terminal::TerminalsObserved::default());
    tokio::spawn(taxi_sim::terminal::run(
        terminal_taxis,
        taxi_sim::terminal::TerminalsConfig {
            gateway: gateway_addr,
            clock: store.clock().clone(),
            road: taxi_sim::road::RoadModel::default(),
            speed_factor: args.speed,
            report_every: Duration::from_secs(2),
            seed: args.seed,
        },
        terminals_seen.clone(),
        stop.clone(),
    ));
    let runner = {
        let sim = sim.clone();
        let stop = stop.clone();
        tokio::spawn(async move { sim.run(stop).await })
    };
    let mut dispatch = DispatchServiceClient::new(principals.operators[0].channel());
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    println!(
        " time | taxis free busy | orders  waiting assigned completed cancel unfulf | to assign: older / others (median)"
    );
    while started.elapsed() < Duration::from_secs(args.duration) {
        tick.tick().await;
        if let Ok(s) = dispatch
            .get_dispatch_stats(pb::GetDispatchStatsRequest {})
            .await
        {
            let s = s.into_inner();
            let assigned = s
                .time_to_assign_elderly
                .as_ref()
                .map(|l| l.count)
                .unwrap_or(0)
                + s.time_to_assign_others
                    .as_ref()
                    .map(|l| l.count)
                    .unwrap_or(0);
            println!(
                "{:4}s |     {:5} {:4} |  {:5}  {:7} {:8} {:9} {:6} {:6} |   {:>7} / {:<7}",
                started.elapsed().as_secs(),
                s.taxis_free,
                s.taxis_busy,
                s.orders_total,
                s.pending,
                assigned,
                s.completed,
                s.cancelled,
                s.unfulfilled,
                secs(&s.time_to_assign_elderly.as_ref().and_then(|l| l.median)),
                secs(&s.time_to_assign_others.as_ref().and_then(|l| l.median)),
            );
        }
    }
    stop.cancel();
    let _ = runner.await;
    let stats = dispatch
        .get_dispatch_stats(pb::GetDispatchStatsRequest {})
        .await?
        .into_inner();
    let obs = &sim.observed;
    let orders = obs.orders.lock().map(|o| o.len()).unwrap_or(0);
    let completed = obs.completed.load(std::sync::atomic::Ordering::Relaxed);

    println!("\nsummary after {} s", args.duration);
    let row = |k: &str, v: String| println!("  {k:<38} {v}");
    row(
        "metrics (Prometheus)",
        format!("http://{metrics_addr}/metrics"),
    );
    row("orders", stats.orders_total.to_string());
    let mut channels: Vec<(String, u64)> = obs
        .by_channel
        .lock()
        .map(|m| m.iter().map(|(k, v)| (k.to_string(), *v)).collect())
        .unwrap_or_default();
    channels.sort();
    for (k, v) in channels {
        row(&format!("  by {k}"), v.to_string());
    }
    row(
        "older passengers' share",
        format!("{:.0} %", stats.elderly_share * 100.0),
    );
    row(
        "completed / cancelled / unfulfilled",
        format!(
            "{} / {} / {}",
            stats.completed, stats.cancelled, stats.unfulfilled
        ),
    );
    row("still waiting for a taxi", stats.pending.to_string());
    let (due, met, late) =
        crate::demo_recurring::tally(&store, &recurring, &guarantee, store.now_ms()).await?;
    row(
        "recurring trips due / by T−15 / late",
        if due == 0 {
            "none due yet (a longer --duration sees them)".into()
        } else {
            format!("{due} / {met} / {late}")
        },
    );
    row(
        "fulfilment rate",
        format!("{:.1} %", stats.fulfilment_rate * 100.0),
    );
    row("offers per order", format!("{:.2}", stats.offers_per_order));
    let lat = |l: &Option<pb::LatencySummary>| match l {
        Some(l) => format!(
            "median {}, p90 {} ({} orders)",
            secs(&l.median),
            secs(&l.p90),
            l.count
        ),
        None => "-".into(),
    };
    row(
        "time to assign, older passengers",
        lat(&stats.time_to_assign_elderly),
    );
    row("time to assign, others", lat(&stats.time_to_assign_others));
    row(
        "time to pickup, older passengers",
        lat(&stats.time_to_pickup_elderly),
    );
    row("time to pickup, others", lat(&stats.time_to_pickup_others));
    // Messages go out through the log sender here (`TAXI_NOTIFY_SENDER=log`): each is a
    // `notification` log line with its Chinese text.
    if let Ok(written) = store.outbox_entries().await {
        let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
        for e in &written {
            *kinds
                .entry(e.fields.get("kind").cloned().unwrap_or_default())
                .or_default() += 1;
        }
        let by: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        row(
            "messages to passengers (log sender)",
            format!("{} ({})", written.len(), by.join(", ")),
        );
    }
    // Taxi stands (候客点): the walk-up rides and stand-first offers, and each queue now.
    row(
        "stand rides / stand-first offers",
        format!("{} / {}", stats.stand_rides, stats.stand_offers),
    );
    let stands = taxi_proto::v1::stand_service_client::StandServiceClient::new(
        principals.operators[0].channel(),
    )
    .list_stands(pb::ListStandsRequest {})
    .await
    .map(|r| r.into_inner().stands)
    .unwrap_or_default();
    let queued: u32 = stands.iter().map(|s| s.queue_length).sum();
    let waits: Vec<i64> = stands
        .iter()
        .filter(|s| s.queue_length > 0)
        .filter_map(|s| s.oldest_wait.as_ref().map(|d| d.seconds))
        .collect();
    row(
        "stand queues: stands / taxis queued",
        format!("{} / {queued}", stands.len()),
    );
    row(
        "stand queues: longest head wait",
        waits
            .iter()
            .max()
            .map_or("-".into(), |w| format!("{w} s ({} queues)", waits.len())),
    );
    row(
        "street hails",
        obs.hails
            .load(std::sync::atomic::Ordering::Relaxed)
            .to_string(),
    );
    row(
        "bookings refused (should be 0)",
        obs.refused
            .load(std::sync::atomic::Ordering::Relaxed)
            .to_string(),
    );

    // The 95128 call queue, older callers against others, as GetCallCentreStats counts
    // them (the day's figures: the demo runs within one day).
    let calls = &obs.calls;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    row(
        "calls arrived / answered / abandoned",
        format!(
            "{} / {} / {}",
            load(&calls.arrived),
            load(&calls.answered),
            load(&calls.abandoned)
        ),
    );
    row(
        "call events refused (should be 0)",
        load(&calls.refused).to_string(),
    );
    let mut callcentre = pb::call_centre_service_client::CallCentreServiceClient::new(
        principals.operators[0].channel(),
    );
    match callcentre
        .get_call_centre_stats(pb::GetCallCentreStatsRequest { time: None })
        .await
    {
        Ok(r) => {
            let day = r.into_inner().day.unwrap_or_default();
            for (who, k) in [("older callers", day.elderly), ("others", day.others)] {
                let k = k.unwrap_or_default();
                row(
                    &format!("answer rate, {who}"),
                    format!(
                        "{:.1} % ({} answered of {})",
                        k.answer_rate * 100.0,
                        k.answered,
                        k.arrived
                    ),
                );
                row(
                    &format!("speed of answer, {who}"),
                    format!(
                        "average {}, median {}, p90 {}",
                        secs(&k.average_speed_of_answer),
                        secs(&k.median_speed_of_answer),
                        secs(&k.p90_speed_of_answer)
                    ),
                );
                row(
                    &format!("abandon rate, {who}"),
                    format!(
                        "{:.1} % ({} abandoned)",
                        k.abandon_rate * 100.0,
                        k.abandoned
                    ),
                );
            }
        }
        Err(e) => row(
            "call centre figures",
            format!("unavailable: {}", e.message()),
        ),
    }
    row(
        "privacy numbers bound/live/unavailable",
        format!(
            "{} / {} / {}",
            stats.privacy_numbers_bound,
            stats.privacy_numbers_live,
            stats.privacy_numbers_unavailable
        ),
    );
    row(
        "privacy numbers sent to drivers",
        load(&obs.privacy_numbers).to_string(),
    );
    row(
        "in-car terminals online / offers / won / lost / completed",
        format!(
            "{} / {} / {} / {} / {}",
            load(&terminals_seen.online),
            load(&terminals_seen.offers),
            load(&terminals_seen.won),
            load(&terminals_seen.lost),
            load(&terminals_seen.completed)
        ),
    );
    row(
        "emergency alerts raised / acknowledged / resolved",
        format!(
            "{} / {} / {}",
            load(&obs.alerts.raised),
            load(&obs.alerts.acknowledged),
            load(&obs.alerts.resolved)
        ),
    );

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let map_path = args.out.join("city-map.svg");
    let chart_path = args.out.join("time-to-assign.svg");
    std::fs::write(
        &map_path,
        taxi_sim::svg::map(
            obs,
            &format!(
                "Central Chongqing after {} s: {} taxis, {} orders",
                args.duration,
                sim.taxi_count(),
                orders
            ),
        ),
    )?;
    let (e, o) = obs.assign_times();
    std::fs::write(
        &chart_path,
        taxi_sim::svg::assign_chart(&e, &o, "Time to assign: older passengers vs others"),
    )?;
    println!(
        "\nwrote {} and {}; the services' log is in {}",
        map_path.display(),
        chart_path.display(),
        log_path(&args).display()
    );

    sessions_end.cancel();
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    Ok(DemoResult {
        stats,
        orders,
        completed,
        pictures: vec![map_path, chart_path],
    })
}

/// Registers `n` taxis (plates 渝T00000, ...) and binds each to a terminal phone number
/// (14400000000, ...), as a fleet admin does with `taxi admin bind-terminal`.
async fn terminal_taxis(
    store: &taxi_store::Store,
    n: usize,
) -> anyhow::Result<Vec<taxi_sim::terminal::TerminalTaxi>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let plate = format!("渝T{i:05}");
        let t = store
            .register_taxi(&taxi_store::taxis::NewTaxi {
                plate: plate.clone(),
                driver_name: format!("终端司机{i}"),
                color: "黄色".into(),
                wheelchair: false,
                tags: vec![],
                driver_phone: String::new(),
            })
            .await?;
        let phone = format!("144{:08}", i);
        store.bind_terminal(&t.id, &phone).await?;
        out.push(taxi_sim::terminal::TerminalTaxi {
            taxi_id: t.id,
            plate,
            phone,
        });
    }
    Ok(out)
}
