//! An outgoing TLS connection from inside the minimal image verifies against the image's CA
//! bundle: a throwaway CA and server certificate (the `openssl` CLI), `openssl s_server` on
//! 127.0.0.1, and `cv healthcheck --url https://localhost:PORT/` run in the image on the host's
//! network. Without the test CA the check must fail on the certificate (verification is on);
//! with a bundle holding the test CA mounted over the image's bundle path it must pass (that
//! path is the one used). Traffic stays on loopback.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TestResult, docker, engine, in_ci, minimal_image, text, unique};

/// The image's CA bundle, as Dockerfile.minimal copies it and SSL_CERT_FILE names it.
const IMAGE_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn openssl(args: &[&str], dir: &Path) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("openssl {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl {args:?} failed: {}",
            text(&out.stderr).trim()
        ))
    }
}

/// A CA (ca.pem) and a server certificate for localhost and 127.0.0.1 signed by it
/// (server.pem, server.key), valid for a day.
fn make_certificates(dir: &Path) -> Result<(), String> {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=cv-test throwaway CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        dir,
    )?;
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        dir,
    )?;
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
        dir,
    )
}

/// `openssl s_server` answering HTTP on 127.0.0.1; killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(dir: &Path) -> Result<(Server, u16), String> {
    // A free port: bind to 0, note it, let go (s_server binds it a moment later).
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let accept = format!("127.0.0.1:{port}");
    let child = Command::new("openssl")
        .args([
            "s_server",
            "-www",
            "-accept",
            &accept,
            "-cert",
            "server.pem",
            "-key",
            "server.key",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("openssl s_server: {e}"))?;
    let server = Server(child);
    let started = Instant::now();
    while TcpStream::connect(&accept).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("openssl s_server did not listen on {accept}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((server, port))
}

pub fn outgoing_tls_verifies_against_the_image_bundle() -> TestResult {
    if !engine("outgoing_tls_verifies_against_the_image_bundle")? {
        return Ok(());
    }
    if Command::new("openssl").arg("version").output().is_err() {
        if in_ci() {
            return Err(
                "the openssl CLI is required under CI=true (apt-get install openssl)".into(),
            );
        }
        eprintln!("skipped: no openssl CLI");
        return Ok(());
    }
    let built = minimal_image()?;
    let dir = std::env::temp_dir().join(unique("tls"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = check(&built.image, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn check(image: &str, dir: &Path) -> TestResult {
    make_certificates(dir)?;
    let (_server, port) = start_server(dir)?;
    let url = format!("https://localhost:{port}/");
    let healthcheck = |extra: &[&str]| {
        let name = unique("tls-client");
        let mut args = vec!["run", "--rm", "--name", &name, "--network", "host"];
        args.extend(extra);
        args.extend([
            "--entrypoint",
            "/usr/local/bin/cv",
            image,
            "healthcheck",
            "--url",
            &url,
            "--timeout",
            "3",
        ]);
        docker(&args).map_err(|e| e.to_string())
    };

    // The image's own bundle does not hold the throwaway CA: the handshake must be refused.
    let out = healthcheck(&[])?;
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    eprintln!(
        "without the test CA: exit {:?}: {}",
        out.status.code(),
        said.trim()
    );
    if out.status.code() != Some(1) {
        return Err(format!(
            "without the test CA the check exited {:?}, want 1: {said}",
            out.status.code()
        ));
    }
    if !said.to_lowercase().contains("certificate") {
        return Err(format!("the failure does not name the certificate: {said}"));
    }

    // The same image with a bundle of only the test CA over its bundle path: it must pass.
    let mount = format!("{}:{IMAGE_BUNDLE}:ro", dir.join("ca.pem").display());
    let out = healthcheck(&["--volume", &mount])?;
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    eprintln!(
        "with the test CA: exit {:?}: {}",
        out.status.code(),
        said.trim()
    );
    if !out.status.success() || !said.contains("200 OK") {
        return Err(format!(
            "with the test CA mounted at {IMAGE_BUNDLE} the check failed: {said}"
        ));
    }
    Ok(())
}
