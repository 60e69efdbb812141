//! A loopback HTTP server that misbehaves on purpose: the first N requests it sees are dropped,
//! reset, delayed or answered with an error status; after that it serves normally — files from
//! memory (a cargo sparse registry, a download) or everything through to a backend (a proxy in
//! front of an image registry). It counts and logs every request, so tests can say exactly how
//! many attempts a client made.
//!
//! Plain std threads, one per connection, and each connection carries exactly one request (the
//! server answers `Connection: close`), so "a request" and "a connection" are the same thing and
//! counts do not depend on a client's connection reuse. Used by xtask's unit tests (`#[path]`),
//! by tests/faults.rs and by the Docker e2e tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// What the server does to a request it faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Reads the request, then closes the connection without a word (the client sees EOF).
    Drop,
    /// Reads the request, then resets the connection (SO_LINGER 0: the client sees a TCP RST).
    Reset,
    /// Waits this long before serving the request normally (long enough, and clients time out).
    Delay(Duration),
    /// Answers with this status and an empty body.
    Status(u16),
}

/// Where requests that are not faulted go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Files put with [`Faulty::put`], by request path; anything else is a 404.
    Files,
    /// A real server the request is passed through to.
    Proxy(SocketAddr),
}

/// One server. Stops when dropped.
pub struct Faulty {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    backend: Backend,
    /// The fault, and how many matching requests get it.
    fault: Mutex<(Fault, usize)>,
    /// Only requests whose path contains this are faulted (and counted as matching).
    only: Option<String>,
    faulted: AtomicUsize,
    stop: AtomicBool,
    files: Mutex<BTreeMap<String, Vec<u8>>>,
    /// `METHOD PATH -> what happened`, in arrival order.
    log: Mutex<Vec<String>>,
}

impl Faulty {
    /// Starts a server on 127.0.0.1 (a free port) that applies `fault` to the first `first`
    /// requests.
    pub fn start(backend: Backend, fault: Fault, first: usize) -> io::Result<Faulty> {
        Faulty::start_only(backend, fault, first, None)
    }

    /// Like [`Faulty::start`], but only requests whose path contains `only` are faulted.
    pub fn start_only(
        backend: Backend,
        fault: Fault,
        first: usize,
        only: Option<&str>,
    ) -> io::Result<Faulty> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            backend,
            fault: Mutex::new((fault, first)),
            only: only.map(str::to_owned),
            faulted: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            files: Mutex::new(BTreeMap::new()),
            log: Mutex::new(Vec::new()),
        });
        let accepting = Arc::clone(&shared);
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accepting);
                thread::spawn(move || {
                    let _ = handle(&shared, stream);
                });
            }
        });
        Ok(Faulty {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `body` at `path` (e.g. `/index/config.json`).
    pub fn put(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.shared
            .files
            .lock()
            .unwrap()
            .insert(path.to_owned(), body.into());
    }

    /// Every request seen, as `METHOD PATH -> outcome`.
    pub fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// How many HTTP requests arrived (TLS attempts and empty connections are not requests).
    pub fn requests(&self) -> usize {
        self.log().len()
    }

    /// How many requests had a path containing `part`.
    pub fn requests_to(&self, part: &str) -> usize {
        self.log()
            .iter()
            .filter(|l| l.split(' ').nth(1).is_some_and(|p| p.contains(part)))
            .count()
    }

    /// How many requests got the fault.
    pub fn faulted(&self) -> usize {
        let first = self.shared.fault.lock().unwrap().1;
        self.shared.faulted.load(Ordering::SeqCst).min(first)
    }

    /// From now on, the next `first` matching requests get `fault`; the log starts afresh.
    /// (For setting things up through a server that must then misbehave, e.g. a lockfile
    /// that names its port.)
    pub fn arm(&self, fault: Fault, first: usize) {
        let mut log = self.shared.log.lock().unwrap();
        *self.shared.fault.lock().unwrap() = (fault, first);
        self.shared.faulted.store(0, Ordering::SeqCst);
        log.clear();
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// The request head: everything up to the blank line, and what was read beyond it.
struct Head {
    bytes: Vec<u8>,
    rest: Vec<u8>,
}

const MAX_HEAD: usize = 64 * 1024;

/// Reads until the end of an HTTP head, starting with bytes already read. `None` when the
/// peer closed first or spoke TLS.
fn read_head(stream: &mut impl Read, already: Vec<u8>) -> io::Result<Option<Head>> {
    let mut buf = already;
    let mut chunk = [0u8; 4096];
    loop {
        if buf.is_empty() || !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        // 0x16: a TLS ClientHello (Docker tries HTTPS before plain HTTP); not HTTP, not counted.
        if buf[0] == 0x16 {
            return Ok(None);
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok(Some(Head { bytes: buf, rest }));
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::other("request head too large"));
        }
    }
}

/// The head with every `Connection`/`Keep-Alive` header replaced by `Connection: close`.
fn closing(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if name != "connection" && name != "keep-alive" {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

fn handle(shared: &Shared, mut client: TcpStream) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let Some(head) = read_head(&mut client, Vec::new())? else {
        return Ok(());
    };
    let first_line = String::from_utf8_lossy(&head.bytes)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    let mut words = first_line.split(' ');
    let method = words.next().unwrap_or("").to_owned();
    let path = words.next().unwrap_or("").to_owned();
    let matches = shared.only.as_deref().is_none_or(|o| path.contains(o));
    let (fault, first) = *shared.fault.lock().unwrap();
    let fault = (matches && shared.faulted.fetch_add(1, Ordering::SeqCst) < first).then_some(fault);
    let outcome = match fault {
        Some(Fault::Drop) => "dropped".to_owned(),
        Some(Fault::Reset) => "reset".to_owned(),
        Some(Fault::Delay(d)) => format!("delayed {} ms", d.as_millis()),
        Some(Fault::Status(code)) => format!("answered {code}"),
        None => "served".to_owned(),
    };
    shared
        .log
        .lock()
        .unwrap()
        .push(format!("{method} {path} -> {outcome}"));
    match fault {
        Some(Fault::Drop) => return client.shutdown(Shutdown::Both),
        Some(Fault::Reset) => {
            socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO))?;
            drop(client);
            return Ok(());
        }
        Some(Fault::Status(code)) => {
            let reply = format!(
                "HTTP/1.1 {code} Fault Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            client.write_all(reply.as_bytes())?;
            return client.shutdown(Shutdown::Both);
        }
        Some(Fault::Delay(d)) => thread::sleep(d),
        None => {}
    }
    let served = match shared.backend {
        Backend::Files => serve_file(shared, &mut client, &method, &path),
        Backend::Proxy(backend) => proxy(&mut client, backend, &head),
    };
    let _ = client.shutdown(Shutdown::Both);
    served
}

fn serve_file(shared: &Shared, client: &mut TcpStream, method: &str, path: &str) -> io::Result<()> {
    // Query strings do not name files.
    let path = path.split('?').next().unwrap_or("");
    let body = shared.files.lock().unwrap().get(path).cloned();
    let (status, body) = match body {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", b"not found\n".to_vec()),
    };
    let mut reply = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        reply.extend_from_slice(&body);
    }
    client.write_all(&reply)
}

/// Passes one request through to `backend` and its answer back; both sides are told the
/// connection closes afterwards.
fn proxy(client: &mut TcpStream, backend: SocketAddr, head: &Head) -> io::Result<()> {
    let mut upstream = TcpStream::connect(backend)?;
    upstream.write_all(&closing(&head.bytes))?;
    upstream.write_all(&head.rest)?;
    // The request body (a pushed layer) streams on while the answer is read.
    let mut body_from = client.try_clone()?;
    let mut body_to = upstream.try_clone()?;
    let body = thread::spawn(move || {
        let _ = io::copy(&mut body_from, &mut body_to);
    });
    let mut already = Vec::new();
    // `100 Continue` heads pass as they are; the final answer's head is rewritten.
    while let Some(answer) = read_head(&mut upstream, already)? {
        if answer.bytes.starts_with(b"HTTP/1.1 1") {
            client.write_all(&answer.bytes)?;
            already = answer.rest;
            continue;
        }
        client.write_all(&closing(&answer.bytes))?;
        client.write_all(&answer.rest)?;
        io::copy(&mut upstream, client)?;
        break;
    }
    // Ends the body copy as well: its read from the client returns.
    let _ = client.shutdown(Shutdown::Both);
    let _ = upstream.shutdown(Shutdown::Both);
    let _ = body.join();
    Ok(())
}
