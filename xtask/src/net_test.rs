//! `cargo xtask net-test`: can this machine's network carry a build?
//!
//! Every check becomes one row of a report ([`Row`]): DNS through the system resolver and through
//! a few public DNS servers, TCP connect and an HTTPS (or HTTP) request to each host a build
//! fetches from, the proxy variables, an IPv6 route, the Docker daemon and its builder, and cargo's
//! effective network settings. A failing row is either fatal (`fail`: a build cannot proceed) or
//! a warning (`warn`); the exit code is 1 exactly when a row failed. The same report prints as a
//! table for people or as stable JSON for scripts (`docs/NET_TEST.md` documents both).
//!
//! Nothing here sends a packet anywhere but to the targets, DNS servers and proxies the user
//! configured (or their defaults): the IPv6 check only asks the kernel for a route (a UDP
//! `connect` sends nothing), so tests can run every check on loopback.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use serde::Serialize;
use xshell::Shell;

use crate::engine::{self, Builder, EngineKind};

/// Check DNS, TCP, HTTPS, proxies, IPv6, the Docker daemon and cargo's network settings
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub struct NetTest {
    /// Print the report as JSON (shape in docs/NET_TEST.md) instead of a table
    #[arg(long)]
    pub json: bool,

    /// Host to reach: HOST[:PORT] (HTTPS, port 443 if none), http://HOST[:PORT]/PATH or tcp://HOST:PORT; repeatable
    /// [default: the cargo registries from cargo's config, registry-1.docker.io:443, github.com:443]
    #[arg(
        long = "target",
        value_name = "HOST[:PORT]",
        env = "CV_NET_TEST_TARGETS",
        value_delimiter = ',',
        value_parser = TargetParser
    )]
    pub targets: Vec<Target>,

    /// DNS server to query directly over UDP, SERVER[:PORT]; repeatable [default: 1.1.1.1, 8.8.8.8, 9.9.9.9]
    #[arg(
        long = "dns",
        value_name = "SERVER[:PORT]",
        env = "CV_NET_TEST_DNS",
        value_delimiter = ','
    )]
    pub dns: Vec<DnsServer>,

    /// Seconds each single step (lookup, connect, handshake, answer) may take
    #[arg(long, value_name = "SECS", env = "CV_NET_TEST_TIMEOUT", default_value = "5", value_parser = parse_secs)]
    pub timeout: Duration,

    /// Checks to leave out; repeatable or comma-separated
    #[arg(
        long,
        value_enum,
        value_name = "CHECK",
        env = "CV_NET_TEST_SKIP",
        value_delimiter = ','
    )]
    pub skip: Vec<Area>,

    /// Address the IPv6 check asks the kernel for a route to (nothing is sent)
    #[arg(
        long,
        value_name = "[V6]:PORT",
        env = "CV_NET_TEST_IPV6_PROBE",
        default_value = "[2606:4700:4700::1111]:53",
        value_parser = parse_ipv6_probe
    )]
    pub ipv6_probe: SocketAddr,

    /// resolv.conf whose name servers containers inherit (decides whether public DNS matters)
    #[arg(
        long,
        value_name = "FILE",
        env = "CV_NET_TEST_RESOLV_CONF",
        default_value = "/etc/resolv.conf",
        hide = true
    )]
    pub resolv_conf: PathBuf,

    /// Print what would be checked and where from, send nothing
    #[arg(long)]
    pub dry_run: bool,
}

const EXAMPLES: &str = "\
Examples:
  cargo xtask net-test                          # the defaults: crates.io, Docker Hub, GitHub
  cargo xtask net-test --json | jq .can_build   # for scripts: exit code 0 = a build can proceed
  cargo xtask net-test --target 127.0.0.1:5000 --target http://127.0.0.1:5000/v2/
  cargo xtask net-test --dns 10.0.0.2 --skip docker,ipv6
  CV_NET_TEST_TARGETS=index.crates.io:443 cargo xtask docker --mode minimal --network-test

Fatal (exit 1): a required target that does not resolve, connect or answer over TLS; a set proxy
that does not accept connections; an unreadable CA bundle; no Docker daemon, or only the legacy
builder; a cargo setting cargo itself would reject. Warnings: some DNS servers failing, no IPv6
route, an optional target (github.com), cargo in offline mode or without retries.";

/// The groups of checks `--skip` can leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Area {
    /// Lookups through the configured DNS servers
    Dns,
    /// System-resolver lookup, TCP and HTTPS of every target
    Targets,
    /// Proxy variables and the proxies they name
    Proxy,
    /// The CA certificates HTTPS checks trust
    Trust,
    Ipv6,
    /// The Docker daemon and its builder
    Docker,
    /// Cargo's network settings
    Cargo,
}

/// The environment's variables whose name and value are UTF-8. `std::env::vars` panics on any
/// other, and a stray binary value in some unrelated variable must not stop a network test; none
/// of the variables read here can be meaningful in another encoding.
fn utf8_vars() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// The IPv6 check's probe: an IPv6 address, or the check would report an IPv4 route as IPv6.
fn parse_ipv6_probe(s: &str) -> Result<SocketAddr, String> {
    match s.parse::<SocketAddr>() {
        Ok(addr @ SocketAddr::V6(_)) => Ok(addr),
        Ok(SocketAddr::V4(_)) => Err(format!(
            "{s} is an IPv4 address; the IPv6 check needs an IPv6 one, e.g. \
             [2606:4700:4700::1111]:53"
        )),
        Err(_) => Err(format!(
            "{s:?} is not [IPV6]:PORT, e.g. [2606:4700:4700::1111]:53"
        )),
    }
}

/// A duration as people read it: seconds from one second up, milliseconds below (a timeout of
/// 0.001 s is not "0.0 s").
fn duration_text(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let ms = secs * 1000.0;
    if secs >= 1.0 {
        format!("{secs:.1} s")
    } else if ms >= 1.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 600.0) {
        return Err(format!("{s} is outside 0 < SECS <= 600"));
    }
    Ok(Duration::from_secs_f64(secs))
}

// ---------------------------------------------------------------------------------------------
// Inputs

/// How a target is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Https,
    Http,
    Tcp,
}

/// One host a build needs to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    /// Host name or IP literal, without brackets.
    pub host: String,
    pub port: u16,
    /// Path of the GET request (HTTP and HTTPS only).
    pub path: String,
    /// Whether its failure stops a build (user-given targets always do).
    pub required: bool,
    /// Why it is checked, for `--dry-run`.
    pub origin: String,
}

impl Target {
    fn new(scheme: Scheme, host: &str, port: u16, required: bool, origin: &str) -> Target {
        Target {
            scheme,
            host: host.to_owned(),
            port,
            path: "/".to_owned(),
            required,
            origin: origin.to_owned(),
        }
    }

    /// `host:port`, with brackets around an IPv6 literal.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            Scheme::Https if self.path == "/" => write!(f, "{}", self.authority()),
            Scheme::Tcp => write!(f, "tcp://{}", self.authority()),
            scheme => {
                let scheme = if scheme == Scheme::Http {
                    "http"
                } else {
                    "https"
                };
                write!(f, "{scheme}://{}{}", self.authority(), self.path)
            }
        }
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shown = mask_userinfo(s);
        let bad = |why: &str| {
            format!(
                "target {shown:?} {why}; write HOST[:PORT], http://HOST[:PORT]/PATH or \
                 tcp://HOST:PORT"
            )
        };
        let with_scheme = if s.contains("://") {
            s.to_owned()
        } else {
            format!("https://{s}")
        };
        if let Some(hint) = unbracketed_ipv6(&with_scheme) {
            return Err(bad(&hint));
        }
        let url = url::Url::parse(&with_scheme).map_err(|e| bad(&format!("is not valid ({e})")))?;
        let scheme = match url.scheme() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            "tcp" => Scheme::Tcp,
            other => return Err(bad(&format!("has scheme {other:?}"))),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        // DNS names are at most 253 characters; a longer one is a pasting accident.
        if host.len() > 253 {
            return Err(bad("has a host name longer than 253 characters"));
        }
        if host.parse::<IpAddr>().is_err() {
            check_host_name(&host).map_err(|why| bad(&why))?;
        }
        let port = url.port_or_known_default().ok_or_else(|| {
            bad("has no port (tcp:// has no default port; HOST alone is HTTPS on port 443)")
        })?;
        if port == 0 {
            return Err(bad("has port 0, which nothing listens on"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("carries credentials"));
        }
        let mut path = url.path().to_owned();
        if path.is_empty() {
            path.push('/');
        }
        Ok(Target {
            scheme,
            host,
            port,
            path,
            required: true,
            origin: "given".to_owned(),
        })
    }
}

/// Parses `--target` as [`Target::from_str`] does, and refuses without repeating the raw value:
/// clap's own "invalid value '…'" prefix would print a `user:password@` the refusal masks.
#[derive(Debug, Clone, Copy)]
struct TargetParser;

impl clap::builder::TypedValueParser for TargetParser {
    type Value = Target;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Target, clap::Error> {
        let refuse = |why: String| {
            let flag = arg.map_or_else(|| "--target".to_owned(), ToString::to_string);
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for '{flag}': {why}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("a target is not UTF-8".to_owned()))?;
        text.parse().map_err(refuse)
    }
}

/// `s` with any `user:password@` replaced by `***@`: refusals echo what was given, and a
/// password must not reach a terminal or a CI log. Everything up to the last `@` goes, so a
/// password holding `/` or `@` is masked too.
fn mask_userinfo(s: &str) -> String {
    let (scheme, rest) = match s.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), s),
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => s.to_owned(),
    }
}

/// Why an authority with an IPv6 address but no brackets (`::1:80`) is refused, with the form
/// to write; the url crate only says "empty host".
fn unbracketed_ipv6(with_scheme: &str) -> Option<String> {
    let rest = with_scheme
        .split_once("://")
        .map_or(with_scheme, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.starts_with('[') || host_port.matches(':').count() < 2 {
        return None;
    }
    let example = match host_port.rsplit_once(':') {
        Some((addr, port)) if addr.parse::<Ipv6Addr>().is_ok() && port.parse::<u16>().is_ok() => {
            format!("[{addr}]:{port}")
        }
        _ => "[ADDRESS]:PORT".to_owned(),
    };
    Some(format!(
        "has an IPv6 address without brackets: write {example}"
    ))
}

/// A host name in the shape DNS allows: labels of 1 to 63 letters, digits, `-` or `_` (a final
/// dot, as in a fully qualified name, is allowed). A name that cannot exist would otherwise only
/// fail its lookup, as a warning that hides the typo.
fn check_host_name(host: &str) -> Result<(), String> {
    let labels = host.strip_suffix('.').unwrap_or(host);
    for label in labels.split('.') {
        if label.is_empty() {
            return Err(format!(
                "has an empty label in the host name {host:?} (two dots in a row, or a leading dot)"
            ));
        }
        if label.len() > 63 {
            return Err(format!(
                "has a label of {} characters in its host name; DNS allows at most 63",
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "has {c:?} in the host name {host:?}; a DNS name holds letters, digits, '-' and '_'"
            ));
        }
    }
    Ok(())
}

/// A DNS server queried directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsServer(pub SocketAddr);

impl FromStr for DnsServer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            if addr.port() == 0 {
                return Err(format!(
                    "DNS server {s:?} has port 0, which nothing listens on; leave the port out \
                     for 53"
                ));
            }
            return Ok(DnsServer(addr));
        }
        if let Ok(ip) = s
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(DnsServer(SocketAddr::new(ip, 53)));
        }
        Err(format!(
            "DNS server {s:?} is not an IP address with an optional port, e.g. 1.1.1.1, 10.0.0.2:5353 or [2606:4700:4700::1111]:53"
        ))
    }
}

impl fmt::Display for DnsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.port() == 53 {
            write!(f, "{}", self.0.ip())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

const DEFAULT_DNS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(1, 1, 1, 1),
    Ipv4Addr::new(8, 8, 8, 8),
    Ipv4Addr::new(9, 9, 9, 9),
];

// ---------------------------------------------------------------------------------------------
// The report

/// Which check a row reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    DnsSystem,
    DnsServer,
    Tcp,
    Https,
    Http,
    Proxy,
    Trust,
    Ipv6,
    DockerDaemon,
    DockerBuilder,
    Cargo,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::DnsSystem => "dns-system",
            Kind::DnsServer => "dns-server",
            Kind::Tcp => "tcp",
            Kind::Https => "https",
            Kind::Http => "http",
            Kind::Proxy => "proxy",
            Kind::Trust => "trust",
            Kind::Ipv6 => "ipv6",
            Kind::DockerDaemon => "docker-daemon",
            Kind::DockerBuilder => "docker-builder",
            Kind::Cargo => "cargo",
        }
    }
}

/// A row's outcome: `fail` is fatal, `warn` is a failure a build survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Pass => "ok",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub check: Kind,
    pub subject: String,
    pub status: Status,
    pub detail: String,
    /// What to do about a failure.
    pub hint: Option<String>,
    /// Phase name to milliseconds (resolve, connect, tunnel, tls, response, query).
    pub timings_ms: BTreeMap<&'static str, f64>,
}

impl Row {
    fn new(
        check: Kind,
        subject: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
    ) -> Row {
        Row {
            check,
            subject: subject.into(),
            status,
            detail: detail.into(),
            hint: None,
            timings_ms: BTreeMap::new(),
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Row {
        self.hint = Some(hint.into());
        self
    }

    fn time(mut self, phase: &'static str, took: Duration) -> Row {
        self.timings_ms.insert(phase, millis(took));
        self
    }

    fn total_ms(&self) -> Option<f64> {
        (!self.timings_ms.is_empty()).then(|| self.timings_ms.values().sum())
    }

    /// "pass" when it worked, else `fail` or `warn` depending on whether a build needs it.
    fn failed(required: bool) -> Status {
        if required { Status::Fail } else { Status::Warn }
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// The whole report; its JSON form is the stable interface for scripts.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Bumped when a key is renamed or removed (adding keys does not bump it).
    pub schema_version: u32,
    /// False exactly when a row failed: the exit code is then 1.
    pub can_build: bool,
    /// "subject: detail" of every failed row.
    pub fatal: Vec<String>,
    /// "subject: detail" of every warning.
    pub warnings: Vec<String>,
    pub checks: Vec<Row>,
}

impl Report {
    fn new(checks: Vec<Row>) -> Report {
        let summary = |status| {
            checks
                .iter()
                .filter(|r| r.status == status)
                .map(|r| format!("{} {}: {}", r.check.name(), r.subject, r.detail))
                .collect::<Vec<_>>()
        };
        let fatal = summary(Status::Fail);
        Report {
            schema_version: 1,
            can_build: fatal.is_empty(),
            warnings: summary(Status::Warn),
            fatal,
            checks,
        }
    }

    fn verdict(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        if self.can_build {
            format!(
                "a build can proceed ({})",
                plural(self.warnings.len(), "warning")
            )
        } else {
            format!(
                "a build cannot proceed: {}: {}",
                plural(self.fatal.len(), "fatal failure"),
                self.fatal.join("; ")
            )
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = |get: fn(&Row) -> usize, min: usize| {
            self.checks.iter().map(get).max().unwrap_or(0).max(min)
        };
        let kind_w = width(|r| r.check.name().len(), 5);
        let subject_w = width(|r| r.subject.chars().count(), 7).min(40);
        writeln!(
            f,
            "{:kind_w$}  {:subject_w$}  {:6}  {:>9}  DETAIL",
            "CHECK", "SUBJECT", "STATUS", "TIME"
        )?;
        for row in &self.checks {
            let time = row
                .total_ms()
                .map(|ms| format!("{ms:.1} ms"))
                .unwrap_or_default();
            writeln!(
                f,
                "{:kind_w$}  {:subject_w$}  {:6}  {:>9}  {}",
                row.check.name(),
                row.subject,
                row.status.word(),
                time,
                row.detail
            )?;
            if let Some(hint) = row.hint.as_ref().filter(|_| row.status != Status::Pass) {
                writeln!(f, "{:kind_w$}  {:subject_w$}  hint: {hint}", "", "")?;
            }
        }
        writeln!(f)?;
        writeln!(f, "verdict: {}", self.verdict())
    }
}

// ---------------------------------------------------------------------------------------------
// Running

/// Docker Hub's registry host, where the Dockerfiles' public base images come from.
const DOCKER_HUB: &str = "registry-1.docker.io";

impl NetTest {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let json = self.json;
        let plan = self.plan()?;
        if plan.dry_run {
            print!("{plan}");
            return Ok(());
        }
        let report = plan.execute(sh);
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{report}");
        }
        anyhow::ensure!(report.can_build, "{}", report.verdict());
        Ok(())
    }

    /// Settles every default (targets from cargo's config, DNS servers) before anything runs.
    fn plan(self) -> anyhow::Result<Plan> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let cargo = CargoSettings::load(&cwd, &utf8_vars());
        let targets = if self.targets.is_empty() {
            let mut targets = cargo.registry_targets();
            targets.push(Target::new(
                Scheme::Https,
                DOCKER_HUB,
                443,
                true,
                "Docker Hub: public base images",
            ));
            targets.push(Target::new(
                Scheme::Https,
                "github.com",
                443,
                false,
                "git dependencies only",
            ));
            targets
        } else {
            self.targets.clone()
        };
        let dns = if self.dns.is_empty() {
            DEFAULT_DNS
                .iter()
                .map(|ip| DnsServer(SocketAddr::new(IpAddr::V4(*ip), 53)))
                .collect()
        } else {
            self.dns.clone()
        };
        Ok(Plan {
            targets,
            dns,
            cargo,
            proxies: ProxyEnv::from_env(),
            timeout: self.timeout,
            skip: self.skip,
            ipv6_probe: self.ipv6_probe,
            resolv_conf: self.resolv_conf,
            dry_run: self.dry_run,
        })
    }
}

/// The checks `cargo xtask docker --network-test` runs before it builds, settled from the same
/// environment variables as `cargo xtask net-test` (`CV_NET_TEST_TARGETS`, …) when the build's
/// flags are checked, so a bad setting is refused before anything runs (and by `--dry-run`).
pub struct Preflight(Plan);

/// What the build about to run will fetch, so the default targets it does not need cannot stop
/// it: a build on local stand-in base images pulls nothing from Docker Hub, and an offline
/// build fetches nothing at all. Their checks still run and report, as warnings.
#[derive(Debug, Clone, Copy)]
pub struct BuildNeeds {
    /// Base images come from a registry (public base images, not `--offline`).
    pub pulls_base_images: bool,
    /// Crates are fetched inside the build (not `--offline`).
    pub fetches_crates: bool,
}

impl Preflight {
    pub fn from_env(needs: BuildNeeds) -> anyhow::Result<Preflight> {
        /// Parses `NetTest` from the environment alone.
        #[derive(Parser)]
        struct FromEnv {
            #[command(flatten)]
            net_test: NetTest,
        }
        let args = FromEnv::try_parse_from(["net-test"])
            .map_err(|e| anyhow::anyhow!("bad CV_NET_TEST_* setting: {}", e.to_string().trim()))?;
        let defaults = args.net_test.targets.is_empty();
        let mut plan = args.net_test.plan()?;
        // Targets the user named (CV_NET_TEST_TARGETS) are required as given.
        if defaults {
            for target in &mut plan.targets {
                let needed = if target.host == DOCKER_HUB {
                    needs.pulls_base_images
                } else {
                    needs.fetches_crates
                };
                if target.required && !needed {
                    target.required = false;
                    target.origin.push_str(if target.host == DOCKER_HUB {
                        "; not needed by this build (nothing is pulled)"
                    } else {
                        "; not needed by this build (--offline)"
                    });
                }
            }
        }
        Ok(Preflight(plan))
    }

    /// Runs the checks; an error when a fatal row says a build cannot proceed.
    pub fn run(&self, sh: &Shell) -> anyhow::Result<()> {
        eprintln!("network test before the build (cargo xtask net-test):");
        let report = self.0.execute(sh);
        eprint!("{report}");
        anyhow::ensure!(
            report.can_build,
            "network test: {}; nothing was built (run `cargo xtask net-test` for details)",
            report.verdict()
        );
        Ok(())
    }
}

impl fmt::Display for Preflight {
    /// One line for the plan `--dry-run` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = &self.0;
        write!(
            f,
            "before the build: cargo xtask net-test ({} targets, {} DNS servers, {} timeout; \
             CV_NET_TEST_* settings); a fatal row stops the build",
            plan.targets.len(),
            plan.dns.len(),
            duration_text(plan.timeout)
        )
    }
}

/// Everything settled: what to check and how.
struct Plan {
    targets: Vec<Target>,
    dns: Vec<DnsServer>,
    cargo: CargoSettings,
    proxies: ProxyEnv,
    timeout: Duration,
    skip: Vec<Area>,
    ipv6_probe: SocketAddr,
    resolv_conf: PathBuf,
    dry_run: bool,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "targets:")?;
        for t in &self.targets {
            let need = if t.required { "required" } else { "optional" };
            let via = match self.proxies.proxy_for(t) {
                Some(p) => format!(", via proxy {}", p.masked),
                None => String::new(),
            };
            writeln!(f, "  {t}  ({need}; {}{via})", t.origin)?;
        }
        let dns: Vec<String> = self.dns.iter().map(ToString::to_string).collect();
        writeln!(f, "dns servers: {}", dns.join(", "))?;
        writeln!(f, "timeout per step: {}", duration_text(self.timeout))?;
        writeln!(f, "ipv6 route probe: {} (nothing is sent)", self.ipv6_probe)?;
        if !self.skip.is_empty() {
            // The names as --skip takes them, not the enum's.
            let names: Vec<String> = self
                .skip
                .iter()
                .filter_map(|a| a.to_possible_value())
                .map(|v| v.get_name().to_owned())
                .collect();
            writeln!(f, "skipped: {}", names.join(", "))?;
        }
        Ok(())
    }
}

/// Prints one progress line per finished check on stderr.
fn progress(row: &Row) {
    let time = row
        .total_ms()
        .map(|ms| format!(" ({ms:.1} ms)"))
        .unwrap_or_default();
    eprintln!(
        "net-test: {:4} {} {}{time}",
        row.status.word(),
        row.check.name(),
        row.subject
    );
}

impl Plan {
    fn runs(&self, area: Area) -> bool {
        !self.skip.contains(&area)
    }

    fn execute(&self, sh: &Shell) -> Report {
        let (tls, trust) = tls_config();
        let names: Vec<String> = {
            let mut names: Vec<String> = Vec::new();
            for t in self.targets.iter().filter(|t| t.ip().is_none()) {
                if !names.contains(&t.host) {
                    names.push(t.host.clone());
                }
            }
            names
        };
        let mut rows = Vec::new();
        if self.runs(Area::Trust) {
            progress(&trust);
            rows.push(trust);
        }
        let (target_rows, dns_rows, proxy_rows, local_rows) = std::thread::scope(|scope| {
            let targets: Vec<_> = if self.runs(Area::Targets) {
                self.targets
                    .iter()
                    .map(|t| {
                        let tls = tls.clone();
                        scope.spawn(move || {
                            let route = Route {
                                proxy: self.proxies.proxy_for(t),
                                bypassed: self.proxies.bypassed(t),
                            };
                            probe_target(t, &route, &tls, self.timeout)
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let dns: Vec<_> = if self.runs(Area::Dns) {
                self.dns
                    .iter()
                    .map(|server| {
                        let names = &names;
                        scope.spawn(move || query_server(*server, names, self.timeout))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let proxies = self
                .runs(Area::Proxy)
                .then(|| scope.spawn(|| self.proxies.check(&self.cargo, self.timeout)));
            // The Shell is not shareable across threads: Docker and cargo run here meanwhile.
            let mut local = Vec::new();
            if self.runs(Area::Ipv6) {
                local.push(ipv6_route(self.ipv6_probe));
                progress(&local[local.len() - 1]);
            }
            if self.runs(Area::Docker) {
                for row in docker_rows(sh) {
                    progress(&row);
                    local.push(row);
                }
            }
            if self.runs(Area::Cargo) {
                for row in self.cargo.rows() {
                    progress(&row);
                    local.push(row);
                }
            }
            let join = |h: std::thread::ScopedJoinHandle<'_, Vec<Row>>| {
                h.join().unwrap_or_else(|_| {
                    vec![Row::new(Kind::Tcp, "?", Status::Fail, "a check panicked")]
                })
            };
            let targets: Vec<Row> = targets.into_iter().flat_map(join).collect();
            let dns: Vec<Row> = dns.into_iter().flat_map(join).collect();
            let proxies: Vec<Row> = proxies.into_iter().flat_map(join).collect();
            (targets, dns, proxies, local)
        });
        rows.extend(self.judge_dns(dns_rows));
        rows.extend(target_rows);
        rows.extend(proxy_rows);
        rows.extend(local_rows);
        Report::new(rows)
    }

    /// One DNS server failing is a warning. All of them failing is fatal only when containers
    /// would depend on them: Docker gives containers on the default bridge the host's name servers
    /// minus loopback ones, and public servers (8.8.8.8, 8.8.4.4) when none remain.
    fn judge_dns(&self, mut rows: Vec<Row>) -> Vec<Row> {
        let all_failed = !rows.is_empty() && rows.iter().all(|r| r.status == Status::Warn);
        if all_failed {
            let servers = resolv_conf_servers(&self.resolv_conf);
            if servers.iter().all(IpAddr::is_loopback) {
                for row in &mut rows {
                    row.status = Status::Fail;
                    row.hint = Some(format!(
                        "{} lists only loopback name servers, so containers fall back to public \
                         DNS, and none answers: give dockerd a reachable server (\"dns\" in \
                         /etc/docker/daemon.json)",
                        self.resolv_conf.display()
                    ));
                }
            }
        }
        rows
    }
}

/// The `nameserver` addresses of a resolv.conf (empty when unreadable).
fn resolv_conf_servers(path: &Path) -> Vec<IpAddr> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// DNS

/// Looks a name up through the system resolver (getaddrinfo), which has no timeout of its own:
/// it runs on a thread that is abandoned when the timeout passes.
fn system_lookup(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    let (tx, rx) = mpsc::channel();
    let query = (host.to_owned(), port);
    std::thread::spawn(move || {
        let result = query
            .to_socket_addrs()
            .map(Iterator::collect::<Vec<_>>)
            .map_err(|e| e.to_string());
        let _ = tx.send(result);
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if addrs.is_empty() => Err("no address".to_owned()),
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {}", duration_text(timeout))),
    }
}

/// Asks one server for the A records of every name, one UDP exchange per name.
fn query_server(server: DnsServer, names: &[String], timeout: Duration) -> Vec<Row> {
    let subject = server.to_string();
    if names.is_empty() {
        let row = Row::new(
            Kind::DnsServer,
            subject,
            Status::Skip,
            "no host names to look up",
        );
        progress(&row);
        return vec![row];
    }
    let started = Instant::now();
    let mut answers = Vec::new();
    let mut failures = Vec::new();
    for name in names {
        match dns_query(server.0, name, timeout) {
            Ok(ips) => answers.push(format!("{name} {}", ips[0])),
            Err(why) => failures.push(format!("{name}: {why}")),
        }
    }
    let took = started.elapsed();
    let row = if failures.is_empty() {
        Row::new(Kind::DnsServer, subject, Status::Pass, answers.join(", "))
    } else {
        Row::new(Kind::DnsServer, subject, Status::Warn, failures.join("; ")).hint(
            "builds use the system resolver; this server matters to containers only when the \
             host's resolv.conf lists loopback servers alone",
        )
    }
    .time("query", took);
    progress(&row);
    vec![row]
}

fn dns_query(server: SocketAddr, name: &str, timeout: Duration) -> Result<Vec<IpAddr>, String> {
    use hickory_proto::op::{Message, Query, ResponseCode};
    use hickory_proto::rr::{Name, RecordType};

    let fqdn = Name::from_ascii(format!("{name}.")).map_err(|e| format!("bad name: {e}"))?;
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(fqdn, RecordType::A));
    let bytes = query.to_vec().map_err(|e| e.to_string())?;

    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    socket.connect(server).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    socket.send(&bytes).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let len = socket.recv(&mut buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("no answer within {}", duration_text(timeout))
            }
            _ => e.to_string(),
        })?;
        let Ok(answer) = Message::from_vec(&buf[..len]) else {
            return Err("malformed answer".to_owned());
        };
        // A stray or late answer to another query is not ours: keep waiting for ours.
        if answer.metadata.id != query.metadata.id {
            if Instant::now() >= deadline {
                return Err("no matching answer".to_owned());
            }
            continue;
        }
        return match answer.metadata.response_code {
            ResponseCode::NoError => {
                let ips: Vec<IpAddr> = answer
                    .answers
                    .iter()
                    .filter_map(|r| r.data.ip_addr())
                    .collect();
                if ips.is_empty() {
                    Err("no A record".to_owned())
                } else {
                    Ok(ips)
                }
            }
            ResponseCode::NXDomain => Err("NXDOMAIN (no such name)".to_owned()),
            code => Err(format!("answered {code}")),
        };
    }
}

// ---------------------------------------------------------------------------------------------
// Targets: system DNS, TCP, TLS, one request

/// Trust: the system store (rustls-native-certs reads SSL_CERT_FILE and SSL_CERT_DIR too) plus
/// `CV_CA_BUNDLE`, the same extra bundle `cargo xtask docker` takes for intercepted TLS.
fn tls_config() -> (Arc<rustls::ClientConfig>, Row) {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (system, _) = roots.add_parsable_certificates(native.certs);
    let mut detail = format!("{system} certificates from the system store");
    let mut status = Status::Pass;
    let mut hint = None;
    if let Some(bundle) = std::env::var_os("CV_CA_BUNDLE").filter(|v| !v.is_empty()) {
        let bundle = PathBuf::from(bundle);
        match crate::retry::ca_bundle_certs(&bundle) {
            Ok(certs) => {
                let (added, _) = roots.add_parsable_certificates(certs);
                let _ = write!(detail, ", {added} from CV_CA_BUNDLE={}", bundle.display());
            }
            Err(why) => {
                status = Status::Fail;
                detail = format!("CV_CA_BUNDLE={} {why}", bundle.display());
                hint = Some(
                    "point CV_CA_BUNDLE at a PEM file of CA certificates, or unset it".to_owned(),
                );
            }
        }
    }
    if roots.is_empty() && status == Status::Pass {
        status = Status::Fail;
        detail = "no trusted CA certificate at all".to_owned();
        hint = Some("install ca-certificates, or set SSL_CERT_FILE or CV_CA_BUNDLE".to_owned());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .unwrap_or_else(|_| unreachable!("ring supports the default protocol versions"));
    let mut row = Row::new(Kind::Trust, "CA certificates", status, detail);
    row.hint = hint;
    (Arc::new(config), row)
}

/// How a target is reached: through `proxy`, or direct — and then `bypassed` names the proxy
/// variable that no_proxy stepped past, if any (so a hint does not say to set it).
struct Route<'a> {
    proxy: Option<&'a Proxy>,
    bypassed: Option<&'a str>,
}

/// What to do when the TCP connection failed; `addrs` are those dialled (the proxy's, through
/// one).
fn connect_hint(target: &Target, route: &Route<'_>, addrs: &[SocketAddr]) -> String {
    if let Some(p) = route.proxy {
        // The proxy is what failed: setting a proxy variable is not the fix.
        return format!(
            "the proxy {} (from {}) does not accept connections: fix the address in {} or \
             unset it",
            p.masked, p.source, p.source
        );
    }
    if !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()) {
        return format!(
            "nothing is listening at {} on this machine (a loopback address): start the service, \
             or check the port",
            target.authority()
        );
    }
    let var = match target.scheme {
        // tcp:// targets are dialled directly: a proxy variable would not change that.
        Scheme::Tcp => {
            return "a firewall, a dead host or nothing listening on that port".to_owned();
        }
        Scheme::Https => "HTTPS_PROXY",
        Scheme::Http => "HTTP_PROXY",
    };
    match route.bypassed {
        Some(set) => format!(
            "a firewall or a dead host: builds that fetch from here will fail; no_proxy sends \
             this host direct, past the proxy in {set}: take it out of no_proxy if it must go \
             through the proxy"
        ),
        None => format!(
            "a firewall or a dead host: builds that fetch from here will fail; if the network \
             needs a proxy, set {var}"
        ),
    }
}

/// DNS (system resolver), TCP and, for HTTP(S) targets, a request — for one target.
fn probe_target(
    target: &Target,
    route: &Route<'_>,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Vec<Row> {
    let proxy = route.proxy;
    let mut rows = Vec::new();
    let subject = target.to_string();
    let failed = Row::failed(target.required);
    let request_kind = match target.scheme {
        Scheme::Https => Some(Kind::Https),
        Scheme::Http => Some(Kind::Http),
        Scheme::Tcp => None,
    };
    let skip_rest = |rows: &mut Vec<Row>, why: &str| {
        for kind in std::iter::once(Kind::Tcp).chain(request_kind) {
            let row = Row::new(kind, subject.clone(), Status::Skip, why);
            progress(&row);
            rows.push(row);
        }
    };
    if let Some(proxy) = proxy.filter(|p| !p.can_tunnel()) {
        skip_rest(
            &mut rows,
            &format!(
                "goes through proxy {}, which this check cannot tunnel through",
                proxy.masked
            ),
        );
        return rows;
    }

    // Through a proxy the proxy resolves the name; a local lookup failure is then only a warning.
    let (dial_host, dial_port) = match proxy {
        Some(p) => (p.host.as_str(), p.port),
        None => (target.host.as_str(), target.port),
    };
    let mut addrs = Vec::new();
    if target.ip().is_none() {
        let started = Instant::now();
        let lookup = system_lookup(&target.host, target.port, timeout);
        let took = started.elapsed();
        let row = match &lookup {
            Ok(found) => {
                let mut ips: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
                ips.dedup();
                Row::new(Kind::DnsSystem, target.host.clone(), Status::Pass, ips.join(", "))
            }
            Err(why) => Row::new(
                Kind::DnsSystem,
                target.host.clone(),
                if proxy.is_some() { Status::Warn } else { failed },
                format!("lookup failed: {why}"),
            )
            .hint("check /etc/resolv.conf and the network's DNS; `--dns SERVER` tests servers directly"),
        }
        .time("resolve", took);
        progress(&row);
        rows.push(row);
        match lookup {
            Ok(found) => addrs = found,
            Err(_) if proxy.is_none() => {
                skip_rest(&mut rows, "the name did not resolve");
                return rows;
            }
            Err(_) => {}
        }
    } else if let Some(ip) = target.ip() {
        addrs.push(SocketAddr::new(ip, target.port));
    }
    if proxy.is_some() {
        match system_lookup(dial_host, dial_port, timeout) {
            Ok(found) => addrs = found,
            Err(why) => {
                skip_rest(
                    &mut rows,
                    &format!("proxy host {dial_host} did not resolve: {why}"),
                );
                return rows;
            }
        }
    }

    let via = proxy
        .map(|p| format!(" via proxy {}", p.masked))
        .unwrap_or_default();
    let started = Instant::now();
    let connected = connect_any(&addrs, timeout);
    let took = started.elapsed();
    let mut stream = match connected {
        Ok((stream, addr)) => {
            let row = Row::new(
                Kind::Tcp,
                subject.clone(),
                Status::Pass,
                format!("connected to {addr}{via}"),
            )
            .time("connect", took);
            progress(&row);
            rows.push(row);
            stream
        }
        Err(why) => {
            let row = Row::new(Kind::Tcp, subject.clone(), failed, format!("{why}{via}"))
                .time("connect", took)
                .hint(connect_hint(target, route, &addrs));
            progress(&row);
            rows.push(row);
            if let Some(kind) = request_kind {
                let row = Row::new(kind, subject, Status::Skip, "no TCP connection");
                progress(&row);
                rows.push(row);
            }
            return rows;
        }
    };
    let Some(kind) = request_kind else {
        return rows;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let row = match request(&mut stream, target, proxy, tls) {
        Ok(answer) => {
            let status = if answer.status >= 500 {
                Status::Warn
            } else {
                Status::Pass
            };
            let mut row = Row::new(
                kind,
                subject,
                status,
                format!("HTTP {}{}{via}", answer.status, answer.tls_note),
            );
            if status == Status::Warn {
                row.hint = Some("the server answered with an error: fetches may fail until it recovers (the retry layer retries 5xx)".to_owned());
            }
            row.timings_ms = answer.timings;
            row
        }
        Err(failure) => {
            let mut row = Row::new(kind, subject, failed, format!("{}{via}", failure.why));
            row.hint = Some(failure.hint);
            row.timings_ms = failure.timings;
            row
        }
    };
    progress(&row);
    rows.push(row);
    rows
}

fn connect_any(addrs: &[SocketAddr], timeout: Duration) -> Result<(TcpStream, SocketAddr), String> {
    let mut errors = Vec::new();
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => return Ok((stream, *addr)),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Err(format!("cannot connect: {}", errors.join("; ")))
}

struct Answer {
    status: u16,
    tls_note: String,
    timings: BTreeMap<&'static str, f64>,
}

struct RequestFailure {
    why: String,
    hint: String,
    timings: BTreeMap<&'static str, f64>,
}

/// Tunnels through the proxy (if any), shakes hands (HTTPS) and sends one GET, timing each phase.
fn request(
    stream: &mut TcpStream,
    target: &Target,
    proxy: Option<&Proxy>,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Answer, RequestFailure> {
    let mut timings = BTreeMap::new();
    let fail = |timings: &BTreeMap<&'static str, f64>, why: String, hint: &str| RequestFailure {
        why,
        hint: hint.to_owned(),
        timings: timings.clone(),
    };
    if let Some(proxy) = proxy {
        let started = Instant::now();
        let mut connect = format!(
            "CONNECT {auth} HTTP/1.1\r\nHost: {auth}\r\n",
            auth = target.authority()
        );
        if let Some(credentials) = &proxy.basic_auth {
            let _ = write!(connect, "Proxy-Authorization: Basic {credentials}\r\n");
        }
        connect.push_str("\r\n");
        let status = stream
            .write_all(connect.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|()| read_head(stream));
        timings.insert("tunnel", millis(started.elapsed()));
        match status {
            Ok(200) => {}
            Ok(code) => {
                let source = &proxy.source;
                let hint = match code {
                    407 => format!(
                        "the proxy wants credentials: put them in {source} \
                         (http://USER:PASSWORD@HOST:PORT)"
                    ),
                    403 => "the proxy does not allow this host: ask for it to be allowed, or use \
                            a mirror it allows"
                        .to_owned(),
                    _ => format!(
                        "the proxy cannot tunnel to this host (CONNECT); check that {source} names \
                         an HTTP proxy that allows it"
                    ),
                };
                return Err(fail(
                    &timings,
                    format!("the proxy refused the tunnel: HTTP {code}"),
                    &hint,
                ));
            }
            Err(why) => {
                return Err(fail(
                    &timings,
                    format!("proxy tunnel failed: {why}"),
                    &format!("check the proxy named in {}", proxy.source),
                ));
            }
        }
    }
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: cargo-xtask-net-test\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        path = target.path,
        host = if (target.scheme, target.port) == (Scheme::Https, 443)
            || (target.scheme, target.port) == (Scheme::Http, 80)
        {
            target
                .authority()
                .rsplit_once(':')
                .map(|(h, _)| h.to_owned())
                .unwrap_or_default()
        } else {
            target.authority()
        }
    );
    if target.scheme == Scheme::Http {
        let started = Instant::now();
        let status = stream
            .write_all(head.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|()| read_head(stream));
        timings.insert("response", millis(started.elapsed()));
        return match status {
            Ok(status) => Ok(Answer {
                status,
                tls_note: String::new(),
                timings,
            }),
            Err(why) => Err(fail(
                &timings,
                format!("no HTTP answer: {why}"),
                "the port is open but does not speak HTTP, or answers too slowly",
            )),
        };
    }

    let name = match rustls::pki_types::ServerName::try_from(target.host.clone()) {
        Ok(name) => name,
        Err(e) => {
            return Err(fail(
                &timings,
                format!("not a valid TLS server name: {e}"),
                "give a DNS name or an IP address",
            ));
        }
    };
    let mut conn = match rustls::ClientConnection::new(tls.clone(), name) {
        Ok(conn) => conn,
        Err(e) => {
            return Err(fail(
                &timings,
                format!("TLS setup: {e}"),
                "report this as a bug",
            ));
        }
    };
    let started = Instant::now();
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(stream) {
            timings.insert("tls", millis(started.elapsed()));
            let (why, hint) = explain_tls(&e);
            return Err(fail(&timings, why, &hint));
        }
    }
    timings.insert("tls", millis(started.elapsed()));
    let tls_note = format!(
        " ({}, {})",
        conn.protocol_version()
            .map(|v| format!("{v:?}").replace("TLSv1_", "TLS 1."))
            .unwrap_or_default(),
        conn.negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default()
    );
    let started = Instant::now();
    let mut tls_stream = rustls::Stream::new(&mut conn, stream);
    let status = tls_stream
        .write_all(head.as_bytes())
        .map_err(|e| e.to_string())
        .and_then(|()| read_head(&mut tls_stream));
    timings.insert("response", millis(started.elapsed()));
    match status {
        Ok(status) => Ok(Answer {
            status,
            tls_note,
            timings,
        }),
        Err(why) => Err(fail(
            &timings,
            format!("no HTTP answer over TLS: {why}"),
            "the server accepted TLS but sent no HTTP answer in time",
        )),
    }
}

/// Reads an HTTP response head and returns its status code.
fn read_head(stream: &mut impl Read) -> Result<u16, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("timed out waiting for the answer".to_owned());
            }
            Err(e) => return Err(e.to_string()),
        };
        if n == 0 {
            return Err("the connection closed before an HTTP answer".to_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                return response.code.ok_or_else(|| "no status code".to_owned());
            }
            Ok(httparse::Status::Partial) if buf.len() < 64 * 1024 => {}
            Ok(httparse::Status::Partial) => return Err("answer head over 64 KiB".to_owned()),
            Err(e) => return Err(format!("not an HTTP answer ({e})")),
        }
    }
}

/// Says what a handshake failure means; an untrusted certificate is the common case behind
/// TLS-intercepting proxies, and has a known fix.
fn explain_tls(err: &std::io::Error) -> (String, String) {
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(cert)) => (
            format!("TLS handshake: certificate not trusted ({cert:?})"),
            "if this network intercepts TLS, pass its CA: CV_CA_BUNDLE=FILE (also given to \
             `cargo xtask docker --ca-bundle`) or SSL_CERT_FILE"
                .to_owned(),
        ),
        // What a plain HTTP server's answer to a ClientHello looks like to rustls.
        Some(other @ rustls::Error::InvalidMessage(_)) => (
            format!("TLS handshake: {other}"),
            "the port answered, but not with TLS: for a plain HTTP server write the target as \
             http://HOST:PORT/"
                .to_owned(),
        ),
        Some(other) => (
            format!("TLS handshake: {other}"),
            "the server or something in between broke the handshake".to_owned(),
        ),
        None if matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) =>
        {
            (
                "TLS handshake timed out".to_owned(),
                "the port accepts connections but does not answer TLS in time".to_owned(),
            )
        }
        None => (
            format!("TLS handshake: {err}"),
            "the connection broke during the handshake: is this port serving TLS? For a plain \
             HTTP server write the target as http://HOST:PORT/"
                .to_owned(),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Proxies

/// One proxy variable (or cargo's http.proxy), parsed.
#[derive(Debug, Clone)]
struct Proxy {
    /// Where it was set, e.g. `HTTPS_PROXY`.
    source: String,
    scheme: String,
    host: String,
    port: u16,
    /// `user:password` in base64, for `Proxy-Authorization`.
    basic_auth: Option<String>,
    /// The URL with any credentials replaced by `***`, safe to print.
    masked: String,
}

impl Proxy {
    fn parse(source: &str, raw: &str) -> Result<Proxy, String> {
        let unparseable = || {
            // The raw value may hold a password: never echo it.
            format!(
                "{source} is set but is not a proxy URL ({} characters); write http://[user:password@]host:port",
                raw.len()
            )
        };
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("http://{raw}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|_| unparseable())?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(unparseable)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        // Without a port curl (and so cargo) dials 1080. The url crate hides an explicit port
        // equal to the scheme's default (`http://proxy:80`), so that case is read from the text.
        let authority = with_scheme
            .split_once("://")
            .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let explicit_port = host_port
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.ends_with('[') && port.parse::<u16>().is_ok());
        let port = match url.port() {
            Some(port) => port,
            None if explicit_port => url.port_or_known_default().unwrap_or(1080),
            None => 1080,
        };
        let basic_auth = (!url.username().is_empty()).then(|| {
            let user = percent_decode(url.username());
            let pass = url.password().map(percent_decode).unwrap_or_default();
            data_encoding::BASE64.encode(format!("{user}:{pass}").as_bytes())
        });
        let mut masked = url.clone();
        if !url.username().is_empty() || url.password().is_some() {
            let _ = masked.set_username("***");
            let _ = masked.set_password(None);
        }
        Ok(Proxy {
            source: source.to_owned(),
            scheme: url.scheme().to_owned(),
            host,
            port,
            basic_auth,
            masked: masked.to_string().trim_end_matches('/').to_owned(),
        })
    }

    /// Only plain-HTTP proxies are tunnelled through (CONNECT); socks and TLS proxies are not.
    fn can_tunnel(&self) -> bool {
        self.scheme == "http"
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The proxy variables as curl (and so cargo) reads them: lowercase first, then uppercase.
#[derive(Debug, Clone, Default)]
struct ProxyEnv {
    /// (variable, value) of every set `*_proxy` variable.
    set: Vec<(String, String)>,
    https: Option<Result<Proxy, String>>,
    http: Option<Result<Proxy, String>>,
    no_proxy: Vec<String>,
}

impl ProxyEnv {
    fn from_env() -> ProxyEnv {
        Self::from_vars(&utf8_vars())
    }

    fn from_vars(vars: &BTreeMap<String, String>) -> ProxyEnv {
        let names = [
            "https_proxy",
            "HTTPS_PROXY",
            "http_proxy",
            "HTTP_PROXY",
            "all_proxy",
            "ALL_PROXY",
            "no_proxy",
            "NO_PROXY",
        ];
        let set: Vec<(String, String)> = names
            .iter()
            .filter_map(|n| {
                vars.get(*n)
                    .filter(|v| !v.is_empty())
                    .map(|v| ((*n).to_owned(), v.clone()))
            })
            .collect();
        let first = |candidates: &[&str]| {
            candidates.iter().find_map(|n| {
                vars.get(*n)
                    .filter(|v| !v.is_empty())
                    .map(|v| Proxy::parse(n, v))
            })
        };
        let no_proxy = first_value(vars, &["no_proxy", "NO_PROXY"])
            .map(|v| {
                v.split(',')
                    .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        ProxyEnv {
            set,
            https: first(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]),
            http: first(&["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]),
            no_proxy,
        }
    }

    /// The proxy set for this target's scheme, NO_PROXY not considered.
    fn scheme_proxy(&self, target: &Target) -> Option<&Proxy> {
        match target.scheme {
            Scheme::Https => self.https.as_ref(),
            Scheme::Http => self.http.as_ref(),
            Scheme::Tcp => None,
        }?
        .as_ref()
        .ok()
    }

    fn no_proxy_matches(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.no_proxy
            .iter()
            .any(|e| e == "*" || host == *e || host.ends_with(&format!(".{e}")))
    }

    /// The proxy a fetch of this target goes through, if any (NO_PROXY honoured).
    fn proxy_for(&self, target: &Target) -> Option<&Proxy> {
        let proxy = self.scheme_proxy(target)?;
        (!self.no_proxy_matches(&target.host)).then_some(proxy)
    }

    /// The variable of the proxy NO_PROXY sends this target past, if one is set.
    fn bypassed(&self, target: &Target) -> Option<&str> {
        let proxy = self.scheme_proxy(target)?;
        self.no_proxy_matches(&target.host)
            .then_some(proxy.source.as_str())
    }

    /// One row per set variable; each named proxy must accept a TCP connection.
    fn check(&self, cargo: &CargoSettings, timeout: Duration) -> Vec<Row> {
        let mut rows = Vec::new();
        let mut candidates: Vec<(String, String)> = self.set.clone();
        if let Some(value) = cargo.get("http.proxy").filter(|v| !v.value.is_empty()) {
            candidates.push((
                format!("cargo http.proxy ({})", value.origin),
                value.value.clone(),
            ));
        }
        if candidates.is_empty() {
            let row = Row::new(
                Kind::Proxy,
                "environment",
                Status::Pass,
                "no proxy variables set: connections go direct",
            );
            progress(&row);
            return vec![row];
        }
        // With `no_proxy=*` every connection goes direct (curl, and so cargo, honour it for
        // http.proxy too): a broken proxy then stops nothing, and is only worth a warning.
        let unused = self.no_proxy.iter().any(|e| e == "*");
        for (name, value) in candidates {
            let row = if name.eq_ignore_ascii_case("no_proxy") {
                Row::new(
                    Kind::Proxy,
                    name,
                    Status::Pass,
                    format!("bypassed for: {value}"),
                )
            } else {
                match Proxy::parse(&name, &value) {
                    Err(why) => Row::new(Kind::Proxy, name, Status::Fail, why)
                        .hint("fix or unset the variable: every fetch through it fails"),
                    Ok(proxy) => {
                        let started = Instant::now();
                        let reached = system_lookup(&proxy.host, proxy.port, timeout)
                            .and_then(|addrs| connect_any(&addrs, timeout));
                        let took = started.elapsed();
                        match reached {
                            Ok((_, addr)) => Row::new(
                                Kind::Proxy,
                                proxy.source.clone(),
                                Status::Pass,
                                format!("{} accepts connections ({addr})", proxy.masked),
                            ),
                            Err(why) => Row::new(
                                Kind::Proxy,
                                proxy.source.clone(),
                                Status::Fail,
                                format!("{}: {why}", proxy.masked),
                            )
                            .hint("every fetch through this proxy will fail: fix the address or unset the variable"),
                        }
                        .time("connect", took)
                    }
                }
            };
            let row = if unused && row.status == Status::Fail {
                Row {
                    status: Status::Warn,
                    detail: format!(
                        "{} (unused: no_proxy=* sends every connection direct)",
                        row.detail
                    ),
                    hint: Some(
                        "nothing goes through it while no_proxy is *: fix or unset it before \
                         narrowing no_proxy"
                            .to_owned(),
                    ),
                    ..row
                }
            } else {
                row
            };
            progress(&row);
            rows.push(row);
        }
        rows
    }
}

fn first_value(vars: &BTreeMap<String, String>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| vars.get(*n).filter(|v| !v.is_empty()).cloned())
}

// ---------------------------------------------------------------------------------------------
// IPv6 and Docker

/// Asks the kernel for a route: `connect` on a UDP socket picks a source address and sends nothing.
fn ipv6_route(probe: SocketAddr) -> Row {
    let subject = format!("route to {probe}");
    let outcome = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))
        .map_err(|e| format!("no IPv6 socket ({e}): IPv6 is disabled here"))
        .and_then(|s| {
            s.connect(probe)
                .map_err(|e| format!("no route: {e}"))
                .and_then(|()| s.local_addr().map_err(|e| e.to_string()))
        });
    match outcome {
        Ok(local) => Row::new(
            Kind::Ipv6,
            subject,
            Status::Pass,
            format!("source address {}", local.ip()),
        ),
        Err(why) => Row::new(Kind::Ipv6, subject, Status::Warn, why)
            .hint("builds work over IPv4; only IPv6-only hosts would be out of reach"),
    }
}

/// The daemon and the builder it offers, through the same detection `cargo xtask docker` uses.
fn docker_rows(sh: &Shell) -> Vec<Row> {
    let address = engine::docker_daemon_address();
    let docker = engine::candidates("docker");
    let podman_only = docker.is_empty() && !engine::candidates("podman").is_empty();
    if docker.is_empty() && !podman_only {
        return vec![
            Row::new(
                Kind::DockerDaemon,
                address,
                Status::Fail,
                "no docker client on PATH",
            )
            .hint("install Docker Engine (scripts/setup-machine.sh) or podman"),
        ];
    }
    let started = Instant::now();
    let daemon = if podman_only {
        Ok("podman".to_owned())
    } else {
        engine::server_version(sh, &docker[0])
    };
    let took = started.elapsed();
    let mut rows = Vec::new();
    match daemon {
        Ok(version) => rows.push(
            Row::new(
                Kind::DockerDaemon,
                address.clone(),
                Status::Pass,
                format!("engine {version} answers"),
            )
            .time("query", took),
        ),
        Err(e) => {
            rows.push(
                Row::new(Kind::DockerDaemon, address, Status::Fail, format!("{e:#}"))
                    .time("query", took)
                    .hint("start the daemon or point DOCKER_HOST at a running one"),
            );
            return rows;
        }
    }
    let wanted = if podman_only {
        EngineKind::Podman
    } else {
        EngineKind::Docker
    };
    let started = Instant::now();
    let detected = engine::detect(sh, Some(wanted));
    let took = started.elapsed();
    let row = match detected {
        Ok(d) => {
            let what = match &d.builder {
                Builder::Buildx { version } => format!("buildx ({version})"),
                Builder::ClassicBuildKit => "BuildKit through DOCKER_BUILDKIT=1 (no buildx)".to_owned(),
                Builder::Podman => "podman build (Buildah)".to_owned(),
            };
            Row::new(Kind::DockerBuilder, d.client.display().to_string(), Status::Pass, what)
        }
        Err(e) => Row::new(
            Kind::DockerBuilder,
            docker.first().map(|c| c.display().to_string()).unwrap_or_default(),
            Status::Fail,
            format!("legacy builder only: {e:#}"),
        )
        .hint("the Dockerfiles need BuildKit (RUN --mount): install the buildx plugin or Debian's docker.io"),
    }
    .time("probe", took);
    rows.push(row);
    rows
}

// ---------------------------------------------------------------------------------------------
// Cargo's effective network settings

/// A setting's value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting {
    value: String,
    /// `env CARGO_…`, a config file path, or `default`.
    origin: String,
    /// Directory relative paths in the value are relative to.
    base: PathBuf,
}

/// What cargo would use, read the way cargo reads it: `CARGO_*` variables first, then
/// `.cargo/config.toml` from the current directory up to the root, then `$CARGO_HOME/config.toml`.
#[derive(Debug, Clone, Default)]
struct CargoSettings {
    /// Config files found, deepest first, with their parsed tables.
    files: Vec<(PathBuf, toml::Table)>,
    /// Files cargo would refuse to read.
    errors: Vec<(PathBuf, String)>,
    env: BTreeMap<String, String>,
    cwd: PathBuf,
}

/// The settings reported: (dotted key, default).
const CARGO_KEYS: [(&str, &str); 6] = [
    ("net.retry", "3"),
    ("net.offline", "false"),
    ("http.timeout", "30"),
    ("http.proxy", ""),
    ("http.cainfo", ""),
    ("net.git-fetch-with-cli", "false"),
];

impl CargoSettings {
    fn load(cwd: &Path, env: &BTreeMap<String, String>) -> CargoSettings {
        let mut settings = CargoSettings {
            env: env.clone(),
            cwd: cwd.to_path_buf(),
            ..CargoSettings::default()
        };
        let cargo_home = env
            .get("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".cargo")));
        let mut candidates: Vec<PathBuf> = cwd.ancestors().map(|d| d.join(".cargo")).collect();
        if let Some(home) = cargo_home {
            candidates.push(home);
        }
        let mut seen = Vec::new();
        for dir in candidates {
            let real = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
            if seen.contains(&real) {
                continue;
            }
            seen.push(real);
            // Cargo reads `config.toml`, or the older extension-less `config` when that is absent.
            let file = [dir.join("config.toml"), dir.join("config")]
                .into_iter()
                .find(|f| f.is_file());
            let Some(file) = file else { continue };
            match std::fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|text| text.parse::<toml::Table>().map_err(|e| e.to_string()))
            {
                Ok(table) => settings.files.push((file, table)),
                Err(why) => settings
                    .errors
                    .push((file, why.lines().next().unwrap_or("").to_owned())),
            }
        }
        settings
    }

    fn lookup(table: &toml::Table, key: &str) -> Option<toml::Value> {
        let mut parts = key.split('.');
        let mut value = table.get(parts.next()?)?;
        for part in parts {
            value = value.as_table()?.get(part)?;
        }
        Some(value.clone())
    }

    /// The effective value of a dotted key, or None when nothing sets it.
    fn get(&self, key: &str) -> Option<Setting> {
        let env_name = format!(
            "CARGO_{}",
            key.replace(['.', '-'], "_").to_ascii_uppercase()
        );
        if let Some(value) = self.env.get(&env_name) {
            return Some(Setting {
                value: value.clone(),
                origin: format!("env {env_name}"),
                base: self.cwd.clone(),
            });
        }
        self.files.iter().find_map(|(file, table)| {
            Self::lookup(table, key).map(|v| Setting {
                value: match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                },
                origin: file.display().to_string(),
                // Relative paths in a config file are relative to the directory holding `.cargo`.
                base: file
                    .parent()
                    .and_then(Path::parent)
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
            })
        })
    }

    /// The hosts cargo fetches crates from: crates.io, or what replaces it, plus named registries.
    fn registry_targets(&self) -> Vec<Target> {
        let mut targets = Vec::new();
        let mut push = |url: &str, origin: String| {
            let url = url
                .trim_start_matches("sparse+")
                .trim_start_matches("registry+");
            if let Ok(parsed) = url::Url::parse(url)
                && let (Some(host), Some(port)) =
                    (parsed.host_str(), parsed.port_or_known_default())
            {
                let scheme = if parsed.scheme() == "http" {
                    Scheme::Http
                } else {
                    Scheme::Https
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if !targets
                    .iter()
                    .any(|t: &Target| t.host == host && t.port == port)
                {
                    targets.push(Target::new(scheme, host, port, true, &origin));
                }
            }
        };
        match self.crates_io_source() {
            Source::CratesIo => {
                push("https://index.crates.io/", "crates.io index".to_owned());
                push(
                    "https://static.crates.io/",
                    "crates.io downloads".to_owned(),
                );
            }
            Source::Registry { name, url } => {
                push(&url, format!("replaces crates.io: source.{name}"))
            }
            Source::Local { .. } | Source::Unknown { .. } => {}
        }
        for (_, table) in &self.files {
            if let Some(registries) = table.get("registries").and_then(toml::Value::as_table) {
                for (name, registry) in registries {
                    if let Some(index) = registry.get("index").and_then(toml::Value::as_str) {
                        push(index, format!("registry {name}"));
                    }
                }
            }
        }
        targets
    }

    /// Follows `source.crates-io.replace-with` to where crates really come from.
    fn crates_io_source(&self) -> Source {
        let mut name = "crates-io".to_owned();
        for _ in 0..8 {
            let key = |field: &str| self.get(&format!("source.{name}.{field}")).map(|s| s.value);
            if let Some(next) = key("replace-with") {
                name = next;
                continue;
            }
            if name == "crates-io" {
                return Source::CratesIo;
            }
            if let Some(url) = key("registry") {
                return Source::Registry { name, url };
            }
            if let Some(dir) = key("directory").or_else(|| key("local-registry")) {
                return Source::Local { name, dir };
            }
            return Source::Unknown { name };
        }
        Source::Unknown { name }
    }

    fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for (file, why) in &self.errors {
            rows.push(
                Row::new(
                    Kind::Cargo,
                    file.display().to_string(),
                    Status::Fail,
                    format!("cargo cannot parse it: {why}"),
                )
                .hint("fix the TOML: cargo refuses to run with a broken config file"),
            );
        }
        for (key, default) in CARGO_KEYS {
            let setting = self.get(key);
            let (value, origin) = match &setting {
                Some(s) => (s.value.clone(), s.origin.clone()),
                None => (default.to_owned(), "default".to_owned()),
            };
            let shown = if key == "http.proxy" && !value.is_empty() {
                Proxy::parse(key, &value)
                    .map(|p| p.masked)
                    .unwrap_or_else(|_| "(unparseable)".to_owned())
            } else if value.is_empty() {
                "unset".to_owned()
            } else {
                value.clone()
            };
            let detail = format!("{shown} ({origin})");
            let row = match key {
                "net.retry" => match value.parse::<u32>() {
                    Err(_) => Row::new(Kind::Cargo, key, Status::Fail, detail).hint("net.retry must be a whole number"),
                    Ok(0) => Row::new(Kind::Cargo, key, Status::Warn, detail)
                        .hint("cargo will not retry spurious network errors; 2 to 5 survives flaky networks"),
                    Ok(_) => Row::new(Kind::Cargo, key, Status::Pass, detail),
                },
                "http.timeout" => match value.parse::<u64>() {
                    Err(_) => Row::new(Kind::Cargo, key, Status::Fail, detail).hint("http.timeout must be whole seconds"),
                    Ok(_) => Row::new(Kind::Cargo, key, Status::Pass, detail),
                },
                "net.offline" | "net.git-fetch-with-cli" => match value.as_str() {
                    "true" if key == "net.offline" => Row::new(Kind::Cargo, key, Status::Warn, detail)
                        .hint("cargo will not fetch: crates must come from vendor/ (cargo xtask vendor) or its cache"),
                    "true" | "false" => Row::new(Kind::Cargo, key, Status::Pass, detail),
                    _ => Row::new(Kind::Cargo, key, Status::Fail, detail).hint("must be true or false"),
                },
                "http.cainfo" => match setting.as_ref().filter(|s| !s.value.is_empty()) {
                    Some(s) if !s.base.join(&s.value).is_file() => Row::new(
                        Kind::Cargo,
                        key,
                        Status::Fail,
                        format!("{} does not exist ({origin})", s.base.join(&s.value).display()),
                    )
                    .hint("cargo fails every fetch with a missing CA file: fix the path or unset it"),
                    _ => Row::new(Kind::Cargo, key, Status::Pass, detail),
                },
                _ => Row::new(Kind::Cargo, key, Status::Pass, detail),
            };
            rows.push(row);
        }
        let source = match self.crates_io_source() {
            Source::CratesIo => Row::new(Kind::Cargo, "source.crates-io", Status::Pass, "crates.io (index.crates.io, static.crates.io)"),
            Source::Registry { name, url } => Row::new(Kind::Cargo, "source.crates-io", Status::Pass, format!("replaced by source.{name}: {url}")),
            Source::Local { name, dir } => Row::new(
                Kind::Cargo,
                "source.crates-io",
                Status::Pass,
                format!("replaced by source.{name}: local {dir} (cargo needs no network for crates)"),
            ),
            Source::Unknown { name } => Row::new(
                Kind::Cargo,
                "source.crates-io",
                Status::Fail,
                format!("replaced by source.{name}, which names no registry, directory or local-registry"),
            )
            .hint("cargo refuses an undefined replacement source: define it or drop replace-with"),
        };
        rows.push(source);
        rows
    }
}

/// Where crates.io's crates come from after source replacement.
enum Source {
    CratesIo,
    Registry { name: String, url: String },
    Local { name: String, dir: String },
    Unknown { name: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docker --network-test` requires only what the build will fetch: Docker Hub when it pulls
    /// public base images, the crate registries unless it is offline. The rest stay as warnings.
    #[test]
    fn the_preflight_requires_only_what_the_build_fetches() {
        if std::env::var_os("CV_NET_TEST_TARGETS").is_some() {
            eprintln!("skipped: CV_NET_TEST_TARGETS is set, so the default targets are not used");
            return;
        }
        let required = |pulls_base_images, fetches_crates| {
            let needs = BuildNeeds {
                pulls_base_images,
                fetches_crates,
            };
            let Preflight(plan) = Preflight::from_env(needs).unwrap();
            let mut hosts: Vec<(String, bool)> = plan
                .targets
                .iter()
                .filter(|t| t.host != "github.com")
                .map(|t| (t.host.clone(), t.required))
                .collect();
            hosts.sort();
            hosts
        };
        let hub = |all: &[(String, bool)]| all.iter().find(|(h, _)| h == DOCKER_HUB).unwrap().1;
        let crates = |all: &[(String, bool)]| {
            let rows: Vec<bool> = all
                .iter()
                .filter(|(h, _)| h != DOCKER_HUB)
                .map(|(_, r)| *r)
                .collect();
            assert!(!rows.is_empty(), "no registry targets in {all:?}");
            rows
        };
        let public = required(true, true);
        assert!(
            hub(&public) && crates(&public).iter().all(|r| *r),
            "{public:?}"
        );
        let standin = required(false, true);
        assert!(
            !hub(&standin) && crates(&standin).iter().all(|r| *r),
            "{standin:?}"
        );
        let offline = required(false, false);
        assert!(
            !hub(&offline) && crates(&offline).iter().all(|r| !r),
            "{offline:?}"
        );
    }

    #[test]
    fn targets_parse_with_and_without_scheme() {
        let t: Target = "index.crates.io:443".parse().unwrap();
        assert_eq!(
            (t.scheme, t.host.as_str(), t.port, t.path.as_str()),
            (Scheme::Https, "index.crates.io", 443, "/")
        );
        let t: Target = "http://127.0.0.1:5000/v2/".parse().unwrap();
        assert_eq!(
            (t.scheme, t.port, t.path.as_str()),
            (Scheme::Http, 5000, "/v2/")
        );
        let t: Target = "tcp://[::1]:22".parse().unwrap();
        assert_eq!(
            (t.scheme, t.host.as_str(), t.to_string().as_str()),
            (Scheme::Tcp, "::1", "tcp://[::1]:22")
        );
        assert!(
            "tcp://example.com"
                .parse::<Target>()
                .unwrap_err()
                .contains("has no port")
        );
        assert!(
            "ftp://x:1"
                .parse::<Target>()
                .unwrap_err()
                .contains("scheme")
        );
        assert!(
            "u:p@x:1"
                .parse::<Target>()
                .unwrap_err()
                .contains("credentials")
        );
    }

    #[test]
    fn host_names_are_checked_and_ipv6_needs_brackets() {
        assert!(check_host_name("index.crates.io").is_ok());
        assert!(
            check_host_name("index.crates.io.").is_ok(),
            "a fully qualified name"
        );
        assert!(check_host_name("_dmarc.x-y.example").is_ok());
        assert!(check_host_name("a..b").unwrap_err().contains("empty label"));
        assert!(check_host_name(".a").unwrap_err().contains("empty label"));
        let long = format!("{}.example", "a".repeat(64));
        assert!(
            check_host_name(&long)
                .unwrap_err()
                .contains("64 characters")
        );
        assert!(check_host_name(&format!("{}.example", "a".repeat(63))).is_ok());
        assert!(check_host_name("a b").unwrap_err().contains("' '"));
        assert_eq!(
            unbracketed_ipv6("https://::1:80").as_deref(),
            Some("has an IPv6 address without brackets: write [::1]:80")
        );
        assert_eq!(
            unbracketed_ipv6("tcp://fe80::x:y").as_deref(),
            Some("has an IPv6 address without brackets: write [ADDRESS]:PORT")
        );
        assert_eq!(unbracketed_ipv6("tcp://[::1]:80"), None);
        assert_eq!(unbracketed_ipv6("https://host:443/a:b:c"), None);
    }

    #[test]
    fn passwords_in_targets_are_masked() {
        assert_eq!(mask_userinfo("https://u:p@h:1/x"), "https://***@h:1/x");
        assert_eq!(mask_userinfo("u:p/q@h:1"), "***@h:1");
        assert_eq!(mask_userinfo("h:1"), "h:1");
        let err = "http://u:secret@h:1".parse::<Target>().unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn the_ipv6_probe_must_be_ipv6_and_durations_read_well() {
        assert!(parse_ipv6_probe("[::1]:53").is_ok());
        assert!(
            parse_ipv6_probe("127.0.0.1:53")
                .unwrap_err()
                .contains("IPv4")
        );
        assert!(parse_ipv6_probe("::1").is_err());
        assert_eq!(duration_text(Duration::from_secs(5)), "5.0 s");
        assert_eq!(duration_text(Duration::from_millis(900)), "900 ms");
        assert_eq!(duration_text(Duration::from_secs_f64(0.001)), "1 ms");
        assert_eq!(duration_text(Duration::from_micros(250)), "0.250 ms");
    }

    #[test]
    fn connect_hints_fit_the_route() {
        let https: Target = "crates.example:443".parse().unwrap();
        let public = [SocketAddr::from(([192, 0, 2, 1], 443))];
        let direct = Route {
            proxy: None,
            bypassed: None,
        };
        assert!(connect_hint(&https, &direct, &public).ends_with("set HTTPS_PROXY"));
        let http: Target = "http://crates.example/".parse().unwrap();
        assert!(connect_hint(&http, &direct, &public).ends_with("set HTTP_PROXY"));
        let bypassed = Route {
            proxy: None,
            bypassed: Some("HTTPS_PROXY"),
        };
        let hint = connect_hint(&https, &bypassed, &public);
        assert!(hint.contains("no_proxy sends this host direct"), "{hint}");
        assert!(!hint.contains("set HTTPS_PROXY"), "{hint}");
        let proxy = Proxy::parse("https_proxy", "http://u:pw@proxy.corp:3128").unwrap();
        let via = Route {
            proxy: Some(&proxy),
            bypassed: None,
        };
        let hint = connect_hint(&https, &via, &public);
        assert!(
            hint.starts_with("the proxy http://***@proxy.corp:3128 (from https_proxy)"),
            "{hint}"
        );
        let tcp: Target = "tcp://crates.example:22".parse().unwrap();
        assert!(!connect_hint(&tcp, &direct, &public).contains("PROXY"));
    }

    /// A name the system resolver refuses: a label over 63 bytes, which glibc refuses before
    /// sending any query (checked with strace). `--target` refuses it up front, so only a target
    /// made here reaches the lookup.
    #[test]
    fn a_failed_system_lookup_is_fatal_for_a_required_target_and_skips_the_rest() {
        let bad_host = format!("{}.example", "a".repeat(64));
        let target = Target::new(Scheme::Https, &bad_host, 443, true, "test");
        let (tls, _) = tls_config();
        let direct = Route {
            proxy: None,
            bypassed: None,
        };
        let rows = probe_target(&target, &direct, &tls, Duration::from_secs(2));
        let summary: Vec<(Kind, Status)> = rows.iter().map(|r| (r.check, r.status)).collect();
        assert_eq!(
            summary,
            [
                (Kind::DnsSystem, Status::Fail),
                (Kind::Tcp, Status::Skip),
                (Kind::Https, Status::Skip),
            ]
        );
        assert!(
            rows[0].detail.starts_with("lookup failed: "),
            "{}",
            rows[0].detail
        );
        assert!(rows[0].timings_ms.contains_key("resolve"));
        assert!(!Report::new(rows).can_build);
    }

    #[test]
    fn dns_servers_parse() {
        assert_eq!(
            "1.1.1.1".parse::<DnsServer>().unwrap().0,
            "1.1.1.1:53".parse().unwrap()
        );
        assert_eq!(
            "127.0.0.1:5353".parse::<DnsServer>().unwrap().to_string(),
            "127.0.0.1:5353"
        );
        assert_eq!(
            "[::1]".parse::<DnsServer>().unwrap().0,
            "[::1]:53".parse().unwrap()
        );
        assert!("dns.google".parse::<DnsServer>().is_err());
        assert!(
            "127.0.0.1:0"
                .parse::<DnsServer>()
                .unwrap_err()
                .contains("port 0")
        );
    }

    #[test]
    fn proxy_credentials_are_masked_and_sent_as_basic_auth() {
        let p = Proxy::parse("HTTPS_PROXY", "http://alice:s%40cret@proxy.corp:3128").unwrap();
        assert_eq!(p.masked, "http://***@proxy.corp:3128");
        assert_eq!(
            p.basic_auth.as_deref(),
            Some(data_encoding::BASE64.encode(b"alice:s@cret").as_str())
        );
        let p = Proxy::parse("http_proxy", "proxy.corp").unwrap();
        assert_eq!((p.port, p.masked.as_str()), (1080, "http://proxy.corp"));
        assert_eq!(
            Proxy::parse("HTTP_PROXY", "http://proxy.corp:80")
                .unwrap()
                .port,
            80
        );
        assert_eq!(
            Proxy::parse("HTTP_PROXY", "http://[::1]").unwrap().port,
            1080
        );
        assert_eq!(
            Proxy::parse("HTTP_PROXY", "http://[::1]:3128/")
                .unwrap()
                .port,
            3128
        );
        let err = Proxy::parse("HTTPS_PROXY", "http://bob:hunter2@").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn no_proxy_bypasses_suffixes() {
        let vars: BTreeMap<String, String> = [
            ("HTTPS_PROXY", "http://p:3128"),
            ("no_proxy", ".crates.io,localhost"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let env = ProxyEnv::from_vars(&vars);
        let via = |t: &str| env.proxy_for(&t.parse().unwrap()).map(|p| p.host.clone());
        assert_eq!(via("index.crates.io:443"), None);
        assert_eq!(via("localhost:443"), None);
        assert_eq!(via("github.com:443").as_deref(), Some("p"));
        assert_eq!(
            via("http://github.com:80"),
            None,
            "HTTPS_PROXY is for https only"
        );
    }

    #[test]
    fn cargo_settings_follow_precedence_and_source_replacement() {
        let dir = std::env::temp_dir().join(format!("cv-net-test-unit-{}", std::process::id()));
        let inner = dir.join("project");
        std::fs::create_dir_all(inner.join(".cargo")).unwrap();
        std::fs::create_dir_all(dir.join(".cargo")).unwrap();
        std::fs::write(
            inner.join(".cargo/config.toml"),
            "[net]\nretry = 7\n[source.crates-io]\nreplace-with = \"mirror\"\n[source.mirror]\nregistry = \"sparse+https://mirror.example:8443/index/\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(".cargo/config.toml"),
            "[net]\nretry = 1\noffline = true\n",
        )
        .unwrap();
        let env: BTreeMap<String, String> = [(
            "CARGO_HOME".to_owned(),
            dir.join("no-home").display().to_string(),
        )]
        .into();
        let settings = CargoSettings::load(&inner, &env);
        assert_eq!(settings.get("net.retry").unwrap().value, "7");
        assert_eq!(settings.get("net.offline").unwrap().value, "true");
        let targets: Vec<String> = settings
            .registry_targets()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(targets, ["mirror.example:8443"]);
        let mut env = env;
        env.insert("CARGO_NET_RETRY".into(), "0".into());
        let settings = CargoSettings::load(&inner, &env);
        assert_eq!(
            settings.get("net.retry").unwrap().origin,
            "env CARGO_NET_RETRY"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
