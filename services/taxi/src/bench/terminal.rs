//! g. The in-car terminal gateway (issue 17): JT/T 808 location frames from many terminals
//! through the gateway into Redis (frames/s, and the ratio to `ReportPositions` ingest
//! of the same taxis in the same run), then 20,000 idle authenticated terminal
//! connections held (the gateway process's memory for them).

use super::env::{Env, Guard, fleet, spot};
use super::ingest::stream_positions;
use super::report::{Figure, Target};
use anyhow::Context;
use futures::{SinkExt, StreamExt};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use taxi_jtt808::message::{Location, Time, status};
use taxi_jtt808::{Body, Codec, Header, Packet};
use taxi_redis_process::Fsync;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

const SCENARIO: &str = "g. terminal gateway";

/// Frames one connection has in flight (unanswered) at most.
const WINDOW: u64 = 256;

type Conn = Framed<TcpStream, Codec>;

fn phone(i: usize) -> String {
    format!("145{i:08}")
}

/// Logs terminal `i` (its plate `plate`) in, as the simulator's terminals do.
async fn login(addr: SocketAddr, i: usize, plate: &str) -> anyhow::Result<Conn> {
    let t = taxi_sim::terminal::TerminalTaxi {
        taxi_id: String::new(),
        plate: plate.to_string(),
        phone: phone(i),
    };
    taxi_sim::terminal::log_in(&t, addr)
        .await
        .with_context(|| format!("terminal {i} ({plate}) could not register and authenticate"))
}

/// Sends `frames` location frames on `io` (at most [`WINDOW`] unanswered), counting the
/// ones answered OK into `ok`.
async fn pump(
    io: Conn,
    phone: String,
    frames: u64,
    seed: u64,
    ok: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let (mut tx, mut rx) = io.split();
    let answered = Arc::new(AtomicU64::new(0));
    let notify = Arc::new(tokio::sync::Notify::new());
    let reader = {
        let (answered, notify) = (answered.clone(), notify.clone());
        tokio::spawn(async move {
            while answered.load(Ordering::Acquire) < frames {
                let Some(Ok(Ok(p))) = rx.next().await else {
                    break;
                };
                if let Body::PlatformReply(r) = p.body {
                    if r.result == 0 {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    answered.fetch_add(1, Ordering::AcqRel);
                    notify.notify_one();
                }
            }
        })
    };
    let mut rng = StdRng::seed_from_u64(seed);
    for n in 0..frames {
        while n >= answered.load(Ordering::Acquire) + WINDOW {
            notify.notified().await;
        }
        let (lat, lon) = spot(&mut rng);
        let body = Body::Location(Location {
            alarm: 0,
            status: status::FIXED,
            latitude: lat,
            longitude: lon,
            altitude: 250,
            speed: 300,
            direction: 90,
            time: Time::from_unix_ms(now_ms()),
            extra: vec![],
        });
        let header = Header::new(body.id(), &phone, (n % 65_536) as u16);
        tx.send(Packet { header, body }).await?;
    }
    reader.await?;
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Lets this process (and the server it starts) hold `n` open files: root may raise the
/// hard limit; otherwise the soft one goes as high as the hard one allows.
fn raise_open_files(n: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let wanted = Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    if setrlimit(Resource::Nofile, wanted).is_err() {
        let hard = getrlimit(Resource::Nofile).maximum;
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: hard,
                maximum: hard,
            },
        );
    }
    getrlimit(Resource::Nofile).current.unwrap_or(0)
}

pub(super) async fn terminal(quick: bool, fsync: Fsync) -> anyhow::Result<Vec<Figure>> {
    let (pumping, frames_each, wanted) = if quick {
        (4, 500, 200)
    } else {
        (32, 20_000, 20_000)
    };
    // Each connection is a file on both sides (this process and the server it starts,
    // which inherits the limit): as many as the open-files limit allows, up to `wanted`.
    let files = raise_open_files(wanted as u64 * 2 + 4_096);
    let idle = wanted.min(files.saturating_sub(1_024) as usize);
    if idle < wanted {
        println!(
            "  terminal: the open-files limit is {files} (root could not raise it here): {idle} idle terminals instead of {wanted}"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let env = Env::start(
        fsync,
        &[
            "--role",
            "all,terminal-gateway",
            "--terminal-listen",
            &listen,
            "--terminal-idle-secs",
            "3600",
        ],
        Guard::Secure,
    )
    .await?;
    let addr: SocketAddr = listen.parse()?;
    println!("  terminal: registering {idle} taxis and binding their terminals");
    let ids = fleet(&env.store, idle).await?;
    let mut plates = Vec::with_capacity(idle);
    for (i, id) in ids.iter().enumerate() {
        env.store.bind_terminal(id, &phone(i)).await?;
        plates.push(env.store.get_taxi(id).await?.plate);
    }

    // Throughput: `pumping` terminals send location frames as fast as answers come back.
    let mut conns = Vec::new();
    for (i, plate) in plates.iter().enumerate().take(pumping) {
        conns.push(login(addr, i, plate).await?);
    }
    let ok = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, io)| tokio::spawn(pump(io, phone(i), frames_each, i as u64, ok.clone())))
        .collect();
    for task in tasks {
        task.await??;
    }
    let secs = t.elapsed().as_secs_f64();
    let sent = pumping as u64 * frames_each;
    let accepted = ok.load(Ordering::Relaxed);
    anyhow::ensure!(
        accepted == sent,
        "only {accepted} of {sent} location frames answered OK"
    );
    let frame_rate = accepted as f64 / secs;

    // The same updates through ReportPositions, as the app gateway sends them.
    let channels = env.as_gateway(&env.connections(4).await?);
    let movers: Vec<String> = ids.iter().take(pumping.max(1) * 50).cloned().collect();
    let rounds = (sent as usize).div_ceil(movers.len()).max(1);
    let t = Instant::now();
    let rp = stream_positions(&channels, &movers, rounds, 500, 9).await?;
    let rp_rate = rp as f64 / t.elapsed().as_secs_f64();

    // Idle: every taxi's terminal logs in and stays connected; the server's memory grows by
    // what the gateway keeps for them.
    let before = env.rss_mib();
    let mut held = Vec::with_capacity(idle);
    let logins: Vec<anyhow::Result<Conn>> =
        futures::stream::iter(plates.iter().enumerate().skip(pumping))
            .map(|(i, plate)| login(addr, i, plate))
            .buffer_unordered(256)
            .collect()
            .await;
    for l in logins {
        held.push(l?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = env.rss_mib();
    let connected = held.len() + pumping;
    drop(held);
    let per_conn_kib = (after - before).max(0.0) * 1024.0 / (connected - pumping).max(1) as f64;
    let f = |name: &str, value: f64, unit: &'static str, target| {
        Figure::new(SCENARIO, name, value, unit, target)
    };
    Ok(vec![
        f(
            &format!("location frames/s through the gateway ({pumping} terminals)"),
            frame_rate,
            "/s",
            Some(Target::AtLeast(50_000.0)),
        ),
        f("ReportPositions updates/s, same run", rp_rate, "/s", None),
        f(
            "terminal frames / ReportPositions updates",
            frame_rate / rp_rate.max(1e-9),
            "x",
            None,
        ),
        f(
            &format!(
                "server memory growth, {} idle authenticated terminals",
                connected
            ),
            (after - before).max(0.0),
            "MiB",
            Some(Target::AtMost(500.0)),
        ),
        f("server memory per idle terminal", per_conn_kib, "KiB", None),
    ])
}
