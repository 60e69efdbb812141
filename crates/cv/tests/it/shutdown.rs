//! Stopping the server the ways an orchestrator does: SIGTERM/SIGINT (graceful: in-flight
//! requests finish, exit 0, fast when idle) and SIGKILL (every acknowledged write survives and
//! the database file stays consistent).

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::http::{Client, RawConn};
use crate::support::{AppBuilder, TOKEN};

/// Polls until a new connection to `addr` is refused (the listener is closed) or `timeout` passes.
fn wait_until_refused(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return true,
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    false
}

/// Starts several POSTs, each with its headers and half its body sent, signals the server, then
/// sends the rest: every request must still get its 201 and the process must exit 0 with the
/// posts durable.
fn in_flight_requests_finish_after(signal: libc::c_int) {
    const REQUESTS: usize = 3;
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut app = AppBuilder::new().data_dir(&data_dir).spawn();

    let mut pending = Vec::new();
    for i in 0..REQUESTS {
        let slug = format!("in-flight-{signal}-{i}");
        let body = json!({"slug": slug, "title": format!("In flight {i}"), "body": "Sent in *two* halves.", "published": true})
            .to_string();
        let (first_half, second_half) = body.split_at(body.len() / 2);
        let mut conn = RawConn::connect(app.addr);
        let head = format!(
            "POST /api/posts HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            app.addr,
            body.len()
        );
        conn.write(head.as_bytes()).unwrap();
        // The server says 100 Continue only once a handler starts reading the body, so after it
        // the request is provably in flight (not merely queued in the kernel's backlog).
        let interim = conn.read_response().expect("interim response");
        assert_eq!(
            interim.status, 100,
            "expected 100 Continue, got {interim:?}"
        );
        conn.write(first_half.as_bytes()).unwrap();
        pending.push((conn, slug, second_half.to_owned()));
    }

    let signalled = Instant::now();
    app.signal(signal);
    let stopped_accepting = wait_until_refused(app.addr, Duration::from_secs(2));

    for (conn, slug, rest) in &mut pending {
        conn.write(rest.as_bytes())
            .unwrap_or_else(|e| panic!("{slug}: send the rest after the signal: {e}"));
        let response = conn.read_response().unwrap_or_else(|e| {
            panic!(
                "{slug}: no response after the signal ({e})\n{}",
                app.output()
            )
        });
        assert_eq!(response.status, 201, "{slug}: {}", response.text());
        assert_eq!(response.json()["slug"], json!(slug));
    }
    drop(pending);
    let status = app
        .wait_exit_and_drain(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("still running 5 s after the signal\n{}", app.output()));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status}\n{}",
        app.output()
    );
    assert!(
        stopped_accepting,
        "new connections were still accepted {:?} after the signal, while requests were in flight",
        signalled.elapsed()
    );
    drop(app);

    let app = AppBuilder::new().data_dir(&data_dir).spawn();
    for i in 0..REQUESTS {
        let slug = format!("in-flight-{signal}-{i}");
        let response = app.get_authed(&format!("/api/posts/{slug}"));
        assert_eq!(response.status, 200, "{slug} lost after the restart");
    }
}

#[test]
fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    in_flight_requests_finish_after(libc::SIGTERM);
}

#[test]
fn sigint_lets_in_flight_requests_finish_then_exits_0() {
    in_flight_requests_finish_after(libc::SIGINT);
}

/// Signals an idle server (with an idle keep-alive connection open, as a load balancer would
/// leave one) and measures from the signal to the exit.
fn idle_exit_after(signal: libc::c_int) {
    let mut app = AppBuilder::new().spawn();
    assert_eq!(app.get("/healthz").status, 200);
    let signalled = Instant::now();
    app.signal(signal);
    let status = app.wait_exit(Duration::from_secs(5));
    let took = signalled.elapsed();
    let status =
        status.unwrap_or_else(|| panic!("still running 5 s after the signal\n{}", app.output()));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status}\n{}",
        app.output()
    );
    assert!(took < Duration::from_secs(1), "idle shutdown took {took:?}");
    eprintln!("idle shutdown on signal {signal}: {took:?}");
}

#[test]
fn idle_sigterm_exits_0_within_a_second() {
    idle_exit_after(libc::SIGTERM);
}

#[test]
fn idle_sigint_exits_0_within_a_second() {
    idle_exit_after(libc::SIGINT);
}

#[test]
fn idle_sighup_exits_0_within_a_second() {
    idle_exit_after(libc::SIGHUP);
}

#[test]
fn graceful_exit_closes_the_database() {
    graceful_exit_after(libc::SIGTERM);
}

/// SIGHUP used to kill the process (exit 129) with the write-ahead log left behind.
#[test]
fn sighup_exit_closes_the_database() {
    graceful_exit_after(libc::SIGHUP);
}

fn graceful_exit_after(signal: libc::c_int) {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut app = AppBuilder::new().data_dir(&data_dir).spawn();
    app.create_post(&json!({"slug": "before-exit", "title": "Before exit", "body": "x"}));
    app.signal(signal);
    let status = app.wait_exit(Duration::from_secs(5)).expect("exited");
    assert_eq!(status.code(), Some(0));
    // SQLite removes the write-ahead log when the last connection closes cleanly; a leftover,
    // non-empty -wal file means the store was never closed.
    let wal = data_dir.join("cv.sqlite3-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(
        wal_len,
        0,
        "{} left with {wal_len} bytes: the store was not closed",
        wal.display()
    );
}

#[test]
fn kill_9_during_a_write_burst_keeps_every_acknowledged_post() {
    const WRITERS: usize = 4;
    const MAX_PER_WRITER: usize = 150;
    // Kill once this many writes are acknowledged, so writes are still running when it lands.
    const KILL_AFTER: usize = 60;
    const BURST_LIMIT: Duration = Duration::from_secs(3);

    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut app = AppBuilder::new().data_dir(&data_dir).spawn();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();

    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let acknowledged = Arc::clone(&acknowledged);
            let stop = Arc::clone(&stop);
            let client = Client::new(app.addr);
            std::thread::spawn(move || {
                let auth = format!("Bearer {TOKEN}");
                for i in 0..MAX_PER_WRITER {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let slug = format!("burst-{writer}-{i}");
                    let body = json!({"slug": slug, "title": format!("Burst {writer}/{i}"), "body": "Written under load.", "tags": ["burst"]})
                        .to_string();
                    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
                    match client.try_send("POST", "/api/posts", &headers, Some(body.as_bytes())) {
                        Ok(response) if response.status == 201 => acknowledged.lock().unwrap().push(slug),
                        Ok(response) => panic!("{slug}: unexpected {} {}", response.status, response.text()),
                        // The server was killed: this write was never acknowledged.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();

    while acknowledged.lock().unwrap().len() < KILL_AFTER && started.elapsed() < BURST_LIMIT {
        std::thread::sleep(Duration::from_millis(1));
    }
    app.signal(libc::SIGKILL);
    let status = app
        .wait_exit(Duration::from_secs(5))
        .expect("SIGKILL ends the process");
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("writer thread");
    }
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let acknowledged: BTreeSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    assert!(
        acknowledged.len() >= 10,
        "only {} writes acknowledged before the kill",
        acknowledged.len()
    );
    eprintln!("acknowledged before kill -9: {}", acknowledged.len());
    drop(app);

    // The file as the crash left it (WAL and all) must open and pass SQLite's own check.
    {
        let db = rusqlite::Connection::open(data_dir.join("cv.sqlite3"))
            .expect("open the database after kill -9");
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let mode: String = db
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    let app = AppBuilder::new().data_dir(&data_dir).spawn();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|slug| app.get_authed(&format!("/api/posts/{slug}")).status != 200)
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged posts lost after kill -9: {lost:?}",
        lost.len()
    );
}

/// A POST that sends one body byte and then nothing would keep the process alive forever after
/// SIGTERM; the grace period bounds the drain, the connection is cut and the exit is still clean.
#[test]
fn a_stalled_request_is_cut_after_the_grace_period() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut app = AppBuilder::new()
        .data_dir(&data_dir)
        .env("CV_SHUTDOWN_GRACE", "1")
        .spawn();
    app.create_post(&json!({"slug": "kept", "title": "Kept", "body": "x"}));
    let mut conn = RawConn::connect(app.addr);
    let head = format!(
        "POST /api/posts HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
        app.addr
    );
    conn.write(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let signalled = Instant::now();
    app.signal(libc::SIGTERM);
    let status = app
        .wait_exit_and_drain(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("still running 5 s after SIGTERM\n{}", app.output()));
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "{}", app.output());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "exited {took:?} after SIGTERM with a 1 s grace period"
    );
    let cut_line = app
        .stdout_lines()
        .into_iter()
        .find(|line| line.contains("grace period over"))
        .unwrap_or_else(|| panic!("no log line about cut connections\n{}", app.output()));
    let cut: serde_json::Value = serde_json::from_str(&cut_line).unwrap();
    assert_eq!(cut["connections"], 1, "{cut_line}");
    let wal = data_dir.join("cv.sqlite3-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "the store was not closed after the cut");
}

/// Slowloris: a request line and then silence. hyper's header-read timeout (10 s) closes the
/// connection; before it was set, the connection stayed open for good.
#[test]
fn a_request_head_that_never_ends_is_closed_after_the_header_timeout() {
    use std::io::{Read, Write};
    let app = AppBuilder::new().spawn();
    let mut stream = TcpStream::connect(app.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let result = stream.read_to_end(&mut answer);
    let took = started.elapsed();
    assert!(
        result.is_ok()
            || result
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the connection was not closed within 20 s: {result:?}"
    );
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "closed after {took:?}, expected about 10 s"
    );
    // The server still serves everyone else.
    assert_eq!(app.get("/healthz").status, 200);
}
