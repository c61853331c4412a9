//! A webhook receiver for the notifications tests: a real HTTP server on `127.0.0.1:0`
//! that verifies each Standard Webhooks signature and records the idempotency keys it
//! took effect for, as the city's SMS/voice gateway would.
//!
//! It can go down (its port closed, its open connections cut) and come back on the same
//! port, hang (accept requests and never answer), and refuse the messages to given phones
//! (answer 500), so tests drive every failure a sender meets.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use taxi_notify::webhook::Secret;
use tokio::task::{JoinHandle, JoinSet};

/// One message the receiver took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `data.idempotency_key` (also `webhook-id`).
    pub key: String,
    /// `data.kind`.
    pub kind: String,
    /// `data.to`.
    pub to: String,
    /// `data.channel`.
    pub channel: String,
    /// `data.text`.
    pub text: String,
    /// `data.order_id`.
    pub order_id: String,
    /// `data.alert_id`.
    pub alert_id: String,
}

#[derive(Debug, Default)]
struct State {
    /// Each key's first delivery: its effect.
    effects: HashMap<String, Delivery>,
    /// Deliveries of a key that had already taken effect (recognised and ignored).
    repeats: u64,
    /// Requests whose signature did not verify.
    forged: u64,
    /// Requests that arrived while hanging.
    hung: u64,
    /// Phones whose messages are answered 500.
    refuse_to: HashSet<String>,
    hanging: bool,
}

/// The receiver.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    secret: String,
    state: Arc<Mutex<State>>,
    task: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts on a free loopback port with a fresh secret.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let mut r = Self {
            addr: listener.local_addr().expect("addr"),
            secret: Secret::generate(),
            state: Arc::default(),
            task: None,
        };
        r.serve(listener);
        r
    }

    /// `http://127.0.0.1:<port>/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The signing secret (`whsec_...`).
    pub fn secret(&self) -> String {
        self.secret.clone()
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let state = self.state.clone();
        let secret = Secret::parse("secret", &self.secret).expect("secret");
        self.task = Some(tokio::spawn(async move {
            // Dropping the set (when this task is aborted) cuts every open connection.
            let mut conns = JoinSet::new();
            while let Ok((sock, _)) = listener.accept().await {
                let state = state.clone();
                let secret = secret.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        handle(req, state.clone(), secret.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
                while conns.try_join_next().is_some() {}
            }
        }));
    }

    /// Goes down: the port is closed and open connections are cut.
    pub fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Comes back on the same port, answering again.
    pub async fn up(&mut self) {
        self.down();
        self.state.lock().expect("state").hanging = false;
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                // The port was free for the whole outage: another process's connection may
                // hold it as its ephemeral port for a while (a busy machine): wait it out.
                Err(e) if tries < 500 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("rebind the receiver on {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    /// Accepts requests and never answers them (a gateway that stalls).
    pub fn hang(&self) {
        self.state.lock().expect("state").hanging = true;
    }

    /// Answers 500 to every message to `phone` (or stops doing so).
    pub fn refuse(&self, phone: &str, refuse: bool) {
        let mut s = self.state.lock().expect("state");
        if refuse {
            s.refuse_to.insert(phone.into());
        } else {
            s.refuse_to.remove(phone);
        }
    }

    /// Every message that took effect, one per idempotency key.
    pub fn effects(&self) -> Vec<Delivery> {
        let s = self.state.lock().expect("state");
        let mut v: Vec<Delivery> = s.effects.values().cloned().collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Deliveries recognised as repeats of a key that had taken effect.
    pub fn repeats(&self) -> u64 {
        self.state.lock().expect("state").repeats
    }

    /// Requests whose signature did not verify.
    pub fn forged(&self) -> u64 {
        self.state.lock().expect("state").forged
    }

    /// Requests that arrived while it hung.
    pub fn hung(&self) -> u64 {
        self.state.lock().expect("state").hung
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

fn reply(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    secret: Secret,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (id, ts, sig) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return Ok(reply(StatusCode::BAD_REQUEST));
    };
    let ts: i64 = ts.parse().unwrap_or(-1);
    if !secret.verify(&id, ts, &body, &sig) {
        state.lock().expect("state").forged += 1;
        return Ok(reply(StatusCode::UNAUTHORIZED));
    }
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return Ok(reply(StatusCode::BAD_REQUEST)),
    };
    let d = &v["data"];
    let text = |f: &str| d[f].as_str().unwrap_or_default().to_string();
    let delivery = Delivery {
        key: text("idempotency_key"),
        kind: text("kind"),
        to: text("to"),
        channel: text("channel"),
        text: text("text"),
        order_id: text("order_id"),
        alert_id: text("alert_id"),
    };
    assert_eq!(delivery.key, id, "webhook-id is the idempotency key");
    let hanging = {
        let mut s = state.lock().expect("state");
        s.hung += u64::from(s.hanging);
        s.hanging
    };
    if hanging {
        std::future::pending::<()>().await;
    }
    {
        let mut s = state.lock().expect("state");
        if s.refuse_to.contains(&delivery.to) {
            return Ok(reply(StatusCode::INTERNAL_SERVER_ERROR));
        }
        if s.effects.contains_key(&delivery.key) {
            s.repeats += 1;
        } else {
            s.effects.insert(delivery.key.clone(), delivery);
        }
    }
    Ok(reply(StatusCode::NO_CONTENT))
}
