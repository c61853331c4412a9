//! Smoke tests of `taxi demo` and `taxi bench`, so neither can rot: a few seconds, small
//! numbers, real processes.

use std::process::Command;

fn taxi() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_taxi"));
    c.env_remove("TAXI_REDIS_URL").env("TAXI_LOG", "warn");
    c
}

#[test]
fn the_demo_runs_a_city_to_its_summary_and_draws_it() {
    let out = tempfile::tempdir().unwrap();
    let run = taxi()
        .args([
            "demo",
            "--duration",
            "12",
            "--taxis",
            "120",
            "--rate",
            "5",
            "--speed",
            "150",
            "--seed",
            "7",
        ])
        .arg("--out")
        .arg(out.path())
        .env("TAXI_LOG", "info")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("summary after 12 s"), "{stdout}");
    // A quiet screen (issue 15): not one log line among the progress lines and the
    // summary; the log, at info, is in the file the summary names.
    let log = out.path().join("demo.log");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.lines().count() > 10, "{logged}");
    for level in [" INFO ", " WARN ", " ERROR ", " DEBUG "] {
        assert!(
            !stdout.lines().any(|l| l.contains(level)),
            "a log line on the screen: {stdout}"
        );
    }
    assert!(stdout.contains(&log.display().to_string()), "{stdout}");
    // The demo serves TLS with throw-away certificates and its simulator connects over it.
    assert!(stdout.contains("taxi demo over TLS"), "{stdout}");
    // The operators' console is announced with a login made for this run (issue 12).
    let console = stdout
        .lines()
        .find(|l| l.starts_with("operators' console: https://localhost:"))
        .unwrap_or_else(|| panic!("no console URL: {stdout}"));
    assert!(console.contains("/console/"), "{console}");
    let login = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("login: demo-op-"))
        .unwrap_or_else(|| panic!("no console login: {stdout}"));
    let password = login
        .split("password: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default();
    assert!(password.len() >= 16, "a real password is printed: {login}");
    // Every simulated client logged in through AuthService.Login.
    assert!(stdout.contains("logged in 4 operators"), "{stdout}");
    let refused = stdout
        .lines()
        .find(|l| l.contains("bookings refused"))
        .expect("refused row");
    assert_eq!(refused.split_whitespace().last(), Some("0"), "{stdout}");
    // The call queue ran: calls arrived from the switch and seats answered them; the
    // summary compares older callers with others from GetCallCentreStats.
    let row = |name: &str| -> Vec<u64> {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name:?} row: {stdout}"));
        line[line.find(name).unwrap() + name.len()..]
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect()
    };
    let calls = row("calls arrived / answered / abandoned");
    assert!(
        calls[0] > 3 && calls[1] > 0,
        "calls arrived and were answered: {calls:?}"
    );
    assert!(calls[1] + calls[2] <= calls[0], "{calls:?}");
    assert_eq!(row("call events refused (should be 0)"), [0], "{stdout}");
    for who in ["older callers", "others"] {
        for kpi in ["answer rate", "speed of answer", "abandon rate"] {
            row(&format!("{kpi}, {who}"));
        }
    }
    let answered: u64 = ["older callers", "others"]
        .iter()
        .map(|who| row(&format!("answer rate, {who}"))[2])
        .sum();
    assert!(
        answered > 0,
        "GetCallCentreStats counted the answers: {stdout}"
    );
    // Privacy numbers were bound to trips from the demo's pool, and drivers were sent them.
    let privacy = row("privacy numbers bound/live/unavailable");
    assert!(privacy[0] > 0, "numbers were bound: {privacy:?}");
    assert!(row("privacy numbers sent to drivers")[0] > 0, "{stdout}");
    // Twenty taxis drive with a JT/T 808 terminal: all log in at the gateway, and the 905
    // order broadcasts reach them (issue 17 item 4).
    let terminals = row("in-car terminals online / offers / won / lost / completed");
    assert_eq!(terminals[0], 20, "{stdout}");
    assert!(terminals[1] >= 1, "offers reached the terminals: {stdout}");
    // An older person's emergency alert came from a device early in the run (the console
    // shows it; the simulated desk takes it after 25 s, past this short run).
    assert!(
        row("emergency alerts raised / acknowledged / resolved")[0] >= 1,
        "{stdout}"
    );
    // Passengers were told (the notifications outbox, through the demo's log sender).
    assert!(
        row("messages to passengers (log sender)")[0] > 0,
        "messages were sent: {stdout}"
    );
    // The simulated city has stands at its hospitals and housing estates (issue 14), and
    // the summary reports their queues.
    assert_eq!(
        row("stand queues: stands / taxis queued")[0],
        11,
        "{stdout}"
    );
    row("stand queues: longest head wait");
    row("stand rides / stand-first offers");
    // And its older passengers' recurring trips: due, assigned by T−15, late (a 12 s run
    // may end before the first is due: then the row says so).
    let recurring = row("recurring trips due / by T−15 / late");
    assert!(
        recurring.is_empty() && stdout.contains("none due yet")
            || recurring.len() >= 3 && recurring[1] + recurring[2] <= recurring[0],
        "{stdout}"
    );
    let done = stdout
        .lines()
        .find(|l| l.starts_with("demo done:"))
        .expect("final line");
    let numbers: Vec<u64> = done
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(numbers[0] > 10, "orders were made: {done}");
    assert!(numbers[1] > 0, "trips were completed: {done}");
    for picture in ["city-map.svg", "time-to-assign.svg"] {
        let svg = std::fs::read_to_string(out.path().join(picture)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("</svg>"),
            "{picture}"
        );
    }
}

#[test]
fn the_bench_produces_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let run = taxi()
        .args(["bench", "--quick", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let figures = v["figures"].as_array().unwrap();
    for scenario in [
        "a. position ingest",
        "b. dispatch latency",
        "c. screen pop & phone switch",
        "d. offer fan-out",
        "e. auth+TLS on / off",
        "f. batched matching",
        "g. terminal gateway",
    ] {
        let of: Vec<_> = figures
            .iter()
            .filter(|f| f["scenario"] == scenario)
            .collect();
        assert!(!of.is_empty(), "{scenario} produced no figures");
    }
    let value = |name: &str| {
        figures
            .iter()
            .find(|f| f["figure"].as_str().unwrap_or("").starts_with(name))
            .and_then(|f| f["value"].as_f64())
            .unwrap()
    };
    assert!(value("ReportPositions updates/s") > 0.0);
    assert!(value("order → offer p99") > 0.0);
    assert!(value("LookupCaller p99") > 0.0);
    assert!(value("offer delivery p99") > 0.0);
    // Issue 15: the batched solve of 500 orders x 2,000 taxis pairs orders and is timed.
    assert!(value("pairs") > 0.0);
    assert!(value("solve median") > 0.0);
    // Issue 11's acceptance figure: both throughputs with auth+TLS on and off, and the ratio.
    for name in [
        "ReportPositions updates/s, auth+TLS on",
        "ReportPositions updates/s, auth+TLS off",
        "ReportPositions updates/s, on / off",
        "dispatch orders offered/s (burst), auth+TLS on",
        "dispatch orders offered/s (burst), auth+TLS off",
        "dispatch orders offered/s (burst), on / off",
    ] {
        assert!(value(name) > 0.0, "{name}");
    }
    // Issue 16: ingest against Redis's own limit (redis-benchmark), the redis-rs
    // baseline as a second line, the ratio, memory per taxi and CPU per 1,000 updates.
    assert!(value("redis-benchmark -P 64 GEOADD updates/s") > 0.0);
    assert!(value("raw pipelined GEOADD updates/s") > 0.0);
    assert!(value("ingest / redis-benchmark GEOADD") > 0.0);
    assert!(value("Redis memory per taxi") > 0.0);
    for name in [
        "server CPU per 1,000 position updates",
        "Redis CPU per 1,000 position updates",
    ] {
        assert!(value(name) >= 0.0, "{name}");
    }
    // Issue 17: JT/T 808 frames through the terminal gateway against ReportPositions in
    // the same run, and the memory of idle authenticated terminals.
    for name in [
        "location frames/s through the gateway",
        "ReportPositions updates/s, same run",
        "terminal frames / ReportPositions updates",
        "server memory per idle terminal",
    ] {
        assert!(value(name) > 0.0, "{name}");
    }
    let ratio = figures
        .iter()
        .find(|f| f["figure"] == "ingest / redis-benchmark GEOADD")
        .unwrap();
    assert_eq!(ratio["target"], ">= 0.4");
    // A quick run is not judged.
    assert!(ratio["met"].is_null(), "{ratio}");
}

/// Issue 16: `--runs 2` repeats the scenarios and shows each figure's median and worst;
/// the JSON carries every run's value.
#[test]
fn the_bench_repeats_its_runs_and_shows_the_median_and_the_worst() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let run = taxi()
        .args([
            "bench",
            "--quick",
            "--runs",
            "2",
            "--scenario",
            "ingest,batch-solve",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("running ingest (run 2 of 2)"), "{stdout}");
    assert!(stdout.contains("median of 2"), "{stdout}");
    let line = |start: &str| {
        stdout
            .lines()
            .find(|l| l.contains(start))
            .unwrap_or_else(|| panic!("no line {start}: {stdout}"))
            .to_string()
    };
    // A figure with a target shows its worst; one without, its range.
    assert!(
        line("ingest / redis-benchmark GEOADD").contains("worst "),
        "{stdout}"
    );
    assert!(line("solve median").contains("worst "), "{stdout}");
    assert!(line("pairs").contains(".."), "{stdout}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["runs"], 2);
    let figures = v["figures"].as_array().unwrap();
    assert!(
        !figures
            .iter()
            .any(|f| f["scenario"] == "b. dispatch latency")
    );
    let ratio = figures
        .iter()
        .find(|f| f["figure"] == "ingest / redis-benchmark GEOADD")
        .unwrap();
    let values: Vec<f64> = ratio["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), 2, "{ratio}");
    let least = values.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(ratio["worst"].as_f64(), Some(least), "{ratio}");
    assert_eq!(
        ratio["median"].as_f64(),
        Some((values[0] + values[1]) / 2.0),
        "{ratio}"
    );
}
