//! Scenario a, position ingest: 100,000 taxis stream fixes through `ReportPositions`
//! (TLS, authenticated, as the terminal gateway), judged against what Redis itself takes
//! as single-member `GEOADD`s in the same run: `redis-benchmark -P 64` (the limit) and
//! pipelined GEOADDs from redis-rs (the older, second baseline). Also Redis memory per
//! taxi, server and Redis CPU per 1,000 updates, and the auth+TLS on/off comparison.

use super::env::{Env, Guard, compare_guards, delta, fleet, report, spot};
use super::report::{Figure, Target, guard_cost};
use anyhow::Context;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;
use taxi_proto::v1 as pb;
use taxi_proto::v1::driver_service_client::DriverServiceClient;
use taxi_redis_process::Fsync;
use taxi_sim::Authed;
use taxi_store::Store;

const SCENARIO: &str = "a. position ingest";

/// Streams `rounds` positions for every taxi over `channels`, batches of `batch`.
pub(super) async fn stream_positions(
    channels: &[Authed],
    ids: &[String],
    rounds: usize,
    batch: usize,
    seed: u64,
) -> anyhow::Result<u64> {
    let per = ids.len().div_ceil(channels.len());
    let mut tasks = Vec::new();
    for (c, chunk) in channels.iter().zip(ids.chunks(per)) {
        let mut d = DriverServiceClient::new(c.clone());
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut messages = Vec::new();
            for _ in 0..rounds {
                for b in chunk.chunks(batch) {
                    messages.push(pb::ReportPositionsRequest {
                        positions: b.iter().map(|id| report(id, spot(&mut rng))).collect(),
                    });
                }
            }
            let r = d.report_positions(tokio_stream::iter(messages)).await?;
            anyhow::Ok(r.into_inner().accepted)
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await??;
    }
    Ok(accepted)
}

/// What one ingest run measured.
struct IngestRun {
    env: Env,
    ids: Vec<String>,
    rounds: usize,
    accepted: u64,
    api_rate: f64,
    calls: u64,
    usec: u64,
    /// Redis `used_memory` growth per taxi once the fleet is registered and has reported
    /// its first fix, bytes.
    memory_per_taxi: f64,
    /// CPU seconds of the server child and of Redis per 1,000 accepted updates over the
    /// measured window.
    cpu_s_per_1000: [f64; 2],
}

/// Registers the taxis and streams their positions through the API, as the gateway.
async fn ingest_run(
    quick: bool,
    fsync: Fsync,
    guard: Guard,
    stands: (usize, f64),
) -> anyhow::Result<IngestRun> {
    let n = if quick { 2_000 } else { 100_000 };
    let rounds = if quick { 2 } else { 5 };
    let env = Env::start(fsync, &[], guard).await?;
    bench_stands(&env.store, stands.0, stands.1).await?;
    let memory_before = env.redis_used_memory().await?;
    println!("  ingest ({guard:?}): registering {n} taxis");
    let ids = fleet(&env.store, n).await?;
    let channels = env.as_gateway(&env.connections(4).await?);
    // Warm up (first fixes, connections), then measure.
    stream_positions(&channels, &ids, 1, 500, 1).await?;
    let memory_after = env.redis_used_memory().await?;
    let memory_per_taxi = memory_after.saturating_sub(memory_before) as f64 / n as f64;
    let before = env.commandstats().await?;
    let cpu_before = env.server_and_redis_cpu_ms();
    let t = Instant::now();
    let accepted = stream_positions(&channels, &ids, rounds, 500, 2).await?;
    let api_secs = t.elapsed().as_secs_f64();
    let cpu_after = env.server_and_redis_cpu_ms();
    let after = env.commandstats().await?;
    anyhow::ensure!(
        accepted as usize == n * rounds,
        "only {accepted} of {} updates accepted",
        n * rounds
    );
    let api_rate = accepted as f64 / api_secs;
    let (calls, usec) = delta(&before, &after, "evalsha");
    Ok(IngestRun {
        env,
        ids,
        rounds,
        accepted,
        api_rate,
        calls,
        usec,
        memory_per_taxi,
        // ms / (updates / 1,000) / 1,000 = ms / updates.
        cpu_s_per_1000: [0, 1].map(|i| (cpu_after[i] - cpu_before[i]) / accepted.max(1) as f64),
    })
}

/// Creates `n` stands of `radius_m` at random spots of the bench area.
async fn bench_stands(store: &Store, n: usize, radius_m: f64) -> anyhow::Result<()> {
    use taxi_domain::stands::{FenceSpec, LatLon, Stand, StandSpec};
    let area = taxi_domain::geo::City::builtin(store.city())
        .context("the bench city has no built-in service area")?
        .service_area;
    let mut rng = StdRng::seed_from_u64(7);
    let mut made = 0;
    while made < n {
        let (lat, lon) = spot(&mut rng);
        let spec = StandSpec {
            id: format!("bench-{made}"),
            name: format!("候客点 {made}"),
            fence: FenceSpec::Circle {
                centre: LatLon { lat, lon },
                radius_m,
            },
            datum: taxi_domain::Datum::Wgs84,
            capacity: None,
            hours: vec![],
        };
        // A spot outside the (concave) service area is skipped.
        match Stand::check(&spec, &area) {
            Ok(stand) => {
                store.create_stand(&stand).await?;
                made += 1;
            }
            Err(e) if e.field == "stand.fence.radius_meters" => {
                anyhow::bail!("--stand-radius: {}", e.reason)
            }
            Err(_) => {}
        }
    }
    if n > 0 {
        println!("  ingest: {n} stands of {radius_m} m in the city");
    }
    Ok(())
}

pub(super) async fn ingest(
    quick: bool,
    fsync: Fsync,
    stands: (usize, f64),
) -> anyhow::Result<Vec<Figure>> {
    let IngestRun {
        env,
        ids,
        rounds,
        accepted,
        api_rate,
        calls,
        usec,
        memory_per_taxi,
        cpu_s_per_1000,
    } = ingest_run(quick, fsync, Guard::Secure, stands).await?;
    let n = ids.len();

    // The baselines below are plain GEOADDs, which Redis would append to the AOF and, under
    // `appendfsync always`, fsync one by one; position writes never go to the AOF
    // (`report_positions.lua` does not replicate them). So the AOF is off from here on:
    // the limit is Redis taking GEOADDs as fast as it can, not as fast as the disk syncs
    // (the scenario's Redis is thrown away after it).
    env.store.stop_appending().await?;
    // The raw limit: the same updates as pipelined single-member GEOADDs from Rust.
    let mut rng = StdRng::seed_from_u64(3);
    let updates: Vec<(f64, f64, String)> = (0..rounds)
        .flat_map(|_| {
            ids.iter()
                .map(|id| {
                    let p = spot(&mut rng);
                    (p.1, p.0, id.clone())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let before = env.commandstats().await?;
    let t = Instant::now();
    let clients = 16;
    let per = updates.len().div_ceil(clients);
    let mut tasks = Vec::new();
    for chunk in updates.chunks(per) {
        let chunk = chunk.to_vec();
        let url = env.redis.url();
        tasks.push(tokio::spawn(async move {
            let mut conn = redis::Client::open(url)?
                .get_multiplexed_async_connection()
                .await?;
            for group in chunk.chunks(64) {
                let mut pipe = redis::pipe();
                for (lon, lat, id) in group {
                    pipe.cmd("GEOADD")
                        .arg("{bench}:raw")
                        .arg(*lon)
                        .arg(*lat)
                        .arg(id)
                        .ignore();
                }
                let () = pipe.query_async(&mut conn).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let raw_rate = updates.len() as f64 / t.elapsed().as_secs_f64();
    let after = env.commandstats().await?;
    let (gcalls, gusec) = delta(&before, &after, "geoadd");
    // The limit: Redis's own client pipelining single-member GEOADDs, as many as the
    // API's updates, into the same Redis.
    let limit_rate = redis_benchmark_geoadd(&env, n, updates.len()).await?;
    let f = |name: &str, value: f64, unit: &'static str, target| {
        Figure::new(SCENARIO, name, value, unit, target)
    };
    let mut figures = vec![
        f(
            &format!("ReportPositions updates/s ({}k taxis)", n / 1000),
            api_rate,
            "/s",
            Some(Target::AtLeast(50_000.0)),
        ),
        f(
            "redis-benchmark -P 64 GEOADD updates/s (the limit)",
            limit_rate,
            "/s",
            None,
        ),
        f(
            "raw pipelined GEOADD updates/s (redis-rs)",
            raw_rate,
            "/s",
            None,
        ),
        f(
            "ingest / redis-benchmark GEOADD",
            api_rate / limit_rate.max(1e-9),
            "x",
            Some(Target::AtLeast(0.4)),
        ),
        f(
            "ingest / raw (redis-rs)",
            api_rate / raw_rate,
            "x",
            Some(Target::AtLeast(0.5)),
        ),
        f(
            "Redis time per ReportPositions script call",
            usec as f64 / calls.max(1) as f64,
            "µs",
            None,
        ),
        f(
            "Redis time per position update (API)",
            usec as f64 / accepted.max(1) as f64,
            "µs",
            None,
        ),
        f(
            "Redis time per raw GEOADD",
            gusec as f64 / gcalls.max(1) as f64,
            "µs",
            None,
        ),
        // What issue 16 bounds: the Redis work of one update against one GEOADD of the
        // same moving taxis (redis-benchmark's members all get one score, `106.<12 digits
        // below -r>` varying in the 7th decimal place, so its GEOADDs never move a member
        // in the index and cost about half a moving one).
        f(
            "Redis time per update / per raw GEOADD",
            (usec as f64 / accepted.max(1) as f64)
                / (gusec as f64 / gcalls.max(1) as f64).max(1e-9),
            "x",
            Some(Target::AtMost(1.5)),
        ),
        f("Redis memory per taxi", memory_per_taxi, "B", None),
        f(
            "server CPU per 1,000 position updates",
            cpu_s_per_1000[0],
            "s",
            None,
        ),
        f(
            "Redis CPU per 1,000 position updates",
            cpu_s_per_1000[1],
            "s",
            None,
        ),
    ];
    drop(env);
    // The same ingest with and without TLS and authentication, alternately; the run
    // above is the first "on" sample.
    let samples = compare_guards(Some(api_rate), |guard| async move {
        let r = ingest_run(quick, fsync, guard, stands).await?;
        Ok(r.api_rate)
    })
    .await?;
    figures.extend(guard_cost("ReportPositions updates/s", &samples));
    Ok(figures)
}

/// `redis-benchmark` sending `requests` single-member GEOADDs (members `t:<random of
/// taxis>`, random coordinates) into `env`'s Redis, 64 to a pipeline over 4 connections;
/// its requests per second.
async fn redis_benchmark_geoadd(env: &Env, taxis: usize, requests: usize) -> anyhow::Result<f64> {
    let mut cmd = std::process::Command::new("redis-benchmark");
    cmd.args(["-h", "127.0.0.1", "-p"])
        .arg(env.redis.port().to_string())
        .args(["-n", &requests.to_string(), "-P", "64", "-c", "4"])
        .args(["-r", &taxis.max(1).to_string(), "--csv"])
        // Every `__rand_int__` becomes a 12-digit random number below `-r`.
        .args([
            "GEOADD",
            "{bench}:rb",
            "106.__rand_int__",
            "29.__rand_int__",
            "t:__rand_int__",
        ]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await?
        .context("running redis-benchmark (installed with redis-server; is it on PATH?)")?;
    anyhow::ensure!(
        out.status.success(),
        "redis-benchmark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_redis_benchmark_csv(&String::from_utf8_lossy(&out.stdout))
}

/// The requests per second of `redis-benchmark --csv`'s one test line
/// (`"test","rps",...` then `"GEOADD ...","455272.72",...`).
fn parse_redis_benchmark_csv(csv: &str) -> anyhow::Result<f64> {
    csv.lines()
        .filter(|l| !l.starts_with("\"test\""))
        .find_map(|l| {
            // The test's name is the first quoted field and holds no `","`.
            let (_, rest) = l.split_once("\",\"")?;
            rest.split('"').next()?.parse::<f64>().ok()
        })
        .with_context(|| format!("no requests/s in redis-benchmark's output: {csv:?}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn redis_benchmark_csv_gives_its_requests_per_second() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\"\n\"GEOADD {bench}:rb 106.__rand_int__ 29.__rand_int__ t:__rand_int__\",\"455272.72\",\"0.480\"\n";
        assert_eq!(super::parse_redis_benchmark_csv(csv).unwrap(), 455272.72);
        assert!(super::parse_redis_benchmark_csv("").is_err());
    }
}
