//! The end-to-end test harness.
//!
//! [`TestCity::start`] starts a private `redis-server` on a free loopback port (never a
//! Redis someone left running), or with `TAXI_TEST_REDIS=cluster` a private 3-master
//! Redis Cluster, and the services in-process on an ephemeral port, and hands out real
//! tonic clients. Everything stops when the city is dropped. The city runs on a
//! [`SteppedClock`]: tests jump ahead (an offer's deadline, a reservation's time) with
//! [`TestCity::advance`] instead of sleeping. [`TestCity::start_tls`] serves TLS with
//! throw-away certificates ([`tls`]) and its clients trust the test CA.
//!
//! Every client logs in for real: the city makes a supervisor account and two service
//! keys (a gateway and a phone switch) and logs them in through `AuthService.Login`;
//! [`TestCity::fleet`], [`TestCity::hotline`], [`TestCity::dispatch`] act as the
//! supervisor and [`TestCity::driver`] as the gateway; [`device_client`] provisions a
//! one-key device and logs it in. Unless a test sets its own `auth`
//! settings, tokens and sessions live 400 days and rate limits are wide, so tests that
//! step the clock by days or book hundreds of orders keep working; the identity tests
//! set their own.

pub mod http1;
pub mod invariants;
pub mod proxy;
pub mod receiver;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use taxi_domain::clock::{Clock, SteppedClock};
use taxi_proto::v1 as pb;
use taxi_proto::v1::{
    access_service_client::AccessServiceClient, auth_service_client::AuthServiceClient,
    call_centre_service_client::CallCentreServiceClient,
    dispatch_service_client::DispatchServiceClient, driver_service_client::DriverServiceClient,
    fleet_service_client::FleetServiceClient, hotline_service_client::HotlineServiceClient,
    notification_service_client::NotificationServiceClient,
    one_key_service_client::OneKeyServiceClient,
};
use taxi_redis_process::{RedisCluster, RedisProcess};
use taxi_server::ServerConfig;
use taxi_store::{Store, StoreConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// The city code every test city uses.
pub const CITY: &str = "500100";

/// The supervisor account every test city makes.
pub const SUPERVISOR: &str = "supervisor";
/// Its password.
pub const SUPERVISOR_PASSWORD: &str = "a long test password";

/// Puts a bearer token on every call of a client.
#[derive(Debug, Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        Ok(r)
    }
}

/// A channel whose calls carry a bearer token.
pub type Authed = InterceptedService<Channel, Bearer>;

/// `channel` with `token` on every call.
pub fn bearer(channel: Channel, token: &str) -> Authed {
    let value = format!("Bearer {token}").parse().expect("ascii token");
    InterceptedService::new(channel, Bearer(value))
}

/// The harness's auth settings (see the module doc): long-lived tokens, wide limits.
pub fn harness_auth() -> taxi_auth::AuthSettings {
    use taxi_auth::limits::Rate;
    let wide = Rate::per_minute(100_000, 6_000_000);
    let long = Duration::from_secs(400 * 24 * 3600);
    taxi_auth::AuthSettings {
        access_ttl: long,
        person_session: long,
        key_session: long,
        rates: taxi_auth::limits::Rates {
            booking: wide,
            service_booking: wide,
            press: wide,
            caller_upsert: wide,
            login: wide,
        },
        ..taxi_auth::AuthSettings::default()
    }
}

/// The tokens of the harness's own principals.
#[derive(Debug, Clone)]
pub struct Principals {
    /// The supervisor's access token.
    pub supervisor: String,
    /// The gateway's (any taxi's driver calls).
    pub gateway: String,
    /// The phone switch's.
    pub phone_switch: String,
}

/// Logs in with a key; the access token.
pub async fn login_key(channel: Channel, kind: pb::KeyKind, id: &str, secret: &str) -> String {
    let r = AuthServiceClient::new(channel)
        .login(pb::LoginRequest {
            credential: Some(pb::login_request::Credential::Key(pb::KeyCredential {
                kind: kind as i32,
                id: id.into(),
                secret: secret.into(),
            })),
        })
        .await
        .unwrap_or_else(|e| panic!("login {kind:?} {id}: {e}"))
        .into_inner();
    r.tokens.expect("tokens").access_token
}

/// Logs in with a password; the whole answer.
pub async fn login_password(
    channel: Channel,
    username: &str,
    password: &str,
) -> Result<pb::LoginResponse, tonic::Status> {
    AuthServiceClient::new(channel)
        .login(pb::LoginRequest {
            credential: Some(pb::login_request::Credential::Password(
                pb::PasswordCredential {
                    username: username.into(),
                    password: password.into(),
                },
            )),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Makes the harness's principals in `store`'s city and logs them in at `channel`.
pub async fn principals(store: &Store, channel: Channel) -> Principals {
    match taxi_access::create_account(
        store,
        &taxi_access::NewAccount {
            username: SUPERVISOR.into(),
            password: SUPERVISOR_PASSWORD.into(),
            role: taxi_auth::Role::Supervisor,
            display_name: "Test supervisor".into(),
        },
    )
    .await
    {
        Ok(()) => {}
        Err(e) if e.code() == tonic::Code::AlreadyExists => {}
        Err(e) => panic!("supervisor: {e}"),
    }
    let supervisor = login_password(channel.clone(), SUPERVISOR, SUPERVISOR_PASSWORD)
        .await
        .expect("supervisor logs in")
        .tokens
        .expect("tokens")
        .access_token;
    let gw = taxi_access::create_service_key(store, "gateway", taxi_auth::Role::Gateway)
        .await
        .expect("gateway key");
    let gateway = login_key(channel.clone(), pb::KeyKind::Service, "gateway", &gw).await;
    let sw = taxi_access::create_service_key(store, "switch", taxi_auth::Role::PhoneSwitch)
        .await
        .expect("switch key");
    let phone_switch = login_key(channel, pb::KeyKind::Service, "switch", &sw).await;
    Principals {
        supervisor,
        gateway,
        phone_switch,
    }
}

/// The private Redis of a test: one server, or a cluster when `TAXI_TEST_REDIS=cluster`.
#[derive(Debug)]
pub enum TestRedis {
    /// One `redis-server`.
    Single(RedisProcess),
    /// A 3-master Redis Cluster.
    Cluster(RedisCluster),
}

impl TestRedis {
    /// What `TAXI_TEST_REDIS` asks for: `cluster`, or (unset) one server.
    pub fn start() -> Self {
        if Self::cluster_tier() {
            TestRedis::Cluster(
                RedisCluster::start_temporary(3).expect("start a private Redis Cluster"),
            )
        } else {
            Self::single()
        }
    }

    /// One private server, whatever the tier (tests that stop and restart Redis).
    pub fn single() -> Self {
        TestRedis::Single(RedisProcess::start_temporary().expect(
            "start a private redis-server (is it installed? apt-get install -y redis-server)",
        ))
    }

    /// Whether this run is the cluster tier.
    pub fn cluster_tier() -> bool {
        std::env::var("TAXI_TEST_REDIS").is_ok_and(|v| v == "cluster")
    }

    /// The URL the services are given (comma-separated nodes for a cluster).
    pub fn url(&self) -> String {
        match self {
            TestRedis::Single(r) => r.url(),
            TestRedis::Cluster(c) => c.url(),
        }
    }

    /// The server's address (one server only).
    pub fn addr(&self) -> SocketAddr {
        match self {
            TestRedis::Single(r) => r.addr(),
            TestRedis::Cluster(_) => panic!("this test needs one server: use TestRedis::single"),
        }
    }

    fn process(&mut self) -> &mut RedisProcess {
        match self {
            TestRedis::Single(r) => r,
            TestRedis::Cluster(_) => panic!("this test needs one server: use TestRedis::single"),
        }
    }

    /// Stops the server (one server only).
    pub fn stop(&mut self) {
        self.process().stop();
    }

    /// Kills the server at once, as a crash would (one server only).
    pub fn kill(&mut self) {
        self.process().kill();
    }

    /// Starts it again on the same port and data (one server only).
    pub fn start_again(&mut self) -> Result<(), taxi_redis_process::LaunchError> {
        self.process().start_again()
    }

    /// Stops and starts it (one server only).
    pub fn restart(&mut self) -> Result<(), taxi_redis_process::LaunchError> {
        self.process().restart()
    }
}

/// A server process started in-process against the city's Redis.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Cancel to shut it down.
    pub shutdown: CancellationToken,
    /// Its task; resolves when it has stopped.
    pub task: JoinHandle<Result<(), taxi_server::ServeError>>,
}

/// How the harness's stores reach `redis_url`. One server keeps the production timeouts,
/// which the fault tests (all on one server, through a fault proxy) rely on. A cluster's
/// three AOF-always nodes, two clusters at once on a 2-core CI box, can stall a command past
/// the production second while fsyncs queue; the cluster tier tests what the cluster does,
/// not how fast a loaded CI disk is, so it waits longer before calling Redis unavailable.
pub fn store_config(redis_url: &str, city: String, clock: Arc<dyn Clock>) -> StoreConfig {
    let mut config = StoreConfig::new(redis_url, city).with_clock(clock);
    if redis_url.contains(',') {
        config.response_timeout = Duration::from_secs(5);
        config.connect_timeout = Duration::from_secs(2);
    }
    config
}

impl TestServer {
    /// Starts `config`'s roles on a fresh ephemeral port against `redis_url`, reading
    /// time from `clock`.
    pub async fn start(redis_url: &str, config: ServerConfig, clock: Arc<dyn Clock>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let city = config.settings.city.code.clone();
        let store = Store::connect(store_config(redis_url, city, clock)).expect("store");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(taxi_server::run(listener, store, config, shutdown.clone()));
        Self {
            addr,
            shutdown,
            task,
        }
    }

    /// Stops it and waits until it has.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
    }
}

/// A private Redis and one or more servers.
#[derive(Debug)]
pub struct TestCity {
    /// The private Redis.
    pub redis: TestRedis,
    /// The first server.
    pub server: TestServer,
    /// A store on the same Redis, for looking behind the API in assertions.
    pub store: Store,
    /// The city's clock: the system's, plus the steps the test took.
    pub clock: Arc<SteppedClock>,
    /// The harness's logged-in principals.
    pub principals: Principals,
    /// The settings the server runs with (for another process of the city, such as a
    /// terminal gateway, started beside it).
    pub settings: Arc<taxi_domain::settings::Settings>,
    channel: Channel,
}

impl TestCity {
    /// Every role with default settings.
    pub async fn start() -> Self {
        Self::start_with(ServerConfig::default()).await
    }

    /// Every role of `config`, on the tier's Redis.
    pub async fn start_with(config: ServerConfig) -> Self {
        Self::start_on(TestRedis::start(), config).await
    }

    /// Every role of `config` on `redis`.
    pub async fn start_on(redis: TestRedis, config: ServerConfig) -> Self {
        let url = redis.url();
        Self::start_via(redis, &url, config).await
    }

    /// Every role of `config` on `redis`, the server reaching it through `server_url`
    /// (a [`proxy::FaultProxy`]'s URL); the city's own store goes straight to Redis.
    pub async fn start_via(redis: TestRedis, server_url: &str, config: ServerConfig) -> Self {
        Self::start_inner(redis, server_url, config, None).await
    }

    /// Every role of `config`, on the tier's Redis, over TLS: the server presents a
    /// certificate for `localhost` signed by `ca` and, with `client_ca`, verifies the
    /// client certificates presented; the city's clients trust `ca` (and present none).
    pub async fn start_tls(
        mut config: ServerConfig,
        ca: &tls::TestCa,
        client_ca: Option<&tls::TestCa>,
    ) -> Self {
        config.tls = Some(ca.server_settings(client_ca));
        let redis = TestRedis::start();
        let url = redis.url();
        Self::start_inner(redis, &url, config, Some(ca.client_tls())).await
    }

    async fn start_inner(
        redis: TestRedis,
        server_url: &str,
        mut config: ServerConfig,
        client_tls: Option<tonic::transport::ClientTlsConfig>,
    ) -> Self {
        if config.auth == taxi_auth::AuthSettings::default() {
            config.auth = harness_auth();
        }
        let clock = Arc::new(SteppedClock::new());
        let city = config.settings.city.code.clone();
        let settings = Arc::new(config.settings.clone());
        let server = TestServer::start(server_url, config, clock.clone()).await;
        let channel = match client_tls {
            Some(t) => tls::connect(server.addr, t).await,
            None => connect(server.addr).await,
        };
        let store = Store::connect(store_config(&redis.url(), city, clock.clone())).expect("store");
        let principals = principals(&store, channel.clone()).await;
        Self {
            redis,
            server,
            store,
            clock,
            principals,
            settings,
            channel,
        }
    }

    /// Now, by the city's clock (ms).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Stops the city's clock: from now on only [`TestCity::advance`] moves it.
    pub fn pause(&self) {
        self.clock.pause();
    }

    /// Jumps the city's clock ahead.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// A position report at `at`, taken `age` ago by the city's clock.
    pub fn report(&self, taxi_id: &str, at: pb::LatLng, age: Duration) -> pb::PositionReport {
        report_at(taxi_id, at, self.now_ms() - age.as_millis() as i64)
    }

    /// A channel to the first server (no credential).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The channel with the supervisor's token.
    pub fn as_supervisor(&self) -> Authed {
        bearer(self.channel(), &self.principals.supervisor)
    }

    /// The channel with the gateway's token (acts for any taxi).
    pub fn as_gateway(&self) -> Authed {
        bearer(self.channel(), &self.principals.gateway)
    }

    /// The channel with the phone switch's token.
    pub fn as_phone_switch(&self) -> Authed {
        bearer(self.channel(), &self.principals.phone_switch)
    }

    /// The channel with `token`.
    pub fn as_token(&self, token: &str) -> Authed {
        bearer(self.channel(), token)
    }

    /// A FleetService client (supervisor).
    pub fn fleet(&self) -> FleetServiceClient<Authed> {
        FleetServiceClient::new(self.as_supervisor())
    }

    /// A DriverService client (gateway).
    pub fn driver(&self) -> DriverServiceClient<Authed> {
        DriverServiceClient::new(self.as_gateway())
    }

    /// A HotlineService client (supervisor).
    pub fn hotline(&self) -> HotlineServiceClient<Authed> {
        HotlineServiceClient::new(self.as_supervisor())
    }

    /// A OneKeyService client (supervisor: provisioning).
    pub fn onekey(&self) -> OneKeyServiceClient<Authed> {
        OneKeyServiceClient::new(self.as_supervisor())
    }

    /// A DispatchService client (supervisor).
    pub fn dispatch(&self) -> DispatchServiceClient<Authed> {
        DispatchServiceClient::new(self.as_supervisor())
    }

    /// A relative of `passenger` (named 儿子, phone `relative_phone`), granted by the
    /// supervisor, redeemed and logged in with the relative's key: the channel acting as
    /// that relative.
    pub async fn relative_of(&self, passenger: &str, relative_phone: &str) -> Authed {
        let grant = self
            .access()
            .grant_relative(pb::GrantRelativeRequest {
                passenger_phone: passenger.into(),
                relative_name: "儿子".into(),
                relative_phone: relative_phone.into(),
            })
            .await
            .expect("grant")
            .into_inner();
        let key = self
            .auth()
            .redeem_grant(pb::RedeemGrantRequest {
                grant_code: grant.grant_code,
            })
            .await
            .expect("redeem")
            .into_inner();
        let token = login_key(
            self.channel(),
            pb::KeyKind::Relative,
            &key.relative_id,
            &key.secret,
        )
        .await;
        self.as_token(&token)
    }

    /// An AccessService client (supervisor).
    pub fn access(&self) -> AccessServiceClient<Authed> {
        AccessServiceClient::new(self.as_supervisor())
    }

    /// A CallCentreService client (the phone switch).
    pub fn callcentre(&self) -> CallCentreServiceClient<Authed> {
        CallCentreServiceClient::new(self.as_phone_switch())
    }

    /// A NotificationService client (supervisor).
    pub fn notifications(&self) -> NotificationServiceClient<Authed> {
        NotificationServiceClient::new(self.as_supervisor())
    }

    /// Makes operator accounts `names` directly in the store (no password anyone can use:
    /// the call-queue tests need seats, not logins), as supervisors if `supervisor`.
    pub async fn seat_accounts(&self, names: &[String], supervisor: bool) {
        let role = if supervisor {
            taxi_auth::Role::Supervisor
        } else {
            taxi_auth::Role::Operator
        };
        for name in names {
            self.store
                .create_account(&taxi_store::access::AccountRecord {
                    username: name.clone(),
                    role: role.code().to_string(),
                    phc: "-".into(),
                    name: name.clone(),
                    disabled: false,
                    failures: 0,
                    locked_until_ms: 0,
                })
                .await
                .expect("seat account");
        }
    }

    /// An AuthService client (no credential: logging in).
    pub fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel())
    }
}

/// A channel to `addr`, waiting until the server accepts.
pub async fn connect(addr: SocketAddr) -> Channel {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match endpoint.connect().await {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => panic!("server at {addr} never accepted: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// A WGS-84 point.
pub fn wgs(lat: f64, lon: f64) -> pb::LatLng {
    pb::LatLng {
        latitude: lat,
        longitude: lon,
        datum: pb::Datum::Wgs84 as i32,
    }
}

/// Chongqing's Jiefangbei, the centre of the test city.
pub const CENTRE: (f64, f64) = (29.5630, 106.5770);

/// Degrees of latitude per metre (north-south distances are easy to place exactly).
pub const DEG_PER_M: f64 = 1.0 / 111_195.0;

/// A point `north_m` metres north of the centre.
pub fn north_of_centre(north_m: f64) -> pb::LatLng {
    wgs(CENTRE.0 + north_m * DEG_PER_M, CENTRE.1)
}

/// Registers a taxi with a plate and returns it.
pub async fn register_taxi(fleet: &mut FleetServiceClient<Authed>, plate: &str) -> pb::Taxi {
    register_taxi_with(fleet, plate, false, &[]).await
}

/// Registers a taxi with its wheelchair flag and fleet tags.
pub async fn register_taxi_with(
    fleet: &mut FleetServiceClient<Authed>,
    plate: &str,
    wheelchair: bool,
    tags: &[&str],
) -> pb::Taxi {
    fleet
        .register_taxi(pb::RegisterTaxiRequest {
            plate: plate.into(),
            driver_name: "王建国".into(),
            vehicle_color: "白色".into(),
            wheelchair_accessible: wheelchair,
            fleet_tags: tags.iter().map(|t| t.to_string()).collect(),
            driver_phone: String::new(),
        })
        .await
        .expect("register taxi")
        .into_inner()
        .taxi
        .expect("taxi")
}

/// A position report at `at`, taken `age` ago by the system clock (a test city's clock
/// only runs ahead of it, so this never lies about freshness in the fresh direction).
pub fn report(taxi_id: &str, at: pb::LatLng, age: Duration) -> pb::PositionReport {
    report_at(
        taxi_id,
        at,
        taxi_domain::clock::system_now_ms() - age.as_millis() as i64,
    )
}

/// A position report at `at`, taken at `ms` (epoch).
pub fn report_at(taxi_id: &str, at: pb::LatLng, ms: i64) -> pb::PositionReport {
    pb::PositionReport {
        taxi_id: taxi_id.into(),
        position: Some(at),
        heading_degrees: 0.0,
        speed_kmh: 20.0,
        fix_time: Some(taxi_proto::Timestamp {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        }),
    }
}

/// Streams `reports` as one message and returns the server's summary.
pub async fn send_positions(
    driver: &mut DriverServiceClient<Authed>,
    reports: Vec<pb::PositionReport>,
) -> pb::ReportPositionsResponse {
    let msg = pb::ReportPositionsRequest { positions: reports };
    driver
        .report_positions(tokio_stream::iter(vec![msg]))
        .await
        .expect("report positions")
        .into_inner()
}

/// Registers a taxi, signs it on and reports it at `at` now.
pub async fn taxi_at(city: &TestCity, plate: &str, at: pb::LatLng) -> pb::Taxi {
    let taxi = register_taxi(&mut city.fleet(), plate).await;
    city.driver()
        .sign_on(pb::SignOnRequest {
            taxi_id: taxi.taxi_id.clone(),
        })
        .await
        .expect("sign on");
    let r = send_positions(
        &mut city.driver(),
        vec![report(&taxi.taxi_id, at, Duration::ZERO)],
    )
    .await;
    assert_eq!(r.accepted, 1, "{r:?}");
    taxi
}

/// Asserts a status code and that the message mentions `needle` (a field name).
#[track_caller]
pub fn assert_status<T: std::fmt::Debug>(
    r: Result<T, tonic::Status>,
    code: tonic::Code,
    needle: &str,
) {
    match r {
        Ok(v) => panic!("expected {code:?} mentioning {needle:?}, got Ok({v:?})"),
        Err(s) => {
            assert_eq!(s.code(), code, "{}", s.message());
            assert!(
                s.message().contains(needle),
                "message {:?} should mention {needle:?}",
                s.message()
            );
        }
    }
}

/// A valid 18-character resident ID for someone born on `yyyymmdd` (check character computed).
pub fn resident_id(yyyymmdd: &str) -> String {
    let first17 = format!("500103{yyyymmdd}123");
    let c = taxi_domain::resident_id::check_char(first17.as_bytes()).expect("digits");
    format!("{first17}{c}")
}

/// A place at `at` with an address.
pub fn place(at: pb::LatLng, address: &str) -> pb::Place {
    pb::Place {
        location: Some(at),
        address: address.into(),
    }
}

/// Registers a caller with a home saved place near the centre; `birth` as `yyyymmdd`.
pub async fn caller_with_home(city: &TestCity, phone: &str, birth: Option<&str>) -> pb::Caller {
    city.hotline()
        .upsert_caller(pb::UpsertCallerRequest {
            caller: Some(pb::CallerProfile {
                phone: phone.into(),
                name: "张秀英".into(),
                resident_id: birth.map(resident_id).unwrap_or_default(),
                care_contacts: vec!["13900001111".into()],
                saved_places: vec![pb::SavedPlace {
                    name: "home".into(),
                    place: Some(place(north_of_centre(500.0), "渝中区解放碑民族路88号")),
                }],
                ..Default::default()
            }),
        })
        .await
        .expect("upsert caller")
        .into_inner()
        .caller
        .expect("caller")
}

/// An operator's booking from the caller's saved home, now.
pub fn booking_from_home(phone: &str) -> pb::CreateBookingRequest {
    pb::CreateBookingRequest {
        caller_phone: phone.into(),
        pickup_saved_place: "home".into(),
        channel: pb::Channel::Operator as i32,
        operator_id: SUPERVISOR.into(),
        ..Default::default()
    }
}

/// Provisions a device as the supervisor (`req`'s id may be empty: the server makes one)
/// and logs it in: its id, its secret (shown once) and a client acting as the device.
pub async fn provision_device(
    city: &TestCity,
    req: pb::RegisterDeviceRequest,
) -> (String, String, OneKeyServiceClient<Authed>) {
    let r = city
        .onekey()
        .register_device(req)
        .await
        .expect("register device")
        .into_inner();
    let id = r.device.expect("device").device_id;
    assert!(
        !r.device_secret.is_empty(),
        "a new device's secret is shown"
    );
    let client = device_login(city, &id, &r.device_secret).await;
    (id, r.device_secret, client)
}

/// A device provisioned for `owner_phone` with its home at `home`, logged in: its id,
/// its secret and a client acting as the device.
pub async fn device_client(
    city: &TestCity,
    owner_phone: &str,
    home: pb::Place,
) -> (String, String, OneKeyServiceClient<Authed>) {
    provision_device(
        city,
        pb::RegisterDeviceRequest {
            owner_phone: owner_phone.into(),
            owner_name: "陈爷爷".into(),
            home: Some(home),
            ..Default::default()
        },
    )
    .await
}

/// A OneKeyService client logged in as device `id` with `secret`.
pub async fn device_login(city: &TestCity, id: &str, secret: &str) -> OneKeyServiceClient<Authed> {
    let token = login_key(city.channel(), pb::KeyKind::Device, id, secret).await;
    OneKeyServiceClient::new(city.as_token(&token))
}

/// Orders waiting for a taxi: in the queue or, with no taxi in reach, waiting to retry.
pub async fn waiting(city: &TestCity) -> u64 {
    city.store.waiting_count().await.expect("waiting count")
}

/// How many orders were ever created in the city.
/// (The harness's own store may hold a connection Redis dropped in a restart: its first
/// command then fails and the connection replaces itself, so it is asked again.)
pub async fn order_count(city: &TestCity) -> u64 {
    for _ in 0..20 {
        match city.store.order_count().await {
            Ok(n) => return n,
            Err(taxi_store::StoreError::Unavailable(_)) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("order count: {e}"),
        }
    }
    panic!("order count: Redis did not answer the harness");
}

/// Settings for dispatch tests: short timeouts, fast sweeps, so scenarios take seconds.
pub fn fast_config() -> ServerConfig {
    let mut c = ServerConfig::default();
    let s = &mut c.settings;
    s.offer_timeout = Duration::from_secs(10);
    s.sweep_interval = Duration::from_millis(50);
    s.retry_interval = Duration::from_millis(300);
    s.max_dispatch_time = Duration::from_secs(60);
    c
}

/// A driver's open dispatch stream.
#[derive(Debug)]
pub struct DriverStream {
    /// The taxi.
    pub taxi_id: String,
    /// The `seq` of the last event received that had one (what a reconnect resumes after).
    pub last_seq: String,
    stream: tonic::Streaming<pb::StreamDispatchesResponse>,
}

impl DriverStream {
    /// Opens the stream of `taxi_id`.
    pub async fn open(city: &TestCity, taxi_id: &str) -> Self {
        Self::resume(city, taxi_id, "").await
    }

    /// Opens the stream of `taxi_id`, resuming after `seq` (empty: a fresh start).
    pub async fn resume(city: &TestCity, taxi_id: &str, seq: &str) -> Self {
        let stream = city
            .driver()
            .stream_dispatches(pb::StreamDispatchesRequest {
                taxi_id: taxi_id.into(),
                resume_after: seq.into(),
            })
            .await
            .expect("open dispatch stream")
            .into_inner();
        Self {
            taxi_id: taxi_id.into(),
            last_seq: seq.into(),
            stream,
        }
    }

    /// The next message within `wait`, if any.
    pub async fn next_message(&mut self, wait: Duration) -> Option<pb::StreamDispatchesResponse> {
        match tokio::time::timeout(wait, self.stream.message()).await {
            Ok(Ok(Some(m))) => {
                if !m.seq.is_empty() {
                    self.last_seq = m.seq.clone();
                }
                Some(m)
            }
            _ => None,
        }
    }

    /// The next event within `wait`, if any.
    pub async fn next(&mut self, wait: Duration) -> Option<pb::stream_dispatches_response::Event> {
        self.next_message(wait).await.and_then(|m| m.event)
    }

    /// Waits for an offer (skipping other events) and returns it.
    pub async fn offer(&mut self, wait: Duration) -> pb::Offer {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(pb::stream_dispatches_response::Event::Offer(o)) => return o,
                Some(_) => continue,
                None => panic!("taxi {} got no offer within {wait:?}", self.taxi_id),
            }
        }
    }

    /// Asserts no offer arrives within `wait`.
    pub async fn no_offer(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(pb::stream_dispatches_response::Event::Offer(o)) = self.next(left).await {
                panic!(
                    "taxi {} got an unexpected offer of {}",
                    self.taxi_id, o.order_id
                );
            }
        }
    }
}

/// A free taxi at `at` with its dispatch stream open.
pub async fn driver_at(city: &TestCity, plate: &str, at: pb::LatLng) -> DriverStream {
    let taxi = taxi_at(city, plate, at).await;
    DriverStream::open(city, &taxi.taxi_id).await
}

/// Accepts, arrives and starts an order for a taxi: it is on the trip (busy).
pub async fn start_trip(city: &TestCity, taxi_id: &str, order_id: &str) {
    let mut d = city.driver();
    d.accept_offer(pb::AcceptOfferRequest {
        taxi_id: taxi_id.into(),
        order_id: order_id.into(),
    })
    .await
    .expect("accept");
    d.arrive_at_pickup(pb::ArriveAtPickupRequest {
        taxi_id: taxi_id.into(),
        order_id: order_id.into(),
    })
    .await
    .expect("arrive");
    d.start_trip(pb::StartTripRequest {
        taxi_id: taxi_id.into(),
        order_id: order_id.into(),
    })
    .await
    .expect("start");
}

/// Accepts, arrives, starts and completes (cash) an order for a taxi.
pub async fn drive_trip(city: &TestCity, taxi_id: &str, order_id: &str) -> pb::Order {
    start_trip(city, taxi_id, order_id).await;
    city.driver()
        .complete_trip(pb::CompleteTripRequest {
            taxi_id: taxi_id.into(),
            order_id: order_id.into(),
            fare_cents: 2350,
            paid_by: 0,
        })
        .await
        .expect("complete")
        .into_inner()
        .order
        .expect("order")
}

/// Books an ordinary (operator) order at a point for a new caller.
pub async fn book_at(city: &TestCity, phone: &str, at: pb::LatLng) -> pb::Order {
    city.hotline()
        .create_booking(pb::CreateBookingRequest {
            caller_phone: phone.into(),
            passenger_name: "乘客".into(),
            pickup: Some(place(at, "测试上车点")),
            channel: pb::Channel::Operator as i32,
            operator_id: SUPERVISOR.into(),
            ..Default::default()
        })
        .await
        .expect("book")
        .into_inner()
        .order
        .expect("order")
}

/// Registers a caller flagged as an older person.
pub async fn elderly_caller(city: &TestCity, phone: &str) {
    city.hotline()
        .upsert_caller(pb::UpsertCallerRequest {
            caller: Some(pb::CallerProfile {
                phone: phone.into(),
                name: "老人".into(),
                elderly_flag: true,
                ..Default::default()
            }),
        })
        .await
        .expect("elderly caller");
}

/// Polls an order until `pred` holds, or panics after `wait`.
pub async fn wait_order(
    city: &TestCity,
    order_id: &str,
    wait: Duration,
    pred: impl Fn(&pb::Order) -> bool,
) -> pb::Order {
    let deadline = Instant::now() + wait;
    loop {
        let o = city
            .hotline()
            .get_order(pb::GetOrderRequest {
                order_id: order_id.into(),
            })
            .await
            .expect("get order")
            .into_inner()
            .order
            .expect("order");
        if pred(&o) {
            return o;
        }
        assert!(
            Instant::now() < deadline,
            "order {order_id} stuck at {:?}",
            o.status
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
