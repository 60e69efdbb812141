//! `cargo xtask net-test` against loopback fakes: the pass and the fail path of every check.
//!
//! Every run passes loopback `--target`s and `--dns` servers and a loopback IPv6 probe, and
//! clears the proxy variables it does not set, so no test sends a packet outside 127.0.0.0/8 or
//! ::1. The fakes are real servers on real sockets: a DNS server (hickory-proto messages over
//! UDP), TCP listeners, an HTTPS server whose certificate a test CA (rcgen) signs, an HTTP
//! CONNECT proxy.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record};
use serde_json::Value;

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

/// Variables from the caller's environment that would change what a run checks.
const CLEARED: &[&str] = &[
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "CV_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CV_NET_TEST_TARGETS",
    "CV_NET_TEST_DNS",
    "CV_NET_TEST_SKIP",
    "CV_NET_TEST_TIMEOUT",
    "CV_NET_TEST_IPV6_PROBE",
    "CV_NET_TEST_RESOLV_CONF",
    "CARGO_NET_RETRY",
    "CARGO_NET_OFFLINE",
    "CARGO_HTTP_TIMEOUT",
    "CARGO_HTTP_PROXY",
    "CARGO_HTTP_CAINFO",
    "CARGO_NET_GIT_FETCH_WITH_CLI",
];

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether the Docker engine answers; without it a test prints why and passes, except under CI.
fn engine(test: &str) -> bool {
    let up = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        up || !in_ci(),
        "the Docker engine is not answering, and CI=true requires it (scripts/setup-machine.sh)"
    );
    if !up {
        eprintln!("skipped {test}: no Docker engine answers (run scripts/setup-machine.sh)");
    }
    up
}

/// A run of the real binary in `cwd`, with a clean network environment plus `env`.
fn run_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(XTASK);
    cmd.args(args).current_dir(cwd);
    for name in CLEARED {
        cmd.env_remove(name);
    }
    // Nothing but loopback, whatever the defaults are.
    cmd.env("CV_NET_TEST_IPV6_PROBE", "[::1]:53");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the xtask binary runs")
}

fn net_test(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["net-test"];
    all.extend_from_slice(args);
    // The caller's own ~/.cargo/config.toml must not decide a test's outcome.
    let mut env = env.to_vec();
    if !env.iter().any(|(k, _)| *k == "CARGO_HOME") {
        env.insert(0, ("CARGO_HOME", "/nonexistent/cv-net-test-cargo-home"));
    }
    run_in(Path::new(env!("CARGO_MANIFEST_DIR")), &all, &env)
}

/// The JSON report of a run with `--json`.
fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The rows of one check kind.
fn rows<'a>(report: &'a Value, check: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .expect("checks is an array")
        .iter()
        .filter(|r| r["check"] == check)
        .collect()
}

fn row<'a>(report: &'a Value, check: &str, subject: &str) -> &'a Value {
    rows(report, check)
        .into_iter()
        .find(|r| r["subject"] == subject)
        .unwrap_or_else(|| panic!("no {check} row for {subject} in {report:#}"))
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

/// A port on 127.0.0.1 nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// Fakes

#[derive(Clone, Copy)]
enum DnsMode {
    Answer,
    NxDomain,
    Silent,
}

/// A DNS server on 127.0.0.1: answers every A query with 127.0.0.1, or NXDOMAIN, or nothing.
struct FakeDns {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FakeDns {
    fn start(mode: DnsMode) -> FakeDns {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, s) = (queries.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                q.fetch_add(1, Ordering::SeqCst);
                let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
                answer.metadata.recursion_desired = true;
                answer.metadata.recursion_available = true;
                answer.add_queries(query.queries.clone());
                match mode {
                    DnsMode::Silent => continue,
                    DnsMode::NxDomain => answer.metadata.response_code = ResponseCode::NXDomain,
                    DnsMode::Answer => {
                        let name = query.queries[0].name().clone();
                        answer.add_answer(Record::from_rdata(
                            name,
                            60,
                            RData::A(A(Ipv4Addr::LOCALHOST)),
                        ));
                    }
                }
                let _ = socket.send_to(&answer.to_vec().unwrap(), from);
            }
        });
        FakeDns {
            addr,
            queries,
            stop,
        }
    }

    fn arg(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A test CA and a server certificate it signed, for `localhost` and 127.0.0.1.
struct TestPki {
    ca_pem: String,
    cert: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

fn test_pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "cv net-test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    TestPki {
        ca_pem: ca.pem(),
        cert: cert.der().clone(),
        key: rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    }
}

/// An HTTPS server on 127.0.0.1 answering every request with `status`; counts requests.
struct FakeHttps {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl FakeHttps {
    fn start(pki: &TestPki, status: u16) -> FakeHttps {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![pki.cert.clone()], pki.key.clone_key())
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let config = config.clone();
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut stream = stream;
                    let Ok(mut conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut tls = rustls::Stream::new(&mut conn, &mut stream);
                    let mut reader = BufReader::new(&mut tls);
                    let mut line = String::new();
                    // A client that rejects the certificate ends the handshake here.
                    if reader.read_line(&mut line).is_err() || !line.starts_with("GET ") {
                        return;
                    }
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {}
                    counter.fetch_add(1, Ordering::SeqCst);
                    let answer = format!(
                        "HTTP/1.1 {status} Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = tls.write_all(answer.as_bytes());
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        FakeHttps { port, requests }
    }
}

/// An HTTP CONNECT proxy on 127.0.0.1 that records each request head and pipes the tunnel.
struct FakeProxy {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl FakeProxy {
    fn start() -> FakeProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(client.try_clone().unwrap());
                    let mut head = String::new();
                    while reader.read_line(&mut head).is_ok_and(|n| n > 2) {}
                    seen.lock().unwrap().push(head.clone());
                    let Some(authority) = head
                        .strip_prefix("CONNECT ")
                        .and_then(|r| r.split_whitespace().next())
                    else {
                        return;
                    };
                    let mut client = client;
                    // Only loopback destinations: this proxy must never leave the machine.
                    let port: u16 = authority.rsplit(':').next().unwrap().parse().unwrap();
                    let Ok(upstream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                        return;
                    };
                    client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .unwrap();
                    let (mut up_read, mut up_write) = (upstream.try_clone().unwrap(), upstream);
                    let mut client_write = client.try_clone().unwrap();
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut reader, &mut up_write);
                    });
                    let _ = std::io::copy(&mut up_read, &mut client_write);
                });
            }
        });
        FakeProxy { port, heads }
    }
}

/// A temporary directory holding the test CA's PEM.
fn ca_file(pki: &TestPki) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test-ca.pem");
    std::fs::write(&path, &pki.ca_pem).unwrap();
    (dir, path)
}

/// The checks left out when a test looks at targets and DNS only.
const TARGETS_ONLY: &str = "proxy,ipv6,docker,cargo";

// ---------------------------------------------------------------------------------------------
// DNS

#[test]
fn dns_server_that_answers_passes_and_nxdomain_or_silence_is_a_warning() {
    let good = FakeDns::start(DnsMode::Answer);
    let nx = FakeDns::start(DnsMode::NxDomain);
    let silent = FakeDns::start(DnsMode::Silent);
    let port = closed_port().to_string();
    let target = format!("tcp://localhost:{port}");
    let listener = TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    let started = Instant::now();
    let out = net_test(
        &[
            "--json",
            "--timeout",
            "1",
            "--skip",
            TARGETS_ONLY,
            "--target",
            &target,
        ],
        &[(
            "CV_NET_TEST_DNS",
            &format!("{},{},{}", good.arg(), nx.arg(), silent.arg()),
        )],
    );
    drop(listener);
    let report = report(&out);
    assert_eq!(
        code(&out),
        0,
        "warnings alone do not stop a build: {report:#}"
    );
    let pass = row(&report, "dns-server", &good.arg());
    assert_eq!(pass["status"], "pass", "{pass:#}");
    assert_eq!(pass["detail"], "localhost 127.0.0.1");
    let nxrow = row(&report, "dns-server", &nx.arg());
    assert_eq!(nxrow["status"], "warn");
    assert!(
        nxrow["detail"].as_str().unwrap().contains("NXDOMAIN"),
        "{nxrow:#}"
    );
    let silentrow = row(&report, "dns-server", &silent.arg());
    assert_eq!(silentrow["status"], "warn");
    assert!(
        silentrow["detail"]
            .as_str()
            .unwrap()
            .contains("no answer within 1.0 s")
    );
    assert_eq!(report["warnings"].as_array().unwrap().len(), 2);
    for server in [&good, &nx, &silent] {
        assert_eq!(
            server.queries.load(Ordering::SeqCst),
            1,
            "one query per name"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "servers are queried in parallel"
    );
}

#[test]
fn all_dns_servers_failing_is_fatal_only_when_containers_depend_on_them() {
    let nx = FakeDns::start(DnsMode::NxDomain);
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("resolv-stub.conf");
    std::fs::write(&stub, "nameserver 127.0.0.53\noptions edns0\n").unwrap();
    let real = dir.path().join("resolv-real.conf");
    std::fs::write(&real, "nameserver 10.0.0.2\n").unwrap();
    let args = [
        "--json",
        "--skip",
        "targets,proxy,trust,ipv6,docker,cargo",
        "--target",
        "localhost:1",
    ];
    let dns = nx.arg();

    let out = net_test(
        &args,
        &[
            ("CV_NET_TEST_DNS", &dns),
            ("CV_NET_TEST_RESOLV_CONF", real.to_str().unwrap()),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stdout));
    assert_eq!(row(&report(&out), "dns-server", &dns)["status"], "warn");

    let out = net_test(
        &args,
        &[
            ("CV_NET_TEST_DNS", &dns),
            ("CV_NET_TEST_RESOLV_CONF", stub.to_str().unwrap()),
        ],
    );
    assert_eq!(code(&out), 1, "{}", text(&out.stdout));
    let failed = row(&report(&out), "dns-server", &dns).clone();
    assert_eq!(failed["status"], "fail");
    assert!(
        failed["hint"].as_str().unwrap().contains("loopback"),
        "{failed:#}"
    );
}

/// The failing half (a name the system resolver refuses) is a unit test in net_test.rs: the only
/// names glibc refuses without sending a query are malformed, and `--target` refuses those
/// before anything runs.
#[test]
fn system_resolver_pass_and_malformed_names_refused_up_front() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let dns = FakeDns::start(DnsMode::Answer);
    let out = net_test(
        &[
            "--json",
            "--skip",
            TARGETS_ONLY,
            "--dns",
            &dns.arg(),
            "--target",
            &format!("tcp://localhost:{port}"),
        ],
        &[],
    );
    let report = report(&out);
    assert_eq!(code(&out), 0, "{report:#}");
    assert_eq!(row(&report, "dns-system", "localhost")["status"], "pass");
    assert_eq!(
        row(&report, "dns-system", "localhost")["detail"],
        "127.0.0.1"
    );

    // A label over 63 bytes: no DNS name, so a usage error (exit 2), not a lookup's warning.
    let bad_host = format!("{}.example", "a".repeat(64));
    let out = net_test(&["--target", &format!("tcp://{bad_host}:443")], &[]);
    assert_eq!(code(&out), 2, "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing ran");
}

// ---------------------------------------------------------------------------------------------
// TCP and HTTPS

#[test]
fn tcp_listener_passes_and_closed_port_fails() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let open = format!("tcp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let closed = format!("tcp://127.0.0.1:{}", closed_port());
    let out = net_test(
        &[
            "--json",
            "--skip",
            "dns,proxy,ipv6,docker,cargo",
            "--target",
            &open,
        ],
        &[],
    );
    let good = report(&out);
    assert_eq!(code(&out), 0, "{good:#}");
    let tcp = row(&good, "tcp", &open);
    assert_eq!(tcp["status"], "pass");
    assert!(tcp["timings_ms"]["connect"].as_f64().unwrap() >= 0.0);
    assert!(
        rows(&good, "dns-system").is_empty(),
        "an IP literal needs no lookup"
    );

    let out = net_test(
        &[
            "--json",
            "--skip",
            "dns,proxy,ipv6,docker,cargo",
            "--target",
            &closed,
        ],
        &[],
    );
    let bad = report(&out);
    assert_eq!(code(&out), 1);
    let tcp = row(&bad, "tcp", &closed);
    assert_eq!(tcp["status"], "fail");
    assert!(
        tcp["detail"].as_str().unwrap().contains("refused"),
        "{tcp:#}"
    );
    assert_eq!(bad["can_build"], false);
    assert!(
        bad["fatal"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("tcp {closed}"))
    );
}

#[test]
fn https_with_the_test_ca_passes_and_an_untrusted_certificate_fails() {
    let pki = test_pki();
    let server = FakeHttps::start(&pki, 204);
    let (_dir, ca) = ca_file(&pki);
    let target = format!("localhost:{}", server.port);
    let args = [
        "--json",
        "--skip",
        "dns,proxy,ipv6,docker,cargo",
        "--target",
        target.as_str(),
    ];

    let out = net_test(&args, &[("CV_CA_BUNDLE", ca.to_str().unwrap())]);
    let good = report(&out);
    assert_eq!(code(&out), 0, "{good:#}\n{}", text(&out.stderr));
    let https = row(&good, "https", &target);
    assert_eq!(https["status"], "pass");
    assert!(
        https["detail"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 204 (TLS 1.3"),
        "{https:#}"
    );
    for phase in ["tls", "response"] {
        assert!(
            https["timings_ms"][phase].is_number(),
            "{phase} timed: {https:#}"
        );
    }
    let trust = row(&good, "trust", "CA certificates");
    assert!(
        trust["detail"]
            .as_str()
            .unwrap()
            .contains("1 from CV_CA_BUNDLE"),
        "{trust:#}"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);

    let out = net_test(&args, &[]);
    let bad = report(&out);
    assert_eq!(code(&out), 1);
    let https = row(&bad, "https", &target);
    assert_eq!(https["status"], "fail");
    assert!(
        https["detail"]
            .as_str()
            .unwrap()
            .contains("certificate not trusted"),
        "{https:#}"
    );
    assert!(https["hint"].as_str().unwrap().contains("CV_CA_BUNDLE"));
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        1,
        "no request after a failed handshake"
    );
}

#[test]
fn unreadable_ca_bundle_fails_the_trust_check() {
    let out = net_test(
        &["--json", "--skip", "dns,targets,proxy,ipv6,docker,cargo"],
        &[("CV_CA_BUNDLE", "/nonexistent/ca.pem")],
    );
    assert_eq!(code(&out), 1);
    let trust = row(&report(&out), "trust", "CA certificates").clone();
    assert_eq!(trust["status"], "fail");
    assert!(
        trust["detail"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/ca.pem")
    );
}

#[test]
fn server_errors_warn_and_optional_targets_only_warn() {
    let pki = test_pki();
    let server = FakeHttps::start(&pki, 503);
    let (_dir, ca) = ca_file(&pki);
    let target = format!("localhost:{}", server.port);
    let out = net_test(
        &[
            "--json",
            "--skip",
            "dns,proxy,ipv6,docker,cargo",
            "--target",
            &target,
        ],
        &[("CV_CA_BUNDLE", ca.to_str().unwrap())],
    );
    let report = report(&out);
    assert_eq!(code(&out), 0, "{report:#}");
    let https = row(&report, "https", &target);
    assert_eq!(https["status"], "warn");
    assert!(https["detail"].as_str().unwrap().starts_with("HTTP 503"));
}

#[test]
fn plain_http_targets_get_a_get_without_tls() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = [0u8; 1024];
        let n = stream.read(&mut head).unwrap();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&head[..n]).into_owned()
    });
    let target = format!("http://127.0.0.1:{port}/v2/");
    let out = net_test(
        &[
            "--json",
            "--skip",
            "dns,proxy,ipv6,docker,cargo",
            "--target",
            &target,
        ],
        &[],
    );
    let report = report(&out);
    assert_eq!(code(&out), 0, "{report:#}");
    assert_eq!(row(&report, "http", &target)["detail"], "HTTP 200");
    assert!(server.join().unwrap().starts_with("GET /v2/ HTTP/1.1\r\n"));
}

#[test]
fn https_against_a_plain_http_port_says_to_write_http() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut hello = [0u8; 1024];
        let _ = stream.read(&mut hello);
        // What a plain HTTP server answers to bytes it cannot parse.
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    let target = format!("127.0.0.1:{port}");
    let out = net_test(
        &[
            "--json",
            "--skip",
            "dns,proxy,ipv6,docker,cargo",
            "--target",
            &target,
        ],
        &[],
    );
    let report = report(&out);
    assert_eq!(code(&out), 1, "{report:#}");
    let https = row(&report, "https", &target);
    assert!(
        https["hint"]
            .as_str()
            .is_some_and(|h| h.contains("http://HOST:PORT/")),
        "{https:#}"
    );
    server.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Proxies

#[test]
fn without_proxy_variables_connections_go_direct() {
    let out = net_test(
        &["--json", "--skip", "dns,targets,trust,ipv6,docker,cargo"],
        &[],
    );
    assert_eq!(code(&out), 0);
    let proxy = row(&report(&out), "proxy", "environment").clone();
    assert_eq!(proxy["status"], "pass");
    assert!(
        proxy["detail"]
            .as_str()
            .unwrap()
            .contains("no proxy variables")
    );
}

#[test]
fn https_goes_through_a_set_proxy_with_credentials_masked() {
    let pki = test_pki();
    let server = FakeHttps::start(&pki, 200);
    let proxy = FakeProxy::start();
    let (_dir, ca) = ca_file(&pki);
    let target = format!("localhost:{}", server.port);
    let proxy_url = format!("http://alice:s3cret@127.0.0.1:{}", proxy.port);
    let out = net_test(
        &[
            "--json",
            "--skip",
            "dns,ipv6,docker,cargo",
            "--target",
            &target,
        ],
        &[
            ("HTTPS_PROXY", &proxy_url),
            ("CV_CA_BUNDLE", ca.to_str().unwrap()),
        ],
    );
    let stdout = text(&out.stdout);
    let report = report(&out);
    assert_eq!(code(&out), 0, "{report:#}");
    assert!(
        !stdout.contains("s3cret") && !text(&out.stderr).contains("s3cret"),
        "password leaked"
    );
    let masked = format!("http://***@127.0.0.1:{}", proxy.port);
    let proxy_row = row(&report, "proxy", "HTTPS_PROXY");
    assert_eq!(proxy_row["status"], "pass");
    assert!(
        proxy_row["detail"].as_str().unwrap().starts_with(&masked),
        "{proxy_row:#}"
    );
    let https = row(&report, "https", &target);
    assert_eq!(https["status"], "pass", "{https:#}");
    assert!(
        https["detail"]
            .as_str()
            .unwrap()
            .ends_with(&format!("via proxy {masked}"))
    );
    assert!(https["timings_ms"]["tunnel"].is_number());
    let heads = proxy.heads.lock().unwrap().clone();
    let tunnel = heads
        .iter()
        .find(|h| h.starts_with("CONNECT "))
        .expect("the proxy saw a CONNECT");
    assert!(tunnel.starts_with(&format!("CONNECT localhost:{} HTTP/1.1", server.port)));
    assert!(
        tunnel.contains("Proxy-Authorization: Basic YWxpY2U6czNjcmV0"),
        "{tunnel}"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn a_proxy_that_does_not_answer_is_fatal_and_no_proxy_bypasses_it() {
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let target = format!("tcp://localhost:{}", listener.local_addr().unwrap().port());
    let out = net_test(
        &[
            "--json",
            "--skip",
            "dns,ipv6,docker,cargo,trust",
            "--target",
            &target,
        ],
        &[("https_proxy", &dead), ("NO_PROXY", "localhost")],
    );
    let report = report(&out);
    assert_eq!(code(&out), 1, "{report:#}");
    let proxy = row(&report, "proxy", "https_proxy");
    assert_eq!(proxy["status"], "fail");
    assert!(proxy["hint"].as_str().unwrap().contains("every fetch"));
    assert_eq!(
        row(&report, "proxy", "NO_PROXY")["detail"],
        "bypassed for: localhost"
    );
    // tcp:// targets and NO_PROXY hosts go direct.
    assert_eq!(row(&report, "tcp", &target)["status"], "pass");
}

// ---------------------------------------------------------------------------------------------
// IPv6, Docker, cargo

#[test]
fn ipv6_route_present_passes_and_missing_warns() {
    let args = ["--json", "--skip", "dns,targets,proxy,trust,docker,cargo"];
    let out = net_test(&args, &[]);
    assert_eq!(code(&out), 0);
    let ok = row(&report(&out), "ipv6", "route to [::1]:53").clone();
    assert_eq!(
        (ok["status"].as_str(), ok["detail"].as_str()),
        (Some("pass"), Some("source address ::1"))
    );

    // A link-local address without a scope: the kernel has no route to offer (EINVAL).
    let out = net_test(&args, &[("CV_NET_TEST_IPV6_PROBE", "[fe80::1]:53")]);
    assert_eq!(code(&out), 0, "no IPv6 is a warning, not fatal");
    let warn = row(&report(&out), "ipv6", "route to [fe80::1]:53").clone();
    assert_eq!(warn["status"], "warn", "{warn:#}");
    assert!(warn["detail"].as_str().unwrap().starts_with("no route"));
}

#[test]
fn docker_daemon_present_reports_its_builder() {
    if !engine("docker_daemon_present_reports_its_builder") {
        return;
    }
    let out = net_test(
        &["--json", "--skip", "dns,targets,proxy,trust,ipv6,cargo"],
        &[],
    );
    let report = report(&out);
    assert_eq!(code(&out), 0, "{report:#}");
    let daemon = &rows(&report, "docker-daemon")[0];
    assert_eq!(daemon["status"], "pass");
    assert!(daemon["detail"].as_str().unwrap().starts_with("engine "));
    let builder = &rows(&report, "docker-builder")[0];
    assert_eq!(builder["status"], "pass");
    let what = builder["detail"].as_str().unwrap();
    assert!(
        what.starts_with("buildx") || what.starts_with("BuildKit"),
        "{what}"
    );
}

#[test]
fn docker_host_pointing_at_a_dead_socket_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let socket = format!("unix://{}/dead.sock", dir.path().display());
    let out = net_test(
        &["--json", "--skip", "dns,targets,proxy,trust,ipv6,cargo"],
        &[("DOCKER_HOST", &socket)],
    );
    let report = report(&out);
    assert_eq!(code(&out), 1, "{report:#}");
    let daemon = &rows(&report, "docker-daemon")[0];
    assert_eq!(daemon["status"], "fail");
    if which::which("docker").is_ok() {
        assert_eq!(daemon["subject"], socket);
        assert!(
            daemon["detail"].as_str().unwrap().contains("not answering"),
            "{daemon:#}"
        );
    }
    assert!(
        rows(&report, "docker-builder").is_empty(),
        "no builder without a daemon"
    );
}

/// A project directory with its own `.cargo/config.toml` and an empty CARGO_HOME.
fn cargo_project(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("project/.cargo")).unwrap();
    std::fs::create_dir_all(dir.path().join("cargo-home")).unwrap();
    std::fs::write(dir.path().join("project/.cargo/config.toml"), config).unwrap();
    dir
}

fn cargo_report(dir: &Path, env: &[(&str, &str)]) -> (i32, Value) {
    let home = dir.join("cargo-home");
    let mut all = vec![("CARGO_HOME", home.to_str().unwrap())];
    all.extend_from_slice(env);
    let out = run_in(
        &dir.join("project"),
        &[
            "net-test",
            "--json",
            "--skip",
            "dns,targets,proxy,trust,ipv6,docker",
        ],
        &all,
    );
    (code(&out), report(&out))
}

#[test]
fn cargo_settings_pass_warn_and_fail() {
    let dir = cargo_project("[net]\nretry = 4\n[http]\ntimeout = 45\ncainfo = \"ca.pem\"\n");
    std::fs::write(dir.path().join("project/ca.pem"), "").unwrap();
    let (code_ok, good) = cargo_report(dir.path(), &[]);
    assert_eq!(code_ok, 0, "{good:#}");
    let config = dir.path().join("project/.cargo/config.toml");
    let retry = row(&good, "cargo", "net.retry");
    assert_eq!(retry["detail"], format!("4 ({})", config.display()));
    assert_eq!(
        row(&good, "cargo", "http.timeout")["detail"],
        format!("45 ({})", config.display())
    );
    assert_eq!(row(&good, "cargo", "http.cainfo")["status"], "pass");
    assert_eq!(
        row(&good, "cargo", "net.offline")["detail"],
        "false (default)"
    );

    // The environment wins over the file, the way cargo reads it.
    let (code_warn, warned) = cargo_report(
        dir.path(),
        &[("CARGO_NET_OFFLINE", "true"), ("CARGO_NET_RETRY", "0")],
    );
    assert_eq!(code_warn, 0, "{warned:#}");
    assert_eq!(row(&warned, "cargo", "net.offline")["status"], "warn");
    let retry = row(&warned, "cargo", "net.retry");
    assert_eq!(
        (retry["status"].as_str(), retry["detail"].as_str()),
        (Some("warn"), Some("0 (env CARGO_NET_RETRY)"))
    );

    std::fs::remove_file(dir.path().join("project/ca.pem")).unwrap();
    let (code_bad, bad) = cargo_report(dir.path(), &[]);
    assert_eq!(code_bad, 1, "{bad:#}");
    let cainfo = row(&bad, "cargo", "http.cainfo");
    assert_eq!(cainfo["status"], "fail");
    assert!(
        cainfo["detail"]
            .as_str()
            .unwrap()
            .contains("project/ca.pem does not exist")
    );
}

#[test]
fn broken_cargo_config_is_fatal() {
    let dir = cargo_project("[net\nretry = 4\n");
    let (code, report) = cargo_report(dir.path(), &[]);
    assert_eq!(code, 1, "{report:#}");
    let config = dir.path().join("project/.cargo/config.toml");
    let broken = row(&report, "cargo", config.to_str().unwrap());
    assert!(
        broken["detail"]
            .as_str()
            .unwrap()
            .starts_with("cargo cannot parse it")
    );
}

#[test]
fn dry_run_lists_registries_from_cargo_config_and_sends_nothing() {
    let dir = cargo_project(
        "[source.crates-io]\nreplace-with = \"mirror\"\n[source.mirror]\nregistry = \"sparse+https://mirror.example:8443/index/\"\n\
         [registries.internal]\nindex = \"sparse+https://crates.corp.example/index/\"\n",
    );
    let home = dir.path().join("cargo-home");
    let out = run_in(
        &dir.path().join("project"),
        &["net-test", "--dry-run"],
        &[
            ("CARGO_HOME", home.to_str().unwrap()),
            ("HTTPS_PROXY", "http://u:p@127.0.0.1:9"),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    for line in [
        "  mirror.example:8443  (required; replaces crates.io: source.mirror, via proxy http://***@127.0.0.1:9)",
        "  crates.corp.example:443  (required; registry internal, via proxy http://***@127.0.0.1:9)",
        "  registry-1.docker.io:443  (required; Docker Hub: public base images, via proxy http://***@127.0.0.1:9)",
        "  github.com:443  (optional; git dependencies only, via proxy http://***@127.0.0.1:9)",
        "dns servers: 1.1.1.1, 8.8.8.8, 9.9.9.9",
    ] {
        assert!(plan.contains(line), "missing {line:?} in:\n{plan}");
    }
    assert!(
        !plan.contains("index.crates.io"),
        "crates.io is replaced:\n{plan}"
    );
    assert!(
        text(&out.stderr).is_empty(),
        "a dry run checks nothing: {}",
        text(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// The JSON shape, the table, exit codes

#[test]
fn json_shape_is_stable() {
    let dns = FakeDns::start(DnsMode::Answer);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let target = format!("tcp://localhost:{}", listener.local_addr().unwrap().port());
    let closed = format!("127.0.0.1:{}", closed_port());
    let out = net_test(
        &[
            "--json",
            "--skip",
            "docker",
            "--dns",
            &dns.arg(),
            "--target",
            &target,
            "--target",
            &closed,
        ],
        &[],
    );
    let report = report(&out);
    assert_eq!(code(&out), 1);
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&report),
        ["can_build", "checks", "fatal", "schema_version", "warnings"]
    );
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["can_build"], false);
    assert!(report["fatal"].is_array() && report["warnings"].is_array());
    let checks = report["checks"].as_array().unwrap();
    let kinds = [
        "dns-system",
        "dns-server",
        "tcp",
        "https",
        "http",
        "proxy",
        "trust",
        "ipv6",
        "docker-daemon",
        "docker-builder",
        "cargo",
    ];
    for check in checks {
        assert_eq!(
            keys(check),
            ["check", "detail", "hint", "status", "subject", "timings_ms"],
            "{check:#}"
        );
        assert!(
            kinds.contains(&check["check"].as_str().unwrap()),
            "{check:#}"
        );
        assert!(["pass", "warn", "fail", "skip"].contains(&check["status"].as_str().unwrap()));
        assert!(check["subject"].is_string() && check["detail"].is_string());
        assert!(check["hint"].is_null() || check["hint"].is_string());
        for (phase, ms) in check["timings_ms"].as_object().unwrap() {
            assert!(
                [
                    "resolve", "connect", "tunnel", "tls", "response", "query", "probe"
                ]
                .contains(&phase.as_str()),
                "{phase}"
            );
            assert!(ms.as_f64().unwrap() >= 0.0);
        }
    }
    let seen: Vec<&str> = checks
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    for kind in [
        "trust",
        "dns-server",
        "dns-system",
        "tcp",
        "https",
        "proxy",
        "ipv6",
        "cargo",
    ] {
        assert!(seen.contains(&kind), "{kind} missing from {seen:?}");
    }
    // Fatal lines name check and subject, so a script can tell what failed.
    assert_eq!(report["fatal"].as_array().unwrap().len(), 1);
    assert!(
        report["fatal"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("tcp {closed}: cannot connect"))
    );
}

#[test]
fn table_for_people_and_progress_on_stderr() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let target = format!("tcp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let out = net_test(
        &[
            "--skip",
            "dns,proxy,trust,ipv6,docker,cargo",
            "--target",
            &target,
        ],
        &[],
    );
    assert_eq!(code(&out), 0);
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("CHECK") && lines[0].ends_with("DETAIL"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("tcp") && lines[1].contains(" ok "),
        "{table}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &"verdict: a build can proceed (0 warnings)"
    );
    assert!(text(&out.stderr).contains(&format!("net-test: ok   tcp {target}")));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["--target", "ftp://x:1"],
        vec!["--target", "tcp://nohost"],
        vec!["--dns", "not-an-ip"],
        vec!["--timeout", "0"],
        vec!["--skip", "everything"],
    ] {
        let out = net_test(&args, &[]);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out.stderr));
    }
    let long = format!("tcp://{}.example:1", "a".repeat(250));
    for target in ["tcp://127.0.0.1:0", "127.0.0.1:0", long.as_str()] {
        let out = net_test(&["--target", target], &[]);
        assert_eq!(code(&out), 2, "{target}: {}", text(&out.stderr));
    }
    let out = net_test(&[], &[("CV_NET_TEST_TARGETS", "tcp://nohost")]);
    assert_eq!(code(&out), 2, "bad env values are usage errors too");
    assert!(text(&out.stderr).contains("has no port"));
}

#[test]
fn malformed_values_are_usage_errors_that_say_what_to_write() {
    let long_label = format!("{}.example:443", "a".repeat(64));
    for (args, says) in [
        (
            vec!["--ipv6-probe", "127.0.0.1:53"],
            "is an IPv4 address; the IPv6 check needs an IPv6 one",
        ),
        (vec!["--target", "a..b"], "has an empty label"),
        (
            vec!["--target", long_label.as_str()],
            "a label of 64 characters",
        ),
        (
            vec!["--target", "::1:80"],
            "without brackets: write [::1]:80",
        ),
        (
            vec!["--target", "tcp://127.0.0.1"],
            "tcp:// has no default port",
        ),
        (vec!["--dns", "127.0.0.1:0"], "has port 0"),
    ] {
        let out = net_test(&args, &[]);
        let stderr = text(&out.stderr);
        assert_eq!(code(&out), 2, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // A refusal never repeats a password, from a flag or from the environment.
    for target in [
        "https://bob:hunter2@127.0.0.1:1",
        "bob:hun/ter2@127.0.0.1:1",
    ] {
        let out = net_test(&["--target", target], &[]);
        let stderr = text(&out.stderr);
        assert_eq!(code(&out), 2, "{stderr}");
        assert!(
            !stderr.contains("hunter2") && !stderr.contains("ter2"),
            "{stderr}"
        );
        assert!(stderr.contains("***@127.0.0.1:1"), "{stderr}");
        let out = net_test(&[], &[("CV_NET_TEST_TARGETS", target)]);
        assert!(!text(&out.stderr).contains("ter2"), "{}", text(&out.stderr));
    }
}

#[test]
fn a_refused_connection_gets_the_hint_that_fits_it() {
    let port = closed_port();
    let target = format!("127.0.0.1:{port}");
    let args = [
        "--json",
        "--skip",
        "dns,ipv6,docker,cargo,trust",
        "--target",
        &target,
    ];

    // Loopback, direct: nothing listens there, and a proxy would not help.
    let out = net_test(&args, &[]);
    let hint = row(&report(&out), "tcp", &target)["hint"].clone();
    assert_eq!(
        hint,
        format!(
            "nothing is listening at {target} on this machine (a loopback address): start the \
             service, or check the port"
        )
    );

    // Through a dead proxy: the proxy is what failed, so not "set HTTPS_PROXY".
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let out = net_test(&args, &[("HTTPS_PROXY", &dead)]);
    let hint = row(&report(&out), "tcp", &target)["hint"].clone();
    let hint = hint.as_str().unwrap();
    assert!(
        hint.starts_with(&format!(
            "the proxy {dead} (from HTTPS_PROXY) does not accept"
        )),
        "{hint}"
    );
    assert!(!hint.contains("set HTTPS_PROXY"), "{hint}");
}

#[test]
fn a_dead_proxy_nothing_uses_is_a_warning() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let target = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let out = net_test(
        &[
            "--json",
            "--skip",
            "dns,targets,ipv6,docker,cargo,trust",
            "--target",
            &target,
        ],
        &[("https_proxy", &dead), ("no_proxy", "*")],
    );
    let report = report(&out);
    assert_eq!(code(&out), 0, "{report:#}");
    let proxy = row(&report, "proxy", "https_proxy");
    assert_eq!(proxy["status"], "warn", "{proxy:#}");
    assert!(
        proxy["detail"]
            .as_str()
            .unwrap()
            .ends_with("(unused: no_proxy=* sends every connection direct)"),
        "{proxy:#}"
    );
}

#[test]
fn dry_run_shows_skips_as_typed_and_short_timeouts_in_ms() {
    let out = net_test(
        &[
            "--dry-run",
            "--target",
            "127.0.0.1",
            "--skip",
            "docker,ipv6",
            "--timeout",
            "0.001",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    for line in [
        "  127.0.0.1:443  (required; given)",
        "timeout per step: 1 ms",
        "skipped: docker, ipv6",
    ] {
        assert!(plan.contains(line), "missing {line:?} in:\n{plan}");
    }
}

// ---------------------------------------------------------------------------------------------
// `cargo xtask docker --network-test`

#[test]
fn docker_network_test_stops_before_the_build_on_a_dead_target() {
    if !engine("docker_network_test_stops_before_the_build_on_a_dead_target") {
        return;
    }
    let silent = FakeDns::start(DnsMode::Silent);
    let dead = format!("127.0.0.1:{}", closed_port());
    let tag = format!("cv-test-preflight:{}", std::process::id());
    let started = Instant::now();
    let out = run_in(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[
            "docker",
            "--mode",
            "minimal",
            "--network-test",
            "--base-images",
            "standin",
            "--tag",
            &tag,
        ],
        &[
            ("CV_NET_TEST_TARGETS", &dead),
            ("CV_NET_TEST_DNS", &silent.arg()),
            ("CV_NET_TEST_TIMEOUT", "1"),
            ("DOCKER_BUILDKIT", "1"),
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 1, "{stderr}");
    assert!(
        stderr.contains("network test: a build cannot proceed"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("tcp {dead}: cannot connect")),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was built"), "{stderr}");
    assert!(
        !stderr.contains("load build definition"),
        "the build started:\n{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    let image = Command::new("docker")
        .args(["image", "inspect", &tag])
        .output()
        .unwrap();
    assert!(!image.status.success(), "no image was tagged");
}

#[test]
fn docker_dry_run_shows_the_network_test_and_refuses_bad_settings_before_anything_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let args = [
        "docker",
        "--mode",
        "minimal",
        "--network-test",
        "--scan",
        "--tag",
        "cv-test-dry:1",
        "--dry-run",
    ];
    let out = run_in(
        dir,
        &args,
        &[
            (
                "CV_NET_TEST_TARGETS",
                "tcp://127.0.0.1:9,tcp://127.0.0.1:10",
            ),
            ("CV_NET_TEST_DNS", "127.0.0.1:53"),
        ],
    );
    let plan = text(&out.stdout);
    if code(&out) != 0 && text(&out.stderr).contains("no Docker client") {
        assert!(!in_ci(), "{}", text(&out.stderr));
        eprintln!("skipped: no engine to plan against");
        return;
    }
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        plan.contains("before the build: cargo xtask net-test (2 targets, 1 DNS servers"),
        "{plan}"
    );
    assert!(
        plan.contains(
            "after tagging, before any push or run: cargo xtask scan --image cv-test-dry:1 (the \
             minimal policy)"
        ),
        "{plan}"
    );
    // A bad setting is refused by the dry run too, before the engine is asked.
    let out = run_in(dir, &args, &[("CV_NET_TEST_TARGETS", "tcp://nohost")]);
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 1, "{stderr}");
    assert!(
        stderr.contains("bad CV_NET_TEST_* setting") && stderr.contains("has no port"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing was planned: {}",
        text(&out.stdout)
    );
}

// ---------------------------------------------------------------------------------------------
// The environment a run inherits, and the pipe it writes into

#[test]
fn empty_settings_count_as_unset() {
    // As for `cv serve`: `CV_X=` is how a script switches a setting off.
    let out = net_test(
        &["--dry-run"],
        &[
            ("CV_NET_TEST_SKIP", ""),
            ("CV_NET_TEST_TARGETS", ""),
            ("CV_CA_BUNDLE", ""),
            ("CV_RETRY_ATTEMPTS", ""),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("index.crates.io"),
        "the default targets are back"
    );
}

#[test]
fn a_binary_value_in_an_unrelated_variable_is_no_panic() {
    use std::os::unix::ffi::OsStrExt;
    let mut cmd = Command::new(XTASK);
    cmd.args(["net-test", "--dry-run"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CV_TEST_BINARY", std::ffi::OsStr::from_bytes(b"\xff\xfe"));
    let out = cmd.output().unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"));
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = Command::new(XTASK)
        .args(["net-test", "--dry-run"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -0`: the reader is gone before the first line is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Killed by SIGPIPE, as `cat` would be (or done before it noticed).
    assert!(
        out.status.signal() == Some(13) || out.status.success(),
        "{:?}: {stderr}",
        out.status
    );
}
