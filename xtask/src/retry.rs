//! The one retry layer for every network step of xtask: cargo fetches, image pulls and pushes,
//! registry and other HTTP calls.
//!
//! A step is retried only when its failure is *transient* — the network or a server hiccuped and
//! the same call may well succeed a moment later. Anything else fails at once: a compile error, a
//! 404, a bad certificate or a full disk fail the same way every time, and retrying them only
//! hides the real error behind minutes of waiting. Builds are never retried at all.
//!
//! Whether a failure is transient is decided by one table, [`RULES`], matched against the text
//! the client printed (or, for [`http_get`], the status and the error chain); the table is tested
//! row by row and docs/RETRIES.md is checked against it. Waits grow exponentially with jitter
//! (backon); a [`Policy`] bounds both the attempts and the total time.
//!
//! This file depends on nothing else in xtask, so integration tests include it with `#[path]`.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};

/// Environment variable naming a PEM file of extra CA certificates (also read by
/// `cargo xtask docker --ca-bundle`, which hands it to build steps as the secret `ca_bundle`).
pub const CA_BUNDLE_ENV: &str = "CV_CA_BUNDLE";

/// The fix printed with every certificate error.
const CA_HINT: &str = "if this network intercepts TLS (a company proxy), pass its CA certificates \
     with --ca-bundle FILE or CV_CA_BUNDLE=FILE (build steps get them as the secret `ca_bundle`)";

/// How often and how long to retry one network step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: usize,
    /// The first wait; later waits double, with jitter.
    pub first_delay: Duration,
    /// No single wait is longer.
    pub max_delay: Duration,
    /// No new attempt starts once this much time has passed since the first one began (an
    /// attempt in progress is not cut short: a long push is not a failure).
    pub max_time: Duration,
    /// How long one HTTP request of [`http_get`] may take.
    pub request_timeout: Duration,
}

impl Policy {
    /// The default: five attempts, waits of about 1, 2, 4, 8 s, nothing new after 60 s.
    pub const REGISTRY: Policy = Policy {
        attempts: 5,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(10),
        max_time: Duration::from_secs(60),
        request_timeout: Duration::from_secs(30),
    };

    /// backon caps the delay before its jitter and then adds up to the same delay again (1.6:
    /// `cur + cur * rand[0, 1)`), so a 10 s cap alone gives waits of up to 20 s; capping after
    /// the jitter keeps `max_delay` the longest wait, as the docs promise.
    fn delays(&self) -> impl Iterator<Item = Duration> {
        let max_delay = self.max_delay;
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.attempts.saturating_sub(1))
            .build()
            .map(move |wait| wait.min(max_delay))
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::REGISTRY
    }
}

/// `--retry-attempts` and `--retry-max-time`, for any command with network steps to flatten in.
#[derive(Debug, Clone, clap::Args)]
pub struct RetryArgs {
    /// Attempts for each network step (pull, push, fetch), the first included; 1 = no retries
    #[arg(
        long,
        env = "CV_RETRY_ATTEMPTS",
        value_name = "N",
        default_value_t = 5,
        value_parser = parse_attempts
    )]
    pub retry_attempts: usize,

    /// Start no new attempt of a network step after this many seconds
    #[arg(
        long,
        env = "CV_RETRY_MAX_TIME",
        value_name = "SECS",
        default_value_t = 60,
        value_parser = parse_max_time
    )]
    pub retry_max_time: u64,
}

impl Default for RetryArgs {
    fn default() -> RetryArgs {
        RetryArgs {
            retry_attempts: Policy::REGISTRY.attempts,
            retry_max_time: Policy::REGISTRY.max_time.as_secs(),
        }
    }
}

impl RetryArgs {
    pub fn policy(&self) -> Policy {
        let max_time = Duration::from_secs(self.retry_max_time);
        Policy {
            attempts: self.retry_attempts,
            max_time,
            // A request may not outlast the whole budget.
            request_timeout: Policy::REGISTRY.request_timeout.min(max_time),
            ..Policy::REGISTRY
        }
    }
}

fn parse_attempts(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("0 attempts would never try; give 1 (no retries) or more".into()),
        Ok(n) if n > 100 => Err(format!("{n} attempts is too many; give at most 100")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number of attempts, e.g. 5")),
    }
}

fn parse_max_time(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("0 seconds leaves no time for a retry; give 1 or more".into()),
        Ok(n) if n > 86_400 => Err(format!("{n} s is more than a day; give at most 86400")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number of seconds, e.g. 60")),
    }
}

/// Whether another attempt could succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Transient,
    Permanent,
}

/// What a row of [`RULES`] looks for in the (lowercased) error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matcher {
    /// A substring.
    Text(&'static str),
    /// An HTTP status in this inclusive range, as clients print it ("got 503", "status: 503",
    /// "HTTP 404", "status code 429", …).
    Status(u16, u16),
}

/// One row of the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub matcher: Matcher,
    pub failure: Failure,
    /// Short name of the cause, printed in retry lines and errors.
    pub cause: &'static str,
    /// What to do about it, when the fix is known.
    pub hint: Option<&'static str>,
}

const fn rule(matcher: Matcher, failure: Failure, cause: &'static str) -> Rule {
    Rule {
        matcher,
        failure,
        cause,
        hint: None,
    }
}

const fn permanent(text: &'static str, cause: &'static str) -> Rule {
    rule(Matcher::Text(text), Failure::Permanent, cause)
}

const fn transient(text: &'static str, cause: &'static str) -> Rule {
    rule(Matcher::Text(text), Failure::Transient, cause)
}

const fn certificate(text: &'static str) -> Rule {
    Rule {
        hint: Some(CA_HINT),
        ..permanent(text, "certificate error")
    }
}

use Failure::{Permanent, Transient};
use Matcher::Status;

/// The classifier: the first row whose matcher is found in the error text decides. Permanent
/// rows come first, so an "unauthorized" reply that also mentions a timeout is not retried.
/// Text that no row matches is permanent: retrying the unknown hides bugs and costs minutes.
pub const RULES: &[Rule] = &[
    Rule {
        hint: Some("free disk space, e.g. with `cargo xtask clean`"),
        ..permanent("no space left on device", "disk full")
    },
    permanent("could not compile", "compile error"),
    permanent("error[e", "compile error"),
    certificate("x509:"),
    certificate("certificate"),
    rule(Status(401, 401), Permanent, "HTTP 401 unauthorized"),
    permanent("unauthorized", "unauthorized"),
    permanent("authentication required", "unauthorized"),
    rule(Status(403, 403), Permanent, "HTTP 403 forbidden"),
    permanent("forbidden", "forbidden"),
    permanent("denied", "forbidden"),
    rule(Status(404, 404), Permanent, "HTTP 404 not found"),
    permanent("manifest unknown", "not found"),
    permanent("name unknown", "not found"),
    permanent("not found", "not found"),
    permanent("no such image", "not found"),
    permanent("no matching package", "not found"),
    permanent("invalid reference", "invalid reference"),
    Rule {
        hint: Some("list the registry in the daemon's insecure-registries, or serve it over HTTPS"),
        ..permanent(
            "server gave http response to https client",
            "plain-HTTP registry",
        )
    },
    rule(Status(408, 408), Transient, "HTTP 408 request timeout"),
    rule(Status(429, 429), Transient, "HTTP 429 too many requests"),
    rule(Status(400, 499), Permanent, "HTTP 4xx client error"),
    rule(Status(500, 599), Transient, "HTTP 5xx server error"),
    transient("too many requests", "HTTP 429 too many requests"),
    transient("toomanyrequests", "HTTP 429 too many requests"),
    transient("internal server error", "HTTP 5xx server error"),
    transient("bad gateway", "HTTP 5xx server error"),
    transient("service unavailable", "HTTP 5xx server error"),
    transient("gateway timeout", "HTTP 5xx server error"),
    transient("spurious network error", "cargo: spurious network error"),
    transient("temporary failure in name resolution", "DNS failure"),
    transient("could not resolve host", "DNS failure"),
    transient("failed to lookup address", "DNS failure"),
    transient("name or service not known", "DNS failure"),
    transient("no such host", "DNS failure"),
    transient("server misbehaving", "DNS failure"),
    transient("dns error", "DNS failure"),
    transient("connection refused", "connection refused"),
    transient("tls handshake", "TLS handshake cut"),
    transient("ssl connect error", "TLS handshake cut"),
    transient("close_notify", "TLS handshake cut"),
    transient("handshake", "TLS handshake cut"),
    transient("connection reset", "connection reset"),
    transient("reset by peer", "connection reset"),
    transient("broken pipe", "connection reset"),
    transient("unexpected eof", "connection cut"),
    transient("\": eof", "connection cut"),
    transient("empty reply from server", "connection cut"),
    transient("connection closed", "connection cut"),
    transient("closed before message completed", "connection cut"),
    transient("recv failure", "connection cut"),
    transient("timed out", "timeout"),
    transient("timeout", "timeout"),
    transient("deadline exceeded", "timeout"),
    transient("operation too slow", "timeout"),
    transient("request canceled", "timeout"),
    transient("no route to host", "network unreachable"),
    transient("network is unreachable", "network unreachable"),
];

/// How clients introduce an HTTP status in their messages (lowercased).
const STATUS_PREFIXES: &[&str] = &[
    "got ",
    "status: ",
    "status code: ",
    "status code ",
    "http status ",
    "http ",
    "http/1.1 ",
    "http/1.0 ",
    "http/2 ",
];

/// The HTTP statuses mentioned in `text` (lowercased), in order.
fn statuses(text: &str) -> impl Iterator<Item = u16> + '_ {
    STATUS_PREFIXES.iter().flat_map(move |prefix| {
        text.match_indices(prefix).filter_map(move |(i, _)| {
            let rest = &text.as_bytes()[i + prefix.len()..];
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let code = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
            (digits == 3 && (100..600).contains(&code)).then_some(code)
        })
    })
}

impl Matcher {
    fn matches(self, line: &str) -> bool {
        match self {
            Matcher::Text(t) => line.contains(t),
            Matcher::Status(lo, hi) => statuses(line).any(|s| (lo..=hi).contains(&s)),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Text(t) => write!(f, "text `{t}`"),
            Matcher::Status(lo, hi) if lo == hi => write!(f, "HTTP status {lo}"),
            Matcher::Status(lo, hi) => write!(f, "HTTP status {lo}–{hi}"),
        }
    }
}

/// The classifier's answer about one failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub failure: Failure,
    pub cause: &'static str,
    pub hint: Option<&'static str>,
    /// The line of the error text that decided (else its last line), for messages.
    pub line: String,
}

/// Classifies a failure by the text its client printed.
pub fn diagnose(error_text: &str) -> Verdict {
    let lines: Vec<&str> = error_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let lowered: Vec<String> = lines.iter().map(|l| l.to_lowercase()).collect();
    for rule in RULES {
        if let Some(i) = lowered.iter().position(|l| rule.matcher.matches(l)) {
            return Verdict {
                failure: rule.failure,
                cause: rule.cause,
                hint: rule.hint,
                line: lines[i].to_owned(),
            };
        }
    }
    Verdict {
        failure: Failure::Permanent,
        cause: "unrecognised error",
        hint: None,
        line: lines.last().map_or("no message", |l| l).to_owned(),
    }
}

/// Whether a failure with this text is worth another attempt.
// Part of the contract for callers that only need the kind; xtask's own steps use `diagnose`.
#[allow(dead_code)]
pub fn classify(error_text: &str) -> Failure {
    diagnose(error_text).failure
}

/// The classifier as the Markdown table docs/RETRIES.md carries (a test keeps them equal).
#[cfg(test)]
pub fn rules_markdown() -> String {
    let mut out = String::from("| Matches | Kind | Cause | Hint |\n|---|---|---|---|\n");
    for rule in RULES {
        let kind = match rule.failure {
            Failure::Transient => "transient: retried",
            Failure::Permanent => "permanent: fails at once",
        };
        out.push_str(&format!(
            "| {} | {kind} | {} | {} |\n",
            rule.matcher,
            rule.cause,
            rule.hint.unwrap_or("")
        ));
    }
    out.push_str("| anything else | permanent: fails at once | unrecognised error | |\n");
    out
}

/// Why a network step failed for good.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} failed ({cause}; not retried: the error is permanent): {line}{}", hint_suffix(*.hint))]
    Permanent {
        what: String,
        cause: &'static str,
        line: String,
        hint: Option<&'static str>,
    },
    #[error(
        "{what} failed {} in {:.1} s, the last time with {cause}: {line}; \
         giving up ({why}; see --retry-attempts and --retry-max-time)",
        times(*attempts),
        elapsed.as_secs_f64()
    )]
    Exhausted {
        what: String,
        attempts: usize,
        elapsed: Duration,
        cause: &'static str,
        line: String,
        why: String,
    },
}

/// "once", "2 times": how often a step failed, as a person would say it.
fn times(n: usize) -> String {
    match n {
        1 => "once".to_owned(),
        n => format!("{n} times"),
    }
}

fn hint_suffix(hint: Option<&str>) -> String {
    hint.map(|h| format!("\n  hint: {h}")).unwrap_or_default()
}

/// Runs `op` until it succeeds, fails permanently, or the policy is spent. `op` returns the
/// error text the client printed; `what` names the step in log lines and errors.
///
/// Every retry is announced on stderr as
/// `retry: WHAT: attempt N of M failed (CAUSE): LINE; next attempt in S s`.
pub fn retry<T>(
    what: &str,
    policy: Policy,
    mut op: impl FnMut() -> Result<T, String>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    let mut delays = policy.delays();
    let mut attempt = 1;
    loop {
        let err = match op() {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let verdict = diagnose(&err);
        if verdict.failure == Failure::Permanent {
            return Err(Error::Permanent {
                what: what.to_owned(),
                cause: verdict.cause,
                line: verdict.line,
                hint: verdict.hint,
            }
            .into());
        }
        let exhausted = |why: String| Error::Exhausted {
            what: what.to_owned(),
            attempts: attempt,
            elapsed: started.elapsed(),
            cause: verdict.cause,
            line: verdict.line.clone(),
            why,
        };
        let Some(wait) = delays.next() else {
            let why = match policy.attempts {
                1 => "its one attempt used".to_owned(),
                n => format!("all {n} attempts used"),
            };
            return Err(exhausted(why).into());
        };
        if started.elapsed() + wait > policy.max_time {
            return Err(exhausted(format!(
                "the next attempt would start after the {} s time limit",
                policy.max_time.as_secs()
            ))
            .into());
        }
        eprintln!(
            "retry: {what}: attempt {attempt} of {} failed ({}): {}; next attempt in {:.1} s",
            policy.attempts,
            verdict.cause,
            verdict.line,
            wait.as_secs_f64()
        );
        thread::sleep(wait);
        attempt += 1;
    }
}

/// Runs a command that talks to the network, retrying it on transient failures. Its stdout is
/// captured; its stderr is echoed as it comes (progress stays visible) and also captured, and is
/// what the failure is classified by. Returns the output of the successful attempt.
pub fn run_command(what: &str, policy: Policy, cmd: xshell::Cmd<'_>) -> anyhow::Result<Output> {
    let mut command = Command::from(cmd);
    retry(what, policy, || {
        let output = tee_stderr(&mut command).map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(output)
        } else {
            let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
            if text.trim().is_empty() {
                // Some tools report on stdout; classify by whatever was said.
                text = String::from_utf8_lossy(&output.stdout).into_owned();
            }
            if text.trim().is_empty() {
                text = format!("{:?} exited with {}", command.get_program(), output.status);
            }
            Err(text)
        }
    })
}

/// Runs `command` once: stdin closed, stdout captured, stderr copied through and captured.
fn tee_stderr(command: &mut Command) -> std::io::Result<Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot start {:?}: {e}", command.get_program()),
            )
        })?;
    let mut stderr_pipe = child.stderr.take();
    let echo = thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        let Some(pipe) = stderr_pipe.as_mut() else {
            return kept;
        };
        let mut to = std::io::stderr();
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    kept.extend_from_slice(&buf[..n]);
                    // A closed terminal must not stop the step; the copy is kept regardless.
                    let _ = to.write_all(&buf[..n]);
                }
            }
        }
        kept
    });
    let mut stdout = Vec::new();
    if let Some(mut pipe) = child.stdout.take() {
        pipe.read_to_end(&mut stdout)?;
    }
    let status = child.wait()?;
    let stderr = echo.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// GETs `url` and returns the body, retrying transient failures (connection errors, timeouts,
/// 429, 5xx); any other 4xx fails at once. TLS is rustls with the system's roots plus the PEM
/// certificates named by CV_CA_BUNDLE, if set; HTTP(S)_PROXY/NO_PROXY are honoured.
pub fn http_get(what: &str, policy: Policy, url: &str) -> anyhow::Result<Vec<u8>> {
    let bundle = std::env::var_os(CA_BUNDLE_ENV).filter(|v| !v.is_empty());
    let client = http_client(policy.request_timeout, bundle.as_deref().map(Path::new))?;
    retry(what, policy, || {
        let response = client.get(url).send().map_err(|e| error_chain(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP status {status}"));
        }
        let body = response.bytes().map_err(|e| error_chain(&e))?;
        Ok(body.to_vec())
    })
}

/// An error with its causes on one line, as anyhow prints them: the details that classify it
/// (refused, reset, certificate) live deep in hyper's and rustls's chain.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        // hyper repeats its inner error in its own message; say it once.
        if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = source.and_then(|s| s.source());
    }
    text
}

/// The certificates of a PEM CA bundle (`--ca-bundle`, `CV_CA_BUNDLE`), or what is wrong with
/// the file: missing, a directory, unreadable, not PEM, or holding no certificate. Every user of
/// the bundle checks it the same way, so a file one command refuses no other accepts.
pub fn ca_bundle_certs(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("does not exist".into()),
        Err(e) => return Err(format!("cannot be read ({e})")),
        Ok(m) if m.is_dir() => return Err("is a directory, not a PEM file".into()),
        Ok(_) => {}
    }
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read PEM certificates ({e})"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

fn http_client(
    timeout: Duration,
    ca_bundle: Option<&Path>,
) -> anyhow::Result<reqwest::blocking::Client> {
    use anyhow::Context;

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable entries of the system store are skipped, as every TLS client does.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(bundle) = ca_bundle {
        let certs = ca_bundle_certs(bundle).map_err(|why| {
            anyhow::anyhow!(
                "{CA_BUNDLE_ENV}={}: {why}; name a PEM file of CA certificates, or unset it",
                bundle.display()
            )
        })?;
        roots.add_parsable_certificates(certs);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("the TLS provider offers no safe protocol version")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .user_agent(concat!("cv-xtask/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot set up the HTTP client")
}

// The fault server; tests/faults.rs reaches it through here (one copy per crate).
#[cfg(test)]
#[path = "../tests/support/faulty.rs"]
pub mod faulty;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        use Failure::{Permanent as P, Transient as T};
        let table = [
            // DNS
            (
                "dial tcp: lookup registry.example: Temporary failure in name resolution",
                T,
                "DNS failure",
            ),
            (
                "[6] Could not resolve hostname (Could not resolve host: index.crates.io)",
                T,
                "DNS failure",
            ),
            (
                "error trying to connect: dns error: failed to lookup address information",
                T,
                "DNS failure",
            ),
            // Refused, reset, cut
            (
                "dial tcp 127.0.0.1:5000: connect: connection refused",
                T,
                "connection refused",
            ),
            (
                "tcp connect error: Connection refused (os error 111)",
                T,
                "connection refused",
            ),
            (
                "read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer",
                T,
                "connection reset",
            ),
            (
                "[56] Failure when receiving data from the peer (Recv failure: Connection reset by peer)",
                T,
                "connection reset",
            ),
            ("Get \"http://127.0.0.1:1/v2/\": EOF", T, "connection cut"),
            ("[52] Empty reply from server", T, "connection cut"),
            ("unexpected EOF", T, "connection cut"),
            // Timeouts
            (
                "[28] Timeout was reached (Operation too slow. Less than 10 bytes/sec transferred)",
                T,
                "timeout",
            ),
            (
                "Get \"https://r/v2/\": context deadline exceeded (Client.Timeout exceeded)",
                T,
                "timeout",
            ),
            ("operation timed out", T, "timeout"),
            // TLS handshake cut (not a certificate problem)
            ("net/http: TLS handshake timeout", T, "TLS handshake cut"),
            (
                "[35] SSL connect error (OpenSSL SSL_connect: SSL_ERROR_SYSCALL)",
                T,
                "TLS handshake cut",
            ),
            // HTTP statuses
            (
                "failed to get successful HTTP response from `http://127.0.0.1:1/index/config.json` (127.0.0.1), got 503",
                T,
                "HTTP 5xx server error",
            ),
            (
                "received unexpected HTTP status: 500 Internal Server Error",
                T,
                "HTTP 5xx server error",
            ),
            (
                "GET http://x/: HTTP status 502 Bad Gateway",
                T,
                "HTTP 5xx server error",
            ),
            (
                "toomanyrequests: You have reached your pull rate limit",
                T,
                "HTTP 429 too many requests",
            ),
            (
                "GET http://x/: HTTP status 429 Too Many Requests",
                T,
                "HTTP 429 too many requests",
            ),
            (
                "warning: spurious network error (2 tries remaining): [7] Couldn't connect to server",
                T,
                "cargo: spurious network error",
            ),
            (
                "GET http://x/: HTTP status 401 Unauthorized",
                P,
                "HTTP 401 unauthorized",
            ),
            ("unauthorized: authentication required", P, "unauthorized"),
            (
                "GET http://x/: HTTP status 403 Forbidden",
                P,
                "HTTP 403 forbidden",
            ),
            (
                "denied: requested access to the resource is denied",
                P,
                "forbidden",
            ),
            (
                "failed to get successful HTTP response from `http://127.0.0.1:1/dl/x/0.1.0/download` (127.0.0.1), got 404",
                P,
                "HTTP 404 not found",
            ),
            (
                "error parsing HTTP 404 response body",
                P,
                "HTTP 404 not found",
            ),
            (
                "manifest for 127.0.0.1:5000/x:1 not found: manifest unknown: manifest unknown",
                P,
                "not found",
            ),
            (
                "GET http://x/: HTTP status 410 Gone",
                P,
                "HTTP 4xx client error",
            ),
            (
                "error: no matching package named `nope` found",
                P,
                "not found",
            ),
            // Local mistakes and the machine
            ("invalid reference format", P, "invalid reference"),
            (
                "write /var/lib/docker/tmp/x: no space left on device",
                P,
                "disk full",
            ),
            (
                "error: could not compile `cv` (bin \"cv\") due to 2 previous errors",
                P,
                "compile error",
            ),
            (
                "error[E0425]: cannot find value `x` in this scope",
                P,
                "compile error",
            ),
            // Certificates: permanent, even in a handshake
            (
                "x509: certificate signed by unknown authority",
                P,
                "certificate error",
            ),
            (
                "[60] SSL peer certificate or SSH remote key was not OK (SSL certificate problem: unable to get local issuer certificate)",
                P,
                "certificate error",
            ),
            (
                "invalid peer certificate: UnknownIssuer",
                P,
                "certificate error",
            ),
            (
                "http: server gave HTTP response to HTTPS client",
                P,
                "plain-HTTP registry",
            ),
            // Permanent wins over transient on the same text
            (
                "unauthorized: authentication required (after a timeout)",
                P,
                "unauthorized",
            ),
            // The unknown is not retried
            (
                "process \"/bin/sh -c cargo build\" did not complete successfully: exit code: 101",
                P,
                "unrecognised error",
            ),
            ("", P, "unrecognised error"),
        ];
        for (text, want, cause) in table {
            let v = diagnose(text);
            assert_eq!((v.failure, v.cause), (want, cause), "{text:?}");
            assert_eq!(classify(text), want, "{text:?}");
        }
    }

    #[test]
    fn certificate_errors_name_the_ca_bundle_option() {
        let v = diagnose("x509: certificate signed by unknown authority");
        let hint = v.hint.unwrap();
        assert!(
            hint.contains("--ca-bundle") && hint.contains("CV_CA_BUNDLE"),
            "{hint}"
        );
        assert!(hint.contains("`ca_bundle`"), "{hint}");
        let err = retry("fetch", fast(3), || -> Result<(), String> {
            Err("error: [60] SSL certificate problem: self-signed certificate".into())
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("hint: if this network intercepts TLS"),
            "{err}"
        );
    }

    #[test]
    fn the_deciding_line_is_quoted() {
        let text = "error: failed to download\n\nCaused by:\n  failed to get successful HTTP response from `u` (h), got 503\n  body:\n  oops\n";
        assert_eq!(
            diagnose(text).line,
            "failed to get successful HTTP response from `u` (h), got 503"
        );
        assert_eq!(diagnose("a\nlast words\n\n").line, "last words");
    }

    #[test]
    fn statuses_are_three_digits_after_a_known_prefix() {
        let found = |t: &str| statuses(t).collect::<Vec<_>>();
        assert_eq!(found("got 503"), [503]);
        assert_eq!(found("status: 429 too many"), [429]);
        assert_eq!(found("got 5034"), Vec::<u16>::new());
        assert_eq!(found("got 42"), Vec::<u16>::new());
        assert_eq!(found("due to 500 previous errors"), Vec::<u16>::new());
        assert_eq!(found("got 999"), Vec::<u16>::new());
    }

    fn fast(attempts: usize) -> Policy {
        Policy {
            attempts,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_time: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn transient_errors_are_retried_until_success() {
        let mut calls = 0;
        let got = retry("push", fast(5), || {
            calls += 1;
            if calls < 3 {
                Err("connection refused".to_owned())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(got.unwrap(), 3);
    }

    #[test]
    fn attempts_are_bounded() {
        let mut calls = 0;
        let err = retry("push", fast(4), || -> Result<(), String> {
            calls += 1;
            Err("503 Service Unavailable".to_owned())
        })
        .unwrap_err();
        assert_eq!(calls, 4);
        let text = err.to_string();
        assert!(
            text.starts_with("push failed 4 times in ")
                && text.contains("HTTP 5xx server error")
                && text.contains("all 4 attempts used"),
            "{text}"
        );
    }

    #[test]
    fn one_attempt_means_no_retry() {
        let mut calls = 0;
        let _ = retry("push", fast(1), || -> Result<(), String> {
            calls += 1;
            Err("connection refused".to_owned())
        });
        assert_eq!(calls, 1);
    }

    #[test]
    fn permanent_errors_are_tried_once() {
        let mut calls = 0;
        let err = retry("push", fast(5), || -> Result<(), String> {
            calls += 1;
            Err("unauthorized: authentication required".to_owned())
        })
        .unwrap_err();
        assert_eq!(calls, 1);
        assert!(err.to_string().contains("not retried"), "{err}");
        assert!(matches!(
            err.downcast_ref::<Error>(),
            Some(Error::Permanent { .. })
        ));
    }

    #[test]
    fn max_time_bounds_the_retrying() {
        let policy = Policy {
            attempts: 100,
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(20),
            max_time: Duration::from_millis(200),
            request_timeout: Duration::from_secs(1),
        };
        let started = Instant::now();
        let mut calls = 0;
        let err = retry("push", policy, || -> Result<(), String> {
            calls += 1;
            Err("timeout".to_owned())
        })
        .unwrap_err();
        assert!(calls < 20, "{calls} attempts despite a 200 ms budget");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(err.to_string().contains("0 s time limit"), "{err}");
    }

    /// The docs promise each wait is at most `max_delay`; backon's jitter alone adds up to the
    /// capped delay again (12.1 s were seen with a 10 s cap).
    #[test]
    fn no_wait_is_longer_than_max_delay_jitter_included() {
        let policy = Policy {
            attempts: 1000,
            ..Policy::REGISTRY
        };
        let waits: Vec<Duration> = policy.delays().collect();
        assert_eq!(waits.len(), 999);
        assert!(waits.iter().all(|w| *w <= policy.max_delay), "{waits:?}");
        assert!(
            waits.iter().all(|w| *w >= policy.first_delay),
            "jitter only adds: {waits:?}"
        );
        assert!(
            waits[0] < Duration::from_secs(2),
            "the first wait is 1 s plus jitter: {waits:?}"
        );
    }

    #[test]
    fn retry_args_parse_and_refuse() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            retry: RetryArgs,
        }
        let cli =
            Cli::try_parse_from(["x", "--retry-attempts", "3", "--retry-max-time", "9"]).unwrap();
        let p = cli.retry.policy();
        assert_eq!((p.attempts, p.max_time), (3, Duration::from_secs(9)));
        assert_eq!(p.request_timeout, Duration::from_secs(9));
        let err = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
                .unwrap_err()
                .to_string()
        };
        let e = err(&["--retry-attempts", "0"]);
        assert!(
            e.contains("invalid value '0' for '--retry-attempts <N>'")
                && e.contains("0 attempts would never try"),
            "{e}"
        );
        assert!(err(&["--retry-attempts", "many"]).contains("not a whole number"));
        assert!(err(&["--retry-max-time", "0"]).contains("no time for a retry"));
        assert!(err(&["--retry-max-time=-1"]).contains("not a whole number"));
    }

    #[test]
    fn every_rule_is_reachable() {
        // A row shadowed by an earlier one would be dead weight in the table and the docs.
        for (i, rule) in RULES.iter().enumerate() {
            let sample = match rule.matcher {
                Matcher::Text(t) => t.to_owned(),
                Matcher::Status(lo, _) => format!("got {lo}"),
            };
            let first = RULES.iter().position(|r| r.matcher.matches(&sample));
            assert!(
                first == Some(i) || RULES[first.unwrap()].cause == rule.cause,
                "row {i} ({}) is shadowed by row {first:?}",
                rule.matcher
            );
        }
    }

    /// Fast waits, so fault tests take milliseconds; `attempts` as given.
    fn quick(attempts: usize) -> Policy {
        Policy {
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            request_timeout: Duration::from_millis(500),
            ..fast(attempts)
        }
    }

    fn file_server(fault: faulty::Fault, first: usize) -> faulty::Faulty {
        let server = faulty::Faulty::start(faulty::Backend::Files, fault, first).unwrap();
        server.put("/db.tar.gz", b"payload".to_vec());
        server
    }

    #[test]
    fn http_get_outlasts_each_kind_of_fault_below_the_budget() {
        use faulty::Fault;
        for fault in [
            Fault::Status(503),
            Fault::Status(429),
            Fault::Drop,
            Fault::Reset,
            Fault::Delay(Duration::from_millis(1500)),
        ] {
            let server = file_server(fault, 2);
            let url = format!("{}/db.tar.gz", server.url());
            let body = http_get("advisory-db download", quick(3), &url)
                .unwrap_or_else(|e| panic!("{fault:?}: {e:#}"));
            assert_eq!(body, b"payload", "{fault:?}");
            assert_eq!(server.requests(), 3, "{fault:?}: {:?}", server.log());
            assert_eq!(server.faulted(), 2, "{fault:?}");
        }
    }

    #[test]
    fn http_get_fails_once_clearly_at_the_budget() {
        let server = file_server(faulty::Fault::Reset, 3);
        let url = format!("{}/db.tar.gz", server.url());
        let err = http_get("advisory-db download", quick(3), &url).unwrap_err();
        assert_eq!(server.requests(), 3, "{:?}", server.log());
        let text = format!("{err:#}");
        assert!(
            text.starts_with("advisory-db download failed 3 times in ")
                && text.contains("the last time with connection reset: error sending request")
                && text.contains("all 3 attempts used"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1, "one line: {text}");
    }

    #[test]
    fn http_get_tries_a_404_exactly_once() {
        let server = file_server(faulty::Fault::Status(503), 0);
        let url = format!("{}/missing.tar.gz", server.url());
        let err = http_get("advisory-db download", quick(5), &url).unwrap_err();
        assert_eq!(server.requests(), 1, "{:?}", server.log());
        let text = format!("{err:#}");
        assert!(
            text.contains("HTTP 404 not found") && text.contains("not retried"),
            "{text}"
        );
    }

    #[test]
    fn http_get_to_a_closed_port_is_refused_and_retried() {
        // Bind, note the port, close: nobody listens there now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = http_get("fetch", quick(2), &format!("http://127.0.0.1:{port}/")).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("failed 2 times") && text.contains("with connection refused: "),
            "{text}"
        );
    }

    #[test]
    fn a_bad_ca_bundle_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = http_client(Duration::from_secs(1), Some(&empty)).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.starts_with("CV_CA_BUNDLE=") && text.contains("holds no PEM certificate"),
            "{text}"
        );
        let missing = dir.path().join("missing.pem");
        let text = format!(
            "{:#}",
            http_client(Duration::from_secs(1), Some(&missing)).unwrap_err()
        );
        assert!(text.contains("does not exist"), "{text}");
    }

    #[test]
    fn run_command_retries_a_real_process_and_returns_its_output() {
        // A real process that fails transiently twice (its state in a file), then succeeds.
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let sh = xshell::Shell::new().unwrap();
        let script = "n=$(cat \"$1\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$1\"; \
                      if [ $n -lt 3 ]; then echo 'error: connection reset by peer' >&2; exit 1; fi; \
                      echo done-$n";
        let cmd = xshell::cmd!(sh, "sh -c {script} sh {count}");
        let out = run_command("flaky step", fast(5), cmd).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "done-3");

        std::fs::remove_file(&count).unwrap();
        let cmd = xshell::cmd!(sh, "sh -c {script} sh {count}");
        let err = run_command("flaky step", fast(2), cmd).unwrap_err();
        assert!(err.to_string().contains("failed 2 times"), "{err}");

        let cmd = xshell::cmd!(
            sh,
            "sh -c 'echo \"error[E0308]: mismatched types\" >&2; exit 101'"
        );
        let err = run_command("build", fast(5), cmd).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("build failed (compile error; not retried"),
            "{err}"
        );

        let cmd = sh.cmd("/nonexistent/tool");
        let err = run_command("tool", fast(5), cmd).unwrap_err();
        assert!(err.to_string().contains("cannot start"), "{err}");
    }

    #[test]
    fn docs_table_matches_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/RETRIES.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let start = "<!-- rules:start (generated from xtask/src/retry.rs) -->\n";
        let end = "<!-- rules:end -->";
        let (Some(a), Some(b)) = (doc.find(start), doc.find(end)) else {
            panic!("{} lacks the rules markers", path.display());
        };
        let want = rules_markdown();
        let have = &doc[a + start.len()..b];
        if have != want {
            if std::env::var_os("UPDATE_EXPECT").is_some() {
                let updated = format!("{}{want}{}", &doc[..a + start.len()], &doc[b..]);
                std::fs::write(&path, updated).unwrap();
            } else {
                panic!(
                    "docs/RETRIES.md's classifier table differs from retry::RULES; run \
                     `UPDATE_EXPECT=1 cargo test -p xtask --bins retry` and commit"
                );
            }
        }
    }
}
