//! Retrying registry calls (pull, push) with exponential backoff and jitter.
//!
//! Only network calls to a registry go through here. A build is never retried: a compile error
//! fails the same way every time, and repeating a minutes-long build would only hide it. Whether a
//! failure is worth another attempt is decided from the client's error text alone, by the table in
//! [`classify`], which is tested row by row.

use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder};

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts in all, the first included.
    pub attempts: usize,
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Bound on the sum of all waits between attempts.
    pub total_delay: Duration,
}

impl Policy {
    /// For pushes and pulls: five attempts, waits of about 1, 2, 4, 8 s, at most 30 s of waiting.
    pub const REGISTRY: Policy = Policy {
        attempts: 5,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(10),
        total_delay: Duration::from_secs(30),
    };

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.attempts.saturating_sub(1))
            .with_total_delay(Some(self.total_delay))
    }
}

/// Whether another attempt could succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Transient,
    Permanent,
}

/// Error texts (lowercased) that mean the network or the registry hiccuped.
const TRANSIENT: &[&str] = &[
    "timeout",
    "timed out",
    "connection refused",
    "connection reset",
    "broken pipe",
    "unexpected eof",
    "no route to host",
    "network is unreachable",
    "temporary failure in name resolution",
    "server misbehaving",
    "tls handshake",
    "too many requests",
    "toomanyrequests",
    "500 internal server error",
    "502 bad gateway",
    "503 service unavailable",
    "504 gateway timeout",
    "request canceled",
];

/// Error texts that no retry can fix; they win over [`TRANSIENT`] (an "unauthorized" reply that
/// mentions a timeout is still unauthorized).
const PERMANENT: &[&str] = &[
    "unauthorized",
    "authentication required",
    "denied",
    "forbidden",
    "manifest unknown",
    "name unknown",
    "not found",
    "no such image",
    "invalid reference format",
    "server gave http response to https client",
    "x509:",
    "certificate",
];

/// Classifies a failed registry call by the text the client printed.
pub fn classify(error_text: &str) -> Failure {
    let text = error_text.to_lowercase();
    if PERMANENT.iter().any(|p| text.contains(p)) {
        Failure::Permanent
    } else if TRANSIENT.iter().any(|t| text.contains(t)) {
        Failure::Transient
    } else {
        // Unknown failures are not retried: retrying hides bugs and costs minutes.
        Failure::Permanent
    }
}

/// Runs `op` until it succeeds, fails permanently, or the policy is spent. `op` returns the
/// error text the client printed; `what` names the call in progress messages.
pub fn retry<T>(
    what: &str,
    policy: Policy,
    mut op: impl FnMut() -> Result<T, String>,
) -> anyhow::Result<T> {
    let mut attempt = 1;
    let result = (|| op())
        .retry(policy.backoff())
        .sleep(std::thread::sleep)
        .when(|err: &String| classify(err) == Failure::Transient)
        .notify(|err: &String, wait: Duration| {
            attempt += 1;
            eprintln!(
                "retry: {what} failed transiently ({}); attempt {attempt} of {} in {:.1} s",
                err.lines().last().unwrap_or("").trim(),
                policy.attempts,
                wait.as_secs_f64()
            );
        })
        .call();
    result.map_err(|err| {
        let kind = match classify(&err) {
            Failure::Transient => "still failing after retries",
            Failure::Permanent => "failed (not retried: the error is permanent)",
        };
        anyhow::anyhow!("{what} {kind}: {}", err.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let table = [
            (
                "dial tcp 127.0.0.1:5000: connect: connection refused",
                Failure::Transient,
            ),
            ("net/http: TLS handshake timeout", Failure::Transient),
            ("read: connection reset by peer", Failure::Transient),
            (
                "received unexpected HTTP status: 503 Service Unavailable",
                Failure::Transient,
            ),
            (
                "toomanyrequests: You have reached your pull rate limit",
                Failure::Transient,
            ),
            (
                "dial tcp: lookup registry.example: Temporary failure in name resolution",
                Failure::Transient,
            ),
            (
                "Get \"https://r/v2/\": context deadline exceeded (Client.Timeout exceeded)",
                Failure::Transient,
            ),
            ("unexpected EOF", Failure::Transient),
            ("unauthorized: authentication required", Failure::Permanent),
            (
                "denied: requested access to the resource is denied",
                Failure::Permanent,
            ),
            ("manifest unknown: manifest unknown", Failure::Permanent),
            (
                "An image does not exist locally with the tag: 127.0.0.1:5000/cv",
                Failure::Permanent,
            ),
            ("invalid reference format", Failure::Permanent),
            (
                "http: server gave HTTP response to HTTPS client",
                Failure::Permanent,
            ),
            (
                "x509: certificate signed by unknown authority",
                Failure::Permanent,
            ),
            (
                "error: could not compile `cv` (bin \"cv\") due to 2 previous errors",
                Failure::Permanent,
            ),
            (
                "process \"/bin/sh -c cargo build\" did not complete successfully: exit code: 101",
                Failure::Permanent,
            ),
            ("", Failure::Permanent),
        ];
        for (text, want) in table {
            assert_eq!(classify(text), want, "{text:?}");
        }
    }

    fn fast(attempts: usize) -> Policy {
        Policy {
            attempts,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            total_delay: Duration::from_secs(1),
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
        assert!(
            err.to_string().contains("still failing after retries"),
            "{err}"
        );
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
    }

    #[test]
    fn total_delay_bounds_the_waiting() {
        let policy = Policy {
            attempts: 1000,
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(20),
            total_delay: Duration::from_millis(100),
        };
        let started = std::time::Instant::now();
        let mut calls = 0;
        let _ = retry("push", policy, || -> Result<(), String> {
            calls += 1;
            Err("timeout".to_owned())
        });
        assert!(calls < 20, "{calls} attempts despite a 100 ms budget");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
