//! `cv healthcheck`: one GET with a deadline, so an image with no shell and no curl can still
//! have a HEALTHCHECK.
//!
//! The client is hyper's one-connection API over a tokio socket, with tokio-rustls (ring) for
//! https: hyper is already in the binary for the server, so this adds only TLS, and no OpenSSL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// Where Debian, Alpine and our images keep the system CA bundle.
const DEFAULT_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Flags of `cv healthcheck`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Exit status 0 when the URL answers 200 within the timeout, 1 otherwise (with one line saying why).
https URLs are verified against SSL_CERT_FILE or /etc/ssl/certs/ca-certificates.crt.

Examples:
  cv healthcheck
  cv healthcheck --url http://127.0.0.1:3000/readyz --timeout 2
  HEALTHCHECK CMD [\"/cv\", \"healthcheck\"]      (in a Dockerfile)")]
pub(crate) struct HealthcheckArgs {
    /// URL to probe (default: http://127.0.0.1:<port of CV_ADDR>/healthz)
    #[arg(long)]
    url: Option<String>,
    /// Seconds to wait for the whole exchange
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,
}

pub(crate) fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let url = match args.url {
        Some(url) => url,
        None => default_url(std::env::var("CV_ADDR").ok().as_deref())?,
    };
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| anyhow!("--timeout must be a positive number of seconds"))?;
    let uri: Uri = url
        .parse()
        .with_context(|| format!("invalid URL {url:?}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let status = runtime
        .block_on(async { tokio::time::timeout(timeout, get(&uri)).await })
        .map_err(|_| anyhow!("{url}: no answer within {} s", args.timeout))?
        .with_context(|| url.clone())?;
    if status != StatusCode::OK {
        bail!("{url}: answered {status}, expected 200 OK");
    }
    println!("{url}: 200 OK");
    Ok(())
}

/// The health URL of a server configured with `CV_ADDR` (default `0.0.0.0:8080`): the port of
/// that address on loopback, or the address itself when it names one interface.
fn default_url(cv_addr: Option<&str>) -> anyhow::Result<String> {
    let addr: SocketAddr = cv_addr
        .filter(|addr| !addr.is_empty())
        .unwrap_or("0.0.0.0:8080")
        .parse()
        .context("CV_ADDR is not an IP:PORT address")?;
    let host = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(format!(
        "http://{}/healthz",
        SocketAddr::new(host, addr.port())
    ))
}

async fn get(uri: &Uri) -> anyhow::Result<StatusCode> {
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => bail!("only http:// and https:// URLs are supported"),
    };
    let host = uri.host().ok_or_else(|| anyhow!("the URL has no host"))?;
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    // `[::1]` is bracketed in URLs but not in socket addresses or TLS server names.
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((bare_host, port))
        .await
        .context("cannot connect")?;
    if https {
        let server_name = ServerName::try_from(bare_host.to_owned())
            .map_err(|_| anyhow!("{host:?} is not a valid TLS server name"))?;
        let tls = TlsConnector::from(Arc::new(tls_config()?))
            .connect(server_name, tcp)
            .await
            .context("TLS handshake failed")?;
        exchange(tls, uri).await
    } else {
        exchange(tcp, uri).await
    }
}

async fn exchange<S>(stream: S, uri: &Uri) -> anyhow::Result<StatusCode>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake failed")?;
    let driver = tokio::spawn(connection);
    let authority = uri
        .authority()
        .map(|authority| authority.as_str().to_owned())
        .unwrap_or_default();
    let path = uri
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned();
    let request = Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(
            hyper::header::USER_AGENT,
            concat!("cv-healthcheck/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .context("cannot build the request")?;
    let response = sender
        .send_request(request)
        .await
        .context("request failed")?;
    driver.abort();
    Ok(response.status())
}

/// Verifies servers against the system CA bundle: `SSL_CERT_FILE`, else Debian's/Alpine's path.
fn tls_config() -> anyhow::Result<ClientConfig> {
    let bundle = std::env::var_os("SSL_CERT_FILE")
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_CA_BUNDLE), PathBuf::from);
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&bundle)
        .with_context(|| format!("cannot read the CA bundle {}", bundle.display()))?;
    for cert in certs {
        let cert =
            cert.with_context(|| format!("cannot parse the CA bundle {}", bundle.display()))?;
        // A bundle may carry certificates webpki cannot use; the others still count.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        bail!(
            "the CA bundle {} holds no usable certificate",
            bundle.display()
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("cannot set up TLS")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_url_follows_cv_addr() {
        assert_eq!(default_url(None).unwrap(), "http://127.0.0.1:8080/healthz");
        assert_eq!(
            default_url(Some("0.0.0.0:9000")).unwrap(),
            "http://127.0.0.1:9000/healthz"
        );
        assert_eq!(
            default_url(Some("[::]:9000")).unwrap(),
            "http://[::1]:9000/healthz"
        );
        assert_eq!(
            default_url(Some("127.0.0.2:81")).unwrap(),
            "http://127.0.0.2:81/healthz"
        );
        assert!(default_url(Some("localhost")).is_err());
    }
}
