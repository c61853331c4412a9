"""Acceptance checks through a client nobody here wrote: Python grpcio stubs generated from proto/.

Usage: TAXI_REDIS_URL=redis://... python3 tests/python/acceptance.py HOST:PORT [--route SERVICE=HOST:PORT ...]
       [--tls-ca CA.pem] [--console HOST:PORT] [--terminal HOST:PORT]
       [foundation|orders|dispatch|callcentre|console|terminal|book|readback ...]
With `--tls-ca`, every channel is TLS and the server's certificate must chain to CA.pem and
name the host dialled (as in production); without it, plain TCP (loopback development).
HOST:PORT serves logging in (every role does) and anything not routed elsewhere; with the roles
in separate processes (deploy/docker-compose.yml), `--route taxi.v1.FleetService=HOST:PORT` sends
that service's calls, health and reflection to the process serving it (scripts/deploy-test.sh).
Needs the pinned packages of tests/python/requirements.txt. `scripts/outside.sh TAXI_BIN` (the
test suite's outside tier) does all of this: a venv, a private redis-server, `taxi serve`, every part.
Start the server first on a Redis you can reach, e.g.
    redis-server --port 6390 --save "" --appendonly no --daemonize yes
    export TAXI_REDIS_URL=redis://127.0.0.1:6390
    taxi serve --role all --listen 127.0.0.1:50051 &
Every call logs in for real: the script makes a supervisor and the terminal gateway's key
in that Redis with `taxi admin create-operator` / `taxi admin create-service-key` (the
binary is `$TAXI_BIN`, default `taxi` on the PATH; TAXI_CITY as the server's), logs them
in through AuthService.Login, and sends `authorization: Bearer <token>` on every call.
Each one-key device logs in with its own key.

`callcentre` plays the phone switch and the city's SMS/voice gateway: a scripted call
arrives, queues, is answered by the supervisor's seat, books a trip, a taxi accepts, and the
passenger's message must reach the script's own webhook receiver, signed (Standard
Webhooks). Start the server and run the script with the same three variables, e.g.
    export TAXI_NOTIFY_SENDER=webhook TAXI_NOTIFY_WEBHOOK_URL=http://127.0.0.1:8787/sms
    export TAXI_NOTIFY_WEBHOOK_SECRET=whsec_$(head -c 32 /dev/urandom | base64)
"""

import collections
import os
import secrets
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "..", "proto")


def generate():
    out = tempfile.mkdtemp(prefix="taxi-py-")
    files = [os.path.join("taxi", "v1", f) for f in os.listdir(os.path.join(PROTO, "taxi", "v1"))]
    subprocess.check_call(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO}", f"--python_out={out}", f"--grpc_python_out={out}"] + files
    )
    sys.path.insert(0, out)


generate()
import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc  # noqa: E402
from google.protobuf import descriptor_pb2  # noqa: E402
from taxi.v1 import common_pb2 as c  # noqa: E402
from taxi.v1 import fleet_pb2, fleet_pb2_grpc, driver_pb2, driver_pb2_grpc  # noqa: E402
from taxi.v1 import hotline_pb2, hotline_pb2_grpc, onekey_pb2, onekey_pb2_grpc  # noqa: E402
from taxi.v1 import auth_pb2, auth_pb2_grpc  # noqa: E402
from taxi.v1 import callcentre_pb2 as cc, callcentre_pb2_grpc  # noqa: E402


class _Details(collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials",
                                                   "wait_for_ready", "compression")), grpc.ClientCallDetails):
    pass


class Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
             grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Puts `authorization: Bearer <token>` on every call of a channel."""

    def __init__(self, token):
        self.token = token

    def _with(self, d):
        md = list(d.metadata or []) + [("authorization", "Bearer " + self.token)]
        return _Details(d.method, d.timeout, md, d.credentials, getattr(d, "wait_for_ready", None),
                        getattr(d, "compression", None))

    def intercept_unary_unary(self, cont, d, req):
        return cont(self._with(d), req)

    def intercept_unary_stream(self, cont, d, req):
        return cont(self._with(d), req)

    def intercept_stream_unary(self, cont, d, reqs):
        return cont(self._with(d), reqs)

    def intercept_stream_stream(self, cont, d, reqs):
        return cont(self._with(d), reqs)


class Router(grpc.Channel):
    """One channel to the client, many to the servers: each call goes to the address serving its
    service (`--route`), everything else to the default address."""

    def __init__(self, default, routes):
        self.default = default
        self.routes = routes

    def route(self, service):
        """The channel of `service` (e.g. "taxi.v1.FleetService"); the default one for ""."""
        return self.routes.get(service, self.default)

    def _for(self, method):
        return self.route(method.lstrip("/").split("/", 1)[0])

    def unary_unary(self, method, *args, **kwargs):
        return self._for(method).unary_unary(method, *args, **kwargs)

    def unary_stream(self, method, *args, **kwargs):
        return self._for(method).unary_stream(method, *args, **kwargs)

    def stream_unary(self, method, *args, **kwargs):
        return self._for(method).stream_unary(method, *args, **kwargs)

    def stream_stream(self, method, *args, **kwargs):
        return self._for(method).stream_stream(method, *args, **kwargs)

    def subscribe(self, callback, try_to_connect=False):
        self.default.subscribe(callback, try_to_connect)

    def unsubscribe(self, callback):
        self.default.unsubscribe(callback)

    def close(self):
        for ch in {id(c): c for c in [self.default, *self.routes.values()]}.values():
            ch.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def login(ch, password=None, key=None):
    """AuthService.Login with (username, password) or (KeyKind, id, secret); a channel carrying the token."""
    auth = auth_pb2_grpc.AuthServiceStub(ch)
    if password:
        req = auth_pb2.LoginRequest(password=auth_pb2.PasswordCredential(username=password[0], password=password[1]))
    else:
        req = auth_pb2.LoginRequest(key=auth_pb2.KeyCredential(kind=key[0], id=key[1], secret=key[2]))
    r = auth.Login(req)
    return grpc.intercept_channel(ch, Bearer(r.tokens.access_token))


def admin(*args, password=None):
    """Runs `taxi admin ARGS` on the city's Redis; its stdout."""
    env = dict(os.environ)
    if "TAXI_REDIS_URL" not in env:
        sys.exit("set TAXI_REDIS_URL to the server's Redis: the script makes its credentials there with `taxi admin`")
    if password is not None:
        env["TAXI_ADMIN_PASSWORD"] = password
    return subprocess.run([os.environ.get("TAXI_BIN", "taxi"), "admin", *args], env=env, check=True,
                          stdout=subprocess.PIPE, text=True).stdout


class City:
    """The script's principals, logged in: a supervisor (fleet and call centre) and the terminal gateway."""

    def __init__(self, ch, suffix):
        self.plain = ch
        self.username = "acc-sup-" + suffix
        password = secrets.token_hex(16)
        admin("create-operator", "--username", self.username, "--role", "supervisor", password=password)
        self.supervisor = login(ch, password=(self.username, password))
        gateway = "acc-gw-" + suffix
        secret = admin("create-service-key", "--name", gateway, "--role", "gateway").strip()
        self.gateway = login(ch, key=(auth_pb2.KEY_KIND_SERVICE, gateway, secret))
        print("ok   logged in a supervisor and the terminal gateway (AuthService.Login)")

    def device(self, resp, device_id, secret):
        """The device's own channel: it logs in with its key (the server's secret if it made one)."""
        made = getattr(resp, "device_secret", "") or secret
        dev = resp.device.device_id or device_id
        return dev, made, login(self.plain, key=(auth_pb2.KEY_KIND_DEVICE, dev, made))

SERVICES = ["FleetService", "DriverService", "HotlineService", "OneKeyService", "DispatchService"]
RPCS = {
    "FleetService": ["RegisterTaxi", "GetTaxi", "ListNearbyTaxis"],
    "DriverService": ["SignOn", "SignOff", "ReportPositions", "StreamDispatches", "AcceptOffer", "DeclineOffer",
                      "ArriveAtPickup", "StartTrip", "CompleteTrip", "StartStreetHail", "EndStreetHail"],
    "HotlineService": ["LookupCaller", "ClassifyCall", "UpsertCaller", "CreateBooking", "RepeatLastTrip", "GetOrder",
                       "ListOrders", "CancelOrder", "ListAlerts", "AcknowledgeAlert",
                       "ResolveAlert", "GetAlert"],
    "OneKeyService": ["RegisterDevice", "PressButton", "GetDeviceStatus", "CancelDeviceOrder"],
    "DispatchService": ["ListPendingOrders", "ListCallbacks", "ResolveCallback", "AssignOrder", "GetDispatchStats"],
}
CENTRE = (29.5630, 106.5770)
DEG_PER_M = 1 / 111195.0


def wgs(lat, lon):
    return c.LatLng(latitude=lat, longitude=lon, datum=c.DATUM_WGS84)


def north(m):
    return wgs(CENTRE[0] + m * DEG_PER_M, CENTRE[1])


def ts(seconds_ago=0.0):
    from google.protobuf.timestamp_pb2 import Timestamp
    t = Timestamp()
    t.FromMilliseconds(int((time.time() - seconds_ago) * 1000))
    return t


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        sys.exit(1)


def foundation(city, suffix):
    ch = city.plain
    # Health and reflection describe one process: ask the one serving each service.
    for s in [""] + ["taxi.v1." + s for s in SERVICES]:
        health = health_pb2_grpc.HealthStub(ch.route(s))
        r = health.Check(health_pb2.HealthCheckRequest(service=s))
        check(r.status == health_pb2.HealthCheckResponse.SERVING, f"health SERVING for {s!r}")

    for s in SERVICES:
        refl = reflection_pb2_grpc.ServerReflectionStub(ch.route("taxi.v1." + s))
        resp = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        names = {n.name for n in resp.list_services_response.service}
        check("taxi.v1." + s in names, f"reflection lists taxi.v1.{s}")
        req = reflection_pb2.ServerReflectionRequest(file_containing_symbol="taxi.v1." + s)
        fd_resp = next(refl.ServerReflectionInfo(iter([req])))
        methods = set()
        for raw in fd_resp.file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
            for svc in fd.service:
                if svc.name == s:
                    methods = {m.name for m in svc.method}
        check(set(RPCS[s]) <= methods, f"reflection shows {s}'s {len(RPCS[s])} RPCs")

    try:
        fleet_pb2_grpc.FleetServiceStub(ch).GetTaxi(fleet_pb2.GetTaxiRequest(taxi_id="T1"))
        check(False, "a call without a credential is refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.UNAUTHENTICATED, f"no credential: {e.code().name} ({e.details()})")
    fleet = fleet_pb2_grpc.FleetServiceStub(city.supervisor)
    driver = driver_pb2_grpc.DriverServiceStub(city.gateway)
    ids = []
    for plate in ["渝A1%s1" % suffix, "渝A1%s2" % suffix, "渝A1%s3" % suffix]:
        t = fleet.RegisterTaxi(fleet_pb2.RegisterTaxiRequest(plate=plate, driver_name="刘师傅", vehicle_color="黄色")).taxi
        driver.SignOn(driver_pb2.SignOnRequest(taxi_id=t.taxi_id))
        ids.append(t.taxi_id)
    check(True, "registered and signed on 3 taxis")
    near, far, stale = ids
    msgs = [driver_pb2.ReportPositionsRequest(positions=[
        driver_pb2.PositionReport(taxi_id=near, position=north(150), fix_time=ts()),
        driver_pb2.PositionReport(taxi_id=far, position=north(2150), fix_time=ts()),
        driver_pb2.PositionReport(taxi_id=stale, position=north(50), fix_time=ts(45)),
    ])]
    r = driver.ReportPositions(iter(msgs))
    check(r.accepted == 3, f"position stream accepted {r.accepted} of 3")
    found = fleet.ListNearbyTaxis(fleet_pb2.ListNearbyTaxisRequest(center=north(0), radius_meters=5000, limit=10)).taxis
    got = [t.taxi_id for t in found]
    check(got[:2] == [near, far], f"nearest first, the one 2 km further second: {[(t.taxi_id, t.distance_meters) for t in found]}")
    check(stale not in got, "the stale taxi never comes")
    try:
        fleet.ListNearbyTaxis(fleet_pb2.ListNearbyTaxisRequest(center=wgs(float("nan"), 1), radius_meters=10))
        check(False, "NaN centre refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "center.latitude" in e.details(),
              f"NaN centre refused: {e.code().name} {e.details()}")


def resident_id(birth):
    first17 = "500103" + birth + "123"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def orders(city, suffix):
    hotline = hotline_pb2_grpc.HotlineServiceStub(city.supervisor)
    onekey = onekey_pb2_grpc.OneKeyServiceStub(city.supervisor)
    phone = "1380000" + suffix
    home = c.Place(location=north(400), address="渝中区解放碑八一路1号")
    r = hotline.UpsertCaller(hotline_pb2.UpsertCallerRequest(caller=hotline_pb2.CallerProfile(
        phone=phone, name="赵大爷", resident_id=resident_id("19500601"),
        care_contacts=["13900001111"], saved_places=[hotline_pb2.SavedPlace(name="home", place=home)])))
    check(r.caller.elderly and r.caller.elderly_reason == c.ELDERLY_REASON_RESIDENT_ID_AGE,
          f"caller born 1950 is elderly by resident ID (age {r.caller.age})")
    check(resident_id("19500601") not in str(r), "the resident ID is never returned")
    o = hotline.CreateBooking(hotline_pb2.CreateBookingRequest(
        caller_phone=phone, pickup_saved_place="home", channel=c.CHANNEL_OPERATOR, operator_id=city.username,
        request_id="acc-" + suffix)).order
    check(o.elderly and o.elderly_reason == c.ELDERLY_REASON_RESIDENT_ID_AGE
          and o.status in (c.ORDER_STATUS_PENDING, c.ORDER_STATUS_OFFERED),
          f"booked from a saved place: order {o.order_id} flagged elderly (RESIDENT_ID_AGE), in dispatch "
          f"({c.OrderStatus.Name(o.status)})")
    hotline.CancelOrder(hotline_pb2.CancelOrderRequest(order_id=o.order_id, cancelled_by=c.CANCELLED_BY_OPERATOR,
                                                operator_id=city.username, reason="acceptance"))

    dev = "acc-dev-" + suffix
    secret = "acceptance-secret-" + suffix
    reg = onekey.RegisterDevice(onekey_pb2.RegisterDeviceRequest(device_id=dev, device_secret=secret, owner_phone=phone, home=home))
    dev, secret, own = city.device(reg, dev, secret)
    onekey = onekey_pb2_grpc.OneKeyServiceStub(own)
    a = onekey.PressButton(onekey_pb2.PressButtonRequest(device_id=dev, device_secret=secret, press=onekey_pb2.PRESS_TYPE_SHORT))
    b = onekey.PressButton(onekey_pb2.PressButtonRequest(device_id=dev, device_secret=secret, press=onekey_pb2.PRESS_TYPE_SHORT))
    check(a.created and not b.created and a.order.order_id == b.order.order_id,
          f"two presses, one order {a.order.order_id}; device says: {a.speech}")
    long = onekey.PressButton(onekey_pb2.PressButtonRequest(device_id=dev, device_secret=secret, press=onekey_pb2.PRESS_TYPE_LONG))
    alerts = hotline.ListAlerts(hotline_pb2.ListAlertsRequest()).alerts
    check(any(x.alert_id == long.alert.alert_id for x in alerts), f"the long press is in ListAlerts ({long.alert.alert_id})")
    try:
        login(city.plain, key=(auth_pb2.KEY_KIND_DEVICE, dev, "wrong-secret-000000"))
        check(False, "a wrong secret is refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.UNAUTHENTICATED, "a wrong device secret gets UNAUTHENTICATED")
    onekey.CancelDeviceOrder(onekey_pb2.CancelDeviceOrderRequest(device_id=dev, device_secret=secret))


def dispatch(city, suffix):
    import threading
    import queue
    fleet = fleet_pb2_grpc.FleetServiceStub(city.supervisor)
    driver = driver_pb2_grpc.DriverServiceStub(city.gateway)
    onekey = onekey_pb2_grpc.OneKeyServiceStub(city.supervisor)
    taxis = []
    for plate, metres in [("渝B%s1" % suffix, 600), ("渝B%s2" % suffix, 250)]:
        t = fleet.RegisterTaxi(fleet_pb2.RegisterTaxiRequest(plate=plate, driver_name="孙师傅", vehicle_color="绿色")).taxi
        driver.SignOn(driver_pb2.SignOnRequest(taxi_id=t.taxi_id))
        driver.ReportPositions(iter([driver_pb2.ReportPositionsRequest(positions=[
            driver_pb2.PositionReport(taxi_id=t.taxi_id, position=north(-3000 + metres), fix_time=ts())])]))
        taxis.append(t)
    far, near = taxis
    events = {t.taxi_id: queue.Queue() for t in taxis}
    streams = []
    for t in taxis:
        st = driver.StreamDispatches(driver_pb2.StreamDispatchesRequest(taxi_id=t.taxi_id))
        streams.append(st)

        def pump(st=st, q=events[t.taxi_id]):
            try:
                for m in st:
                    q.put(m)
            except grpc.RpcError:
                pass
        threading.Thread(target=pump, daemon=True).start()
    time.sleep(0.3)
    dev, secret = "acc-trip-" + suffix, "acceptance-trip-secret-" + suffix
    reg = onekey.RegisterDevice(onekey_pb2.RegisterDeviceRequest(
        device_id=dev, device_secret=secret, owner_phone="1370000" + suffix,
        home=c.Place(location=north(-3000), address="南岸区南坪步行街1号")))
    dev, secret, own = city.device(reg, dev, secret)
    onekey = onekey_pb2_grpc.OneKeyServiceStub(own)
    started = time.time()
    press = onekey.PressButton(onekey_pb2.PressButtonRequest(device_id=dev, device_secret=secret, press=onekey_pb2.PRESS_TYPE_SHORT))
    m = events[near.taxi_id].get(timeout=5)
    took = time.time() - started
    check(m.WhichOneof("event") == "offer" and m.offer.order_id == press.order.order_id and took < 1.0,
          f"the press reached the nearest driver's stream as an offer in {took * 1000:.0f} ms (elderly={m.offer.elderly})")
    check(events[far.taxi_id].empty(), "the farther driver got nothing")
    status = lambda: onekey.GetDeviceStatus(onekey_pb2.GetDeviceStatusRequest(device_id=dev, device_secret=secret))
    oid, tid = press.order.order_id, near.taxi_id
    print("     device:", status().speech)
    driver.AcceptOffer(driver_pb2.AcceptOfferRequest(taxi_id=tid, order_id=oid))
    s1 = status()
    check(s1.order.status == c.ORDER_STATUS_ACCEPTED and s1.order.taxi.plate == near.plate, "accepted; device: " + s1.speech)
    driver.ArriveAtPickup(driver_pb2.ArriveAtPickupRequest(taxi_id=tid, order_id=oid))
    check(status().order.status == c.ORDER_STATUS_ARRIVED, "arrived; device: " + status().speech)
    driver.StartTrip(driver_pb2.StartTripRequest(taxi_id=tid, order_id=oid))
    check(status().order.status == c.ORDER_STATUS_ON_TRIP, "on trip; device: " + status().speech)
    done = driver.CompleteTrip(driver_pb2.CompleteTripRequest(taxi_id=tid, order_id=oid, fare_cents=2600)).order
    check(done.status == c.ORDER_STATUS_COMPLETED and done.paid_by == c.PAYMENT_METHOD_CASH,
          "completed, paid in cash; device: " + status().speech)
    t = fleet.GetTaxi(fleet_pb2.GetTaxiRequest(taxi_id=tid)).taxi
    check(t.state == c.TAXI_STATE_FREE, "the taxi is free again")
    for st in streams:
        st.cancel()


class Gateway:
    """The city's SMS/voice gateway: a webhook receiver on TAXI_NOTIFY_WEBHOOK_URL that checks every
    Standard Webhooks signature (HMAC-SHA256 of "id.timestamp.body" under the whsec_ secret)."""

    def __init__(self, url, secret):
        import base64
        import hmac
        import hashlib
        import http.server
        import json
        import queue
        import threading
        from urllib.parse import urlparse
        key = base64.b64decode(secret.removeprefix("whsec_"))
        self.messages = queue.Queue()
        self.forged = 0
        gw = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                mid, ts = self.headers.get("webhook-id", ""), self.headers.get("webhook-timestamp", "")
                mac = base64.b64encode(hmac.new(key, f"{mid}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
                sigs = [x.split(",", 1)[1] for x in self.headers.get("webhook-signature", "").split() if x.startswith("v1,")]
                if not any(hmac.compare_digest(mac, x) for x in sigs) or abs(time.time() - int(ts or 0)) > 300:
                    gw.forged += 1
                    self.send_response(401)
                else:
                    gw.messages.put(json.loads(body)["data"])
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        u = urlparse(url)
        self.server = http.server.ThreadingHTTPServer((u.hostname, u.port or 80), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, pred, timeout=15):
        """The first message that satisfies pred, within timeout seconds (others are kept aside)."""
        import queue
        end = time.time() + timeout
        while time.time() < end:
            try:
                m = self.messages.get(timeout=max(0.05, end - time.time()))
            except queue.Empty:
                break
            if pred(m):
                return m
        return None


def callcentre(city, suffix):
    """A scripted call: arrive, queue, answer, book, taxi assigned, the passenger's message delivered."""
    url, secret = os.environ.get("TAXI_NOTIFY_WEBHOOK_URL"), os.environ.get("TAXI_NOTIFY_WEBHOOK_SECRET")
    if not url or not secret:
        sys.exit("callcentre: set TAXI_NOTIFY_WEBHOOK_URL (http://127.0.0.1:PORT/...) and TAXI_NOTIFY_WEBHOOK_SECRET as "
                 "for the server (started with TAXI_NOTIFY_SENDER=webhook): this script is the gateway")
    gateway = Gateway(url, secret)
    switch_name = "acc-sw-" + suffix
    key = admin("create-service-key", "--name", switch_name, "--role", "phone-switch").strip()
    switch = callcentre_pb2_grpc.CallCentreServiceStub(login(city.plain, key=(auth_pb2.KEY_KIND_SERVICE, switch_name, key)))
    desk = callcentre_pb2_grpc.CallCentreServiceStub(city.supervisor)
    hotline = hotline_pb2_grpc.HotlineServiceStub(city.supervisor)
    fleet = fleet_pb2_grpc.FleetServiceStub(city.supervisor)
    driver = driver_pb2_grpc.DriverServiceStub(city.gateway)
    seat = city.username
    desk.SetSeatState(cc.SetSeatStateRequest(seat_id=seat, state=cc.SEAT_STATE_LOGGED_IN))
    ready = desk.SetSeatState(cc.SetSeatStateRequest(seat_id=seat, state=cc.SEAT_STATE_READY))
    check(ready.seat.state in (cc.SEAT_STATE_READY, cc.SEAT_STATE_BUSY), f"seat {seat} logged in and ready")

    phone = "1360000" + suffix
    pickup = c.Place(location=north(9000), address="江北区观音桥步行街1号")
    hotline.UpsertCaller(hotline_pb2.UpsertCallerRequest(caller=hotline_pb2.CallerProfile(
        phone=phone, name="钱奶奶", resident_id=resident_id("19460315"),
        saved_places=[hotline_pb2.SavedPlace(name="home", place=pickup)], notify_channel=c.NOTIFY_CHANNEL_VOICE)))
    call_id = "acc-call-" + suffix
    arrived = switch.CallArrived(cc.CallArrivedRequest(call_id=call_id, calling_number=phone))
    check(arrived.call.elderly, f"call {call_id} arrived and the caller is known as older "
          f"({cc.CallState.Name(arrived.call.state)})")
    routed = [a for a in arrived.assignments if a.call_id == call_id]
    if not routed:
        routed = [a for a in switch.ListAssignments(cc.ListAssignmentsRequest()).assignments if a.call_id == call_id]
    check(routed and routed[0].seat_id == seat and routed[0].elderly, f"the call was routed to seat {seat}, flagged older")
    answered = switch.CallAnswered(cc.CallAnsweredRequest(call_id=call_id, seat_id=seat))
    check(answered.call.state == cc.CALL_STATE_ANSWERED,
          f"answered by the seat after {answered.call.speed_of_answer.ToMilliseconds()} ms")

    taxi = fleet.RegisterTaxi(fleet_pb2.RegisterTaxiRequest(plate="渝C%s9" % suffix, driver_name="周师傅",
                                                           vehicle_color="蓝色")).taxi
    driver.SignOn(driver_pb2.SignOnRequest(taxi_id=taxi.taxi_id))
    driver.ReportPositions(iter([driver_pb2.ReportPositionsRequest(positions=[
        driver_pb2.PositionReport(taxi_id=taxi.taxi_id, position=north(9200), fix_time=ts())])]))
    stream = driver.StreamDispatches(driver_pb2.StreamDispatchesRequest(taxi_id=taxi.taxi_id))
    order = hotline.CreateBooking(hotline_pb2.CreateBookingRequest(
        caller_phone=phone, pickup_saved_place="home", channel=c.CHANNEL_OPERATOR, operator_id=seat,
        request_id="acc-cc-" + suffix)).order
    check(order.elderly, f"booked during the call: order {order.order_id}, flagged older")
    offer = None
    for m in stream:
        if m.WhichOneof("event") == "offer" and m.offer.order_id == order.order_id:
            offer = m.offer
            break
    check(offer is not None, f"the offer reached taxi {taxi.plate}")
    driver.AcceptOffer(driver_pb2.AcceptOfferRequest(taxi_id=taxi.taxi_id, order_id=order.order_id))
    msg = gateway.wait(lambda m: m.get("order_id") == order.order_id and m.get("kind") == "assigned")
    check(msg is not None and msg["to"] == phone and msg["channel"] == "voice" and taxi.plate in msg["text"],
          "the passenger's message reached the gateway, signed: " + (msg or {}).get("text", "nothing"))
    check(gateway.forged == 0, "no request failed its signature")
    ended = switch.CallEnded(cc.CallEndedRequest(call_id=call_id, seat_id=seat))
    check(ended.call.state == cc.CALL_STATE_ENDED, "the call ended")
    driver.ArriveAtPickup(driver_pb2.ArriveAtPickupRequest(taxi_id=taxi.taxi_id, order_id=order.order_id))
    driver.StartTrip(driver_pb2.StartTripRequest(taxi_id=taxi.taxi_id, order_id=order.order_id))
    driver.CompleteTrip(driver_pb2.CompleteTripRequest(taxi_id=taxi.taxi_id, order_id=order.order_id, fare_cents=1800))
    done = gateway.wait(lambda m: m.get("order_id") == order.order_id and m.get("kind") == "completed")
    check(done is not None, "and the completed trip's message too: " + (done or {}).get("text", "nothing"))
    desk.SetSeatState(cc.SetSeatStateRequest(seat_id=seat, state=cc.SEAT_STATE_LOGGED_OUT))
    stream.cancel()
    gateway.server.shutdown()


# Where the operators' console and the terminal gateway are (`--console HOST:PORT`,
# `--terminal HOST:PORT`) and the CA the console's certificate chains to (`--tls-ca`).
OPTIONS = {}


def console(city, suffix):
    """An operator at the console over HTTPS: the page, log in, book through the JSON API (a bad
    phone named), and the order's cancellation, made through the gRPC hotline, in the live feed."""
    import http.client
    import json
    import ssl
    at = OPTIONS.get("console") or sys.exit("console: give --console HOST:PORT (the console's HTTPS)")
    host, _, port = at.rpartition(":")
    ctx = ssl.create_default_context(cafile=OPTIONS["tls_ca_path"]) if OPTIONS.get("tls_ca_path") else None
    cookies = {}

    def conn(timeout=10):
        if ctx:
            return http.client.HTTPSConnection(host, int(port), context=ctx, timeout=timeout)
        return http.client.HTTPConnection(host, int(port), timeout=timeout)

    def call(method, path, body=None):
        h = conn()
        headers = {"X-Console": "1", "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        h.request(method, path, body=data, headers=headers)
        r = h.getresponse()
        raw = r.read()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                cookies[name] = rest.split(";", 1)[0]
        h.close()
        return r.status, raw

    status, page = call("GET", "/console/")
    check(status == 200 and b"<html" in page.lower(), f"the console's page over {'HTTPS' if ctx else 'HTTP'}: {status}")
    username, password = "acc-op-" + suffix, secrets.token_hex(16)
    admin("create-operator", "--username", username, "--role", "operator", password=password)
    status, _ = call("POST", "/console/api/login", {"username": username, "password": "wrong-" + password})
    check(status == 401, f"a wrong password is refused at the console: {status}")
    status, raw = call("POST", "/console/api/login", {"username": username, "password": password})
    me = json.loads(raw or b"{}")
    check(status == 200 and me.get("role") == "operator" and "taxi_console_at" in cookies,
          f"an operator logs in to the console: {status} {me}")
    rpc = "/console/api/rpc/taxi.v1.HotlineService/"
    pickup = {"location": {"latitude": CENTRE[0] + 7000 * DEG_PER_M, "longitude": CENTRE[1], "datum": "DATUM_WGS84"},
              "address": "江北区观音桥步行街%s号" % suffix}
    status, raw = call("POST", rpc + "CreateBooking", {
        "caller_phone": "12", "pickup": pickup, "channel": "CHANNEL_OPERATOR", "operator_id": username,
        "request_id": "acc-console-bad-" + suffix})
    err = json.loads(raw or b"{}")
    check(status == 400 and err.get("field") == "caller_phone", f"a bad phone through the console names the field: {status} {err}")
    phone = "1361111" + suffix
    status, raw = call("POST", rpc + "CreateBooking", {
        "caller_phone": phone, "pickup": pickup, "channel": "CHANNEL_OPERATOR", "operator_id": username,
        "request_id": "acc-console-" + suffix})
    order = json.loads(raw or b"{}").get("order", {})
    check(status == 200 and order.get("order_id"), f"booked through the console: {status} {order.get('order_id')}")
    # The same order through the gRPC hotline (another container, when they are separate).
    hotline = hotline_pb2_grpc.HotlineServiceStub(city.supervisor)
    o = hotline.GetOrder(hotline_pb2.GetOrderRequest(order_id=order["order_id"])).order
    check(o.passenger_phone == phone and o.pickup.address == pickup["address"],
          "the hotline service reads the console's order back")
    # The live feed: open it, cancel through gRPC, the change arrives.
    feed = conn(timeout=15)
    feed.request("GET", "/console/api/events", headers={
        "Accept": "text/event-stream", "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
    stream = feed.getresponse()
    check(stream.status == 200, f"the live feed opens: {stream.status}")
    event, seen, hello = None, None, False
    end = time.time() + 15
    cancelled = False
    while time.time() < end and seen is None:
        line = stream.readline().decode().rstrip("\r\n")
        if line.startswith("event:"):
            event = line[6:].strip()
            if event == "hello" and not cancelled:
                hello = True
                hotline.CancelOrder(hotline_pb2.CancelOrderRequest(
                    order_id=o.order_id, cancelled_by=c.CANCELLED_BY_OPERATOR, operator_id=city.username,
                    reason="acceptance: console feed"))
                cancelled = True
        elif line.startswith("data:") and event == "change":
            data = json.loads(line[5:])
            if data.get("order") == o.order_id and "CANCEL" in str(data.get("to", "")).upper():
                seen = data
    feed.close()
    check(hello and seen is not None, f"the cancellation reached the console's live feed: {seen}")


class Terminal:
    """An in-car terminal speaking JT/T 808 (2013 headers) and the 905 taxi messages, from the
    standards' layouts: 0x7e framing, 0x7d escapes, the XOR check code, BCD phone and time, GBK."""

    def __init__(self, at, phone):
        import socket
        host, _, port = at.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=15)
        self.phone, self.serial, self.buf = phone, 0, b""

    def send(self, msg_id, body=b""):
        import struct
        self.serial += 1
        raw = struct.pack(">HH", msg_id, len(body)) + bytes.fromhex(self.phone.rjust(12, "0")) + \
            struct.pack(">H", self.serial) + body
        check_code = 0
        for b in raw:
            check_code ^= b
        raw += bytes([check_code])
        self.sock.sendall(b"\x7e" + raw.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02") + b"\x7e")
        return self.serial

    def recv(self, timeout=10):
        """The next message: (id, body)."""
        import struct
        end = time.time() + timeout
        while True:
            start = self.buf.find(b"\x7e")
            stop = self.buf.find(b"\x7e", start + 1) if start >= 0 else -1
            if stop > start + 1:
                raw = self.buf[start + 1:stop].replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")
                self.buf = self.buf[stop + 1:]
                check_code = 0
                for b in raw[:-1]:
                    check_code ^= b
                if check_code != raw[-1]:
                    check(False, f"the platform's frame {raw.hex()} has a good check code")
                msg_id, props = struct.unpack(">HH", raw[:4])
                head = (17 if props & 0x4000 else 12) + (4 if props & 0x2000 else 0)
                return msg_id, raw[head:-1]
            if stop == start + 1:
                self.buf = self.buf[stop:]
                continue
            left = end - time.time()
            if left <= 0:
                return None, b""
            self.sock.settimeout(left)
            try:
                more = self.sock.recv(4096)
            except TimeoutError:
                return None, b""
            if not more:
                return None, b""
            self.buf += more

    def wait(self, want, timeout=10):
        """The first message with ID `want` (others skipped); its body, or None."""
        end = time.time() + timeout
        while time.time() < end:
            msg_id, body = self.recv(end - time.time())
            if msg_id is None:
                return None
            if msg_id == want:
                return body
        return None

    def ask(self, msg_id, body=b""):
        """Sends; the platform's general reply (0x8001) to it: its result code."""
        import struct
        serial = self.send(msg_id, body)
        end = time.time() + 10
        while time.time() < end:
            body = self.wait(0x8001, end - time.time())
            if body is None:
                break
            got_serial, got_id, result = struct.unpack(">HHB", body[:5])
            if got_serial == serial and got_id == msg_id:
                return result
        return None


def terminal(city, suffix):
    """A taxi with an in-car terminal instead of the app: bound, registered, authenticated,
    reporting over JT/T 808; offered an order booked through the hotline (905), grabbing it,
    told when the operator cancels it."""
    import struct
    at = OPTIONS.get("terminal") or sys.exit("terminal: give --terminal HOST:PORT (the gateway's JT/T 808 port)")
    fleet = fleet_pb2_grpc.FleetServiceStub(city.supervisor)
    hotline = hotline_pb2_grpc.HotlineServiceStub(city.supervisor)
    plate = "渝T%s8" % suffix
    taxi = fleet.RegisterTaxi(fleet_pb2.RegisterTaxiRequest(plate=plate, driver_name="钱师傅", vehicle_color="黄色")).taxi
    phone = "1391%s808" % suffix
    admin("bind-terminal", "--taxi-id", taxi.taxi_id, "--phone", phone)
    # Far from every other acceptance taxi and order: this taxi alone is near its order.
    lat, lon = 29.40, 106.80 + (int(suffix) % 50) * 0.002
    t = Terminal(at, phone)
    # 0x0100: province, city, maker[5], model[20], terminal ID[7], plate colour, plate (GBK).
    t.send(0x0100, struct.pack(">HH", 50, 100) + b"ACCEP" + b"TX-1".ljust(20, b"\0") + b"T000001" +
           bytes([2]) + plate.encode("gbk"))
    reply = t.wait(0x8100)
    check(reply is not None and reply[2] == 0, f"the terminal registers as {plate} (0x8100 result "
          f"{reply[2] if reply else None})")
    code = reply[3:]
    check(t.ask(0x0102, code) == 0, "it authenticates with the code it was given (0x0102)")

    def bcd_now():
        return bytes.fromhex(time.strftime("%y%m%d%H%M%S", time.gmtime(time.time() + 8 * 3600)))
    location = struct.pack(">IIIIHHH", 0, 0b11, round(lat * 1e6), round(lon * 1e6), 260, 300, 90) + bcd_now()
    check(t.ask(0x0200, location) == 0, "its location report is taken (0x0200)")
    got = fleet.GetTaxi(fleet_pb2.GetTaxiRequest(taxi_id=taxi.taxi_id)).taxi
    check(got.state == c.TAXI_STATE_FREE and abs(got.position.latitude - lat) < 1e-5
          and abs(got.position.longitude - lon) < 1e-5,
          f"the fleet sees the terminal's taxi free where it reported ({got.position.latitude:.5f}, "
          f"{got.position.longitude:.5f})")
    address = "巴南区龙洲湾%s号" % suffix
    phone_p = "1362222" + suffix
    o = hotline.CreateBooking(hotline_pb2.CreateBookingRequest(
        caller_phone=phone_p, pickup=c.Place(location=wgs(lat + 200 * DEG_PER_M, lon), address=address),
        channel=c.CHANNEL_OPERATOR, operator_id=city.username, request_id="acc-terminal-" + suffix)).order
    started = time.time()
    offer = None
    while offer is None and time.time() - started < 15:
        body = t.wait(0x8B00, 15 - (time.time() - started))
        if body is None:
            break
        business, kind = struct.unpack(">IB", body[:5])
        olat, olon = [v / 1e6 for v in struct.unpack(">II", body[11:19])]
        n = body[19]
        text = body[20:20 + n].decode("gbk")
        if abs(olat - (lat + 200 * DEG_PER_M)) < 1e-5 and abs(olon - lon) < 1e-5:
            offer = (business, kind, text)
    check(offer is not None and offer[2] == address and offer[1] in (0, 2),
          f"the order booked at the hotline reached the terminal as a 905 offer (0x8B00, business type "
          f"{offer[1] if offer else None}, address in GBK) in {time.time() - started:.1f} s")
    business = offer[0]
    check(t.ask(0x0B01, struct.pack(">I", business)) == 0, "the driver grabs it (0x0B01)")
    details = t.wait(0x8B01)
    check(details is not None and struct.unpack(">I", details[:4])[0] == business,
          "the terminal gets the order's details (0x8B01)")
    n = details[19]
    masked = details[20:20 + n].decode("gbk")
    check("****" in masked and phone_p not in masked, f"the passenger's phone is masked on the terminal: {masked}")
    got = hotline.GetOrder(hotline_pb2.GetOrderRequest(order_id=o.order_id)).order
    check(got.status == c.ORDER_STATUS_ACCEPTED and got.taxi.plate == plate,
          f"the order is the terminal's taxi's: {c.OrderStatus.Name(got.status)}, {got.taxi.plate}")
    hotline.CancelOrder(hotline_pb2.CancelOrderRequest(order_id=o.order_id, cancelled_by=c.CANCELLED_BY_OPERATOR,
                                                operator_id=city.username, reason="acceptance: terminal"))
    gone = t.wait(0x8B09)
    check(gone is not None and struct.unpack(">I", gone[:4])[0] == business,
          f"the operator's cancellation reaches the terminal (0x8B09, reason {gone[4] if gone else None})")
    t.sock.close()


def orders_file():
    path = os.environ.get("TAXI_ACCEPTANCE_ORDERS")
    if not path:
        sys.exit("book/readback: set TAXI_ACCEPTANCE_ORDERS to a file that keeps the booked orders' ids")
    return path


def book(city, suffix):
    """Books 5 orders and appends their ids to $TAXI_ACCEPTANCE_ORDERS: each one acknowledged."""
    hotline = hotline_pb2_grpc.HotlineServiceStub(city.supervisor)
    with open(orders_file(), "a") as f:
        for i in range(5):
            phone = "1350%03d%s" % (i, suffix)
            o = hotline.CreateBooking(hotline_pb2.CreateBookingRequest(
                caller_phone=phone, pickup=c.Place(location=north(5000 + 100 * i), address="两江新区金开大道%d号" % i),
                channel=c.CHANNEL_OPERATOR, operator_id=city.username, request_id="acc-keep-%s-%d" % (suffix, i))).order
            f.write("%s %s\n" % (o.order_id, phone))
            f.flush()
    check(True, "booked 5 orders, each acknowledged, ids kept in " + orders_file())


def readback(city, suffix):
    """Every order ever written to $TAXI_ACCEPTANCE_ORDERS is still there, with its caller."""
    hotline = hotline_pb2_grpc.HotlineServiceStub(city.supervisor)
    with open(orders_file()) as f:
        kept = [line.split() for line in f if line.strip()]
    lost = []
    for order_id, phone in kept:
        try:
            o = hotline.GetOrder(hotline_pb2.GetOrderRequest(order_id=order_id)).order
            if o.passenger_phone != phone:
                lost.append(order_id)
        except grpc.RpcError as e:
            lost.append("%s (%s)" % (order_id, e.code().name))
    check(kept and not lost, "all %d acknowledged orders read back; lost: %s" % (len(kept), lost or "none"))


def main():
    args, routes, tls_ca = [], {}, None
    argv = iter(sys.argv[1:])
    for a in argv:
        if a == "--tls-ca":
            path = next(argv, "")
            if not path:
                sys.exit("--tls-ca needs the CA certificate's PEM file")
            with open(path, "rb") as f:
                tls_ca = grpc.ssl_channel_credentials(root_certificates=f.read())
            OPTIONS["tls_ca_path"] = path
        elif a in ("--console", "--terminal"):
            OPTIONS[a[2:]] = next(argv, "") or sys.exit(a + " needs HOST:PORT")
        elif a == "--route":
            service, _, at = next(argv, "").partition("=")
            if not service or not at:
                sys.exit("--route needs SERVICE=HOST:PORT, e.g. taxi.v1.FleetService=127.0.0.1:50051")
            routes[service] = at
        else:
            args.append(a)
    if not args:
        sys.exit(__doc__)
    addr, what = args[0], args[1:] or ["foundation"]
    def dial(at):
        return grpc.secure_channel(at, tls_ca) if tls_ca else grpc.insecure_channel(at)

    default = dial(addr)
    channels = {at: dial(at) for at in set(routes.values())}
    for c_ in [default, *channels.values()]:
        grpc.channel_ready_future(c_).result(timeout=20)
    ch = Router(default, {service: channels[at] for service, at in routes.items()})
    # Names and numbers carry a suffix; several runs on one Redis (the deploy tier's) take
    # the next one free.
    for attempt in range(20):
        suffix = "%04d" % ((int(time.time()) + attempt) % 10000)
        try:
            city = City(ch, suffix)
            break
        except subprocess.CalledProcessError as e:
            if e.returncode != 1 or attempt == 19:  # 1: the name is taken
                raise
    for w in what:
        globals()[w](city, suffix)
    print("all acceptance checks passed")


if __name__ == "__main__":
    main()
