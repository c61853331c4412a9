//! A private Redis Cluster: N masters on free loopback ports, no replicas.

use crate::resp::{self, Reply};
use crate::{
    LOG_FILE, Launch, LaunchError, Options, STOP_WAIT, ask_shutdown, launch, log_tail, loopback,
};
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The cluster bus of a node on port P listens on P + this.
const BUS_OFFSET: u16 = 10_000;
/// Node ports stay below this, so that their bus port is a valid port too.
const MAX_PORT: u16 = u16::MAX - BUS_OFFSET;
/// How long creating the cluster and waiting for every node to be healthy may take.
const CLUSTER_WAIT: Duration = Duration::from_secs(20);
/// What every node runs with, on top of the single server's arguments.
const NODE_ARGS: &[&str] = &[
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "5000",
];
/// What `redis-cli --cluster create` prints, in the temporary directory.
const CREATE_LOG: &str = "cluster-create.log";

/// A running private Redis Cluster for tests: `masters` nodes on free loopback ports, no
/// replicas, all 16384 slots assigned, each node with its own data directory (AOF on) in
/// one temporary directory. Dropping it stops every node and removes the directory.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

/// One master.
#[derive(Debug)]
struct Node {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3), joins them with
    /// `redis-cli --cluster create … --cluster-replicas 0`, and returns once every node
    /// reports `cluster_state:ok` with all 16384 slots assigned (about 2 s).
    pub fn start_temporary(masters: usize) -> Result<Self, LaunchError> {
        if masters < 3 {
            return Err(LaunchError::TooFewMasters(masters));
        }
        let binary = crate::find_redis_server().ok_or(LaunchError::NotInstalled)?;
        let cli = crate::find_redis_cli(&binary).ok_or(LaunchError::CliNotInstalled)?;
        let started = Instant::now();
        let mut this = Self {
            nodes: Vec::with_capacity(masters),
            dir: tempfile::Builder::new()
                .prefix("taxi-redis-cluster-")
                .tempdir()?,
        };
        // From here on, an early return drops `this`, which stops the nodes already running.
        let ports = node_ports(masters, &[])?;
        for (i, port) in ports.iter().copied().enumerate() {
            let planned = &ports[i + 1..];
            this.start_node(i, port, &binary, planned)?;
        }
        let deadline = started + CLUSTER_WAIT;
        this.create(&cli, deadline)?;
        this.await_healthy(deadline)?;
        tracing::info!(
            ports = ?this.ports(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "private Redis Cluster ready"
        );
        Ok(this)
    }

    /// Starts node `i` on `port`, or on another free port if that one was taken meanwhile
    /// (`planned` are the ports of the nodes still to start).
    fn start_node(
        &mut self,
        i: usize,
        mut port: u16,
        binary: &Path,
        planned: &[u16],
    ) -> Result<(), LaunchError> {
        let dir = self.dir.path().join(format!("node-{i}"));
        let mut last = None;
        for _ in 0..5 {
            // A fresh directory each try: a failed try may have written a nodes.conf.
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
            std::fs::create_dir_all(&dir)?;
            let launched = launch(Launch {
                binary,
                port,
                dir: &dir,
                options: &Options::default(),
                extra: NODE_ARGS,
                lock: None,
            });
            match launched {
                Ok(child) => {
                    self.nodes.push(Node {
                        port,
                        dir,
                        child: Some(child),
                    });
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            let taken: Vec<u16> = self
                .ports()
                .into_iter()
                .chain(planned.iter().copied())
                .collect();
            port = node_ports(1, &taken)?[0];
        }
        Err(last.unwrap_or(LaunchError::NotInstalled))
    }

    /// Runs `redis-cli --cluster create`, killing it if it is still running at `deadline`.
    fn create(&self, cli: &Path, deadline: Instant) -> Result<(), LaunchError> {
        let log_path = self.dir.path().join(CREATE_LOG);
        let log = File::create(&log_path)?;
        let mut child = Command::new(cli)
            .args(["--cluster", "create"])
            .args(self.ports().iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            // Our nodes have no password: a developer's REDISCLI_AUTH would make it fail.
            .env_remove("REDISCLI_AUTH")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut meshed = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e.into());
                }
            }
            // redis-cli has every node meet the first one only, then checks once a second
            // until gossip has told every node about every other's slots: 2 to 6 s here.
            // Once its MEETs have begun (so every node's slots and config epoch are set),
            // meeting every pair directly spreads the slots within about 1 s, and the
            // cluster is ready at Redis' own floor: a master reports `cluster_state:ok` no
            // sooner than 2 s after it started.
            if !meshed && self.nodes.iter().any(|n| known_nodes(n.port) > 1) {
                self.meet_all();
                meshed = true;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LaunchError::ClusterCreate {
                    status: format!("still running after {CLUSTER_WAIT:?}, killed"),
                    output: log_tail(&log_path, 10),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if status.success() {
            Ok(())
        } else {
            Err(LaunchError::ClusterCreate {
                status: status.to_string(),
                output: log_tail(&log_path, 10),
            })
        }
    }

    /// Has every node meet every other directly (a MEET already under way is a no-op).
    fn meet_all(&self) {
        for (i, a) in self.nodes.iter().enumerate() {
            for b in &self.nodes[i + 1..] {
                let port = b.port.to_string();
                let meet = ["CLUSTER", "MEET", "127.0.0.1", port.as_str()];
                let _ = resp::command(loopback(a.port), &meet, Duration::from_secs(1));
            }
        }
    }

    /// Polls CLUSTER INFO on every node until all are healthy or `deadline` passes.
    fn await_healthy(&mut self, deadline: Instant) -> Result<(), LaunchError> {
        let state = loop {
            let unhealthy: Vec<String> = self
                .nodes
                .iter()
                .filter_map(|n| match node_health(n.port) {
                    Ok(()) => None,
                    Err(why) => Some(format!("port {}: {why}", n.port)),
                })
                .collect();
            if unhealthy.is_empty() {
                return Ok(());
            }
            let exited = self.nodes.iter_mut().any(|n| match n.child.as_mut() {
                Some(c) => !matches!(c.try_wait(), Ok(None)),
                None => true,
            });
            if exited || Instant::now() >= deadline {
                break unhealthy.join("; ");
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        Err(LaunchError::ClusterNotReady {
            ports: self.ports(),
            waited: CLUSTER_WAIT.saturating_sub(deadline.saturating_duration_since(Instant::now())),
            state,
            logs: self
                .nodes
                .iter()
                .map(|n| format!("[{}] {}", n.port, log_tail(&n.dir.join(LOG_FILE), 3)))
                .collect::<Vec<_>>()
                .join(" "),
        })
    }

    /// The nodes' ports, in the order they were started.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// Each node's `redis://127.0.0.1:P/` URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}/", n.port))
            .collect()
    }

    /// Every node's URL joined by commas (`redis://127.0.0.1:P1/,redis://127.0.0.1:P2/,…`):
    /// the form `TAXI_REDIS_URL` takes for a cluster.
    pub fn url(&self) -> String {
        self.urls().join(",")
    }

    /// The port of the master serving `hash_tag_key`'s slot (e.g. `{c:500100}`), as the
    /// cluster itself says (CLUSTER KEYSLOT, then CLUSTER SLOTS).
    pub fn owner_port(&self, hash_tag_key: &str) -> Result<u16, LaunchError> {
        let (port, reply) = self.ask(&["CLUSTER", "KEYSLOT", hash_tag_key])?;
        let slot = match reply {
            Reply::Int(slot) => slot,
            other => return Err(unexpected(port, "CLUSTER KEYSLOT", &other)),
        };
        let (port, reply) = self.ask(&["CLUSTER", "SLOTS"])?;
        let Reply::Array(Some(ranges)) = &reply else {
            return Err(unexpected(port, "CLUSTER SLOTS", &reply));
        };
        // Each range: [start, end, [ip, port, id, …] (the master), replicas…].
        for range in ranges {
            let Reply::Array(Some(fields)) = range else {
                return Err(unexpected(port, "CLUSTER SLOTS", range));
            };
            let (Some(Reply::Int(start)), Some(Reply::Int(end)), Some(Reply::Array(Some(master)))) =
                (fields.first(), fields.get(1), fields.get(2))
            else {
                return Err(unexpected(port, "CLUSTER SLOTS", range));
            };
            if (*start..=*end).contains(&slot) {
                return match master.get(1) {
                    Some(Reply::Int(p)) => {
                        u16::try_from(*p).map_err(|_| unexpected(port, "CLUSTER SLOTS", range))
                    }
                    _ => Err(unexpected(port, "CLUSTER SLOTS", range)),
                };
            }
        }
        Err(LaunchError::Protocol {
            port,
            detail: format!("no node serves slot {slot} of {hash_tag_key:?}"),
        })
    }

    /// Sends one command to the first node that answers.
    fn ask(&self, args: &[&str]) -> Result<(u16, Reply), LaunchError> {
        let mut last = None;
        for n in &self.nodes {
            match resp::command(loopback(n.port), args, Duration::from_secs(2)) {
                Ok(reply) => return Ok((n.port, reply)),
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no nodes"))
            .into())
    }

    /// Stops every node: SHUTDOWN NOSAVE to all, then waits, killing those that linger.
    fn stop(&mut self) {
        for n in &self.nodes {
            if n.child.is_some() {
                ask_shutdown(n.port, None, true);
            }
        }
        let deadline = Instant::now() + STOP_WAIT;
        for n in &mut self.nodes {
            if let Some(mut child) = n.child.take() {
                crate::wait_or_kill(&mut child, deadline);
            }
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.stop();
        // `dir` (a TempDir) is removed after this, with every node already gone.
    }
}

fn unexpected(port: u16, what: &str, reply: &Reply) -> LaunchError {
    LaunchError::Protocol {
        port,
        detail: format!("{what} answered {reply:?}"),
    }
}

/// How many nodes the node on `port` knows (itself included; 0 if it does not answer).
fn known_nodes(port: u16) -> usize {
    resp::command(loopback(port), &["CLUSTER", "INFO"], Duration::from_secs(1))
        .ok()
        .and_then(|reply| reply.text())
        .and_then(|info| {
            crate::info_field(&info, "cluster_known_nodes")?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Ok if the node on `port` says `cluster_state:ok` and `cluster_slots_assigned:16384`,
/// else what it said.
fn node_health(port: u16) -> Result<(), String> {
    let info = match resp::command(loopback(port), &["CLUSTER", "INFO"], Duration::from_secs(1)) {
        Ok(reply) => reply
            .text()
            .ok_or_else(|| format!("CLUSTER INFO answered {reply:?}"))?,
        Err(e) => return Err(e.to_string()),
    };
    let state = crate::info_field(&info, "cluster_state").unwrap_or("?");
    let slots = crate::info_field(&info, "cluster_slots_assigned").unwrap_or("?");
    if state == "ok" && slots == "16384" {
        Ok(())
    } else {
        Err(format!(
            "cluster_state:{state} cluster_slots_assigned:{slots}"
        ))
    }
}

/// `n` ports P below [`MAX_PORT`] with both P and its bus port P + 10000 free right now,
/// all distinct, none clashing with `taken` (ports of nodes running or planned).
fn node_ports(n: usize, taken: &[u16]) -> io::Result<Vec<u16>> {
    let clashes = |p: u16, others: &[u16]| {
        others
            .iter()
            .any(|&t| p == t || p == t + BUS_OFFSET || p + BUS_OFFSET == t)
    };
    // Held until all are found, so the OS cannot hand the same port out twice.
    let mut held = Vec::new();
    let mut ports = Vec::with_capacity(n);
    for _ in 0..n * 100 {
        if ports.len() == n {
            break;
        }
        let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let mut port = probe.local_addr()?.port();
        let main = if port < MAX_PORT {
            probe
        } else {
            // The OS handed out a port too high for a bus port: try one derived from it.
            drop(probe);
            port = 20_000 + port % 35_000;
            match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
                Ok(l) => l,
                Err(_) => continue,
            }
        };
        if clashes(port, taken) {
            continue;
        }
        let Ok(bus) = TcpListener::bind((Ipv4Addr::LOCALHOST, port + BUS_OFFSET)) else {
            continue;
        };
        held.push(main);
        held.push(bus);
        ports.push(port);
    }
    if ports.len() < n {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("found no free loopback port P < {MAX_PORT} with P + {BUS_OFFSET} free too"),
        ));
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    fn cmd(port: u16, args: &[&str]) -> Reply {
        resp::command(loopback(port), args, Duration::from_secs(2)).unwrap()
    }

    /// SET through `port`, following -MOVED like `redis-cli -c`; returns the port that took it.
    fn set_following_redirects(port: u16, key: &str, value: &str) -> u16 {
        let mut at = port;
        for _ in 0..3 {
            match cmd(at, &["SET", key, value]) {
                Reply::Simple(ok) if ok == "OK" => return at,
                Reply::Error(e) if e.starts_with("MOVED ") => {
                    let target = e.rsplit(':').next().unwrap();
                    at = target.parse().unwrap();
                }
                other => panic!("SET {key} on port {at}: {other:?}"),
            }
        }
        panic!("SET {key}: too many redirects");
    }

    #[test]
    fn three_masters_come_up_and_serve_the_city_hash_tags() {
        let t = Instant::now();
        let cluster = RedisCluster::start_temporary(3).unwrap();
        eprintln!("3-master cluster ready in {:?}", t.elapsed());
        let ports = cluster.ports();
        assert_eq!(ports.len(), 3);
        assert!(ports.iter().all(|&p| p < MAX_PORT));
        assert_eq!(
            cluster.url(),
            ports
                .iter()
                .map(|p| format!("redis://127.0.0.1:{p}/"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(cluster.urls().len(), 3);
        for &p in &ports {
            let info = cmd(p, &["CLUSTER", "INFO"]).text().unwrap();
            assert!(info.contains("cluster_state:ok"), "port {p}: {info}");
            assert!(
                info.contains("cluster_slots_assigned:16384"),
                "port {p}: {info}"
            );
            assert!(info.contains("cluster_known_nodes:3"), "port {p}: {info}");
        }

        let mut owners = Vec::new();
        for tag in ["{c:500100}", "{c:110100}"] {
            let owner = cluster.owner_port(tag).unwrap();
            assert!(ports.contains(&owner), "{owner} is not one of {ports:?}");
            let Reply::Int(slot) = cmd(ports[0], &["CLUSTER", "KEYSLOT", tag]) else {
                panic!("KEYSLOT");
            };
            // Written through every node in turn: non-owners redirect to the owner.
            let key = format!("{tag}:probe");
            for (i, &p) in ports.iter().enumerate() {
                let value = format!("v{i}");
                assert_eq!(set_following_redirects(p, &key, &value), owner);
                assert_eq!(cmd(owner, &["GET", &key]).text().as_deref(), Some(&*value));
            }
            let node = ports.iter().position(|&p| p == owner).unwrap();
            eprintln!("{tag}: slot {slot}, served by node #{node} (port {owner})");
            owners.push(owner);
        }
        eprintln!(
            "{{c:500100}} and {{c:110100}} are on {} masters",
            if owners[0] == owners[1] {
                "the same"
            } else {
                "different"
            }
        );
    }

    #[test]
    fn dropping_stops_every_node_and_removes_the_data() {
        let t = Instant::now();
        let cluster = RedisCluster::start_temporary(3).unwrap();
        eprintln!("3-master cluster ready in {:?}", t.elapsed());
        let ports = cluster.ports();
        let dir = cluster.dir.path().to_path_buf();
        let pids: Vec<u32> = cluster
            .nodes
            .iter()
            .map(|n| n.child.as_ref().unwrap().id())
            .collect();
        assert!(dir.join("node-0").join("nodes.conf").is_file());
        let t = Instant::now();
        drop(cluster);
        eprintln!("3-master cluster stopped in {:?}", t.elapsed());
        for p in ports {
            for port in [p, p + BUS_OFFSET] {
                assert!(
                    TcpStream::connect_timeout(&loopback(port), Duration::from_millis(200))
                        .is_err(),
                    "port {port} still accepts connections"
                );
            }
        }
        if Path::new("/proc/self").exists() {
            for pid in pids {
                assert!(
                    !Path::new(&format!("/proc/{pid}")).exists(),
                    "pid {pid} lives on"
                );
            }
        }
        assert!(!dir.exists());
    }

    #[test]
    fn needs_three_masters() {
        assert!(matches!(
            RedisCluster::start_temporary(2),
            Err(LaunchError::TooFewMasters(2))
        ));
    }

    #[test]
    fn picks_distinct_port_pairs() {
        let ports = node_ports(3, &[]).unwrap();
        for (i, &p) in ports.iter().enumerate() {
            assert!(p < MAX_PORT);
            for &q in &ports[i + 1..] {
                assert!(p != q && p + BUS_OFFSET != q && q + BUS_OFFSET != p);
            }
        }
    }
}
