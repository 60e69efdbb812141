//! HTTP for the tests: a small blocking client over ureq for ordinary requests, and raw
//! `TcpStream` requests where a test needs control over the bytes and their timing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// Bounds every request, so a hung server fails the test instead of hanging the suite.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A response with its body read to the end; header names are lowercase.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }
}

/// A keep-alive client bound to one server; 4xx and 5xx are answers here, not errors.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A proxy from the developer's environment must never sit between a test and loopback.
            .proxy(None)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .new_agent();
        Client {
            base: format!("http://{addr}"),
            agent,
        }
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        self.try_send(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Like [`Client::send`], but a transport failure (refused, reset) is an `Err`, for tests
    /// that kill the server under load.
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, ureq::Error> {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut response = match body {
            Some(body) => self
                .agent
                .run(builder.body(body.to_vec()).expect("valid request"))?,
            None => self.agent.run(builder.body(()).expect("valid request"))?,
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// One raw HTTP/1.1 connection, for tests that send a request in pieces.
pub struct RawConn {
    reader: BufReader<TcpStream>,
}

impl RawConn {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .expect("set read timeout");
        stream
            .set_write_timeout(Some(REQUEST_TIMEOUT))
            .expect("set write timeout");
        RawConn {
            reader: BufReader::new(stream),
        }
    }

    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes)?;
        stream.flush()
    }

    /// Reads one response: status line, headers, and a body delimited by Content-Length, chunked
    /// encoding, or (for `Connection: close` answers) the end of the stream. 1xx have no body.
    pub fn read_response(&mut self) -> std::io::Result<Response> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some((name, value)) = trimmed.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(response);
        }
        if let Some(length) = response.header("content-length") {
            let length: usize = length.parse().map_err(std::io::Error::other)?;
            let mut body = vec![0; length];
            self.reader.read_exact(&mut body)?;
            response.body = body;
        } else if response
            .header("transfer-encoding")
            .is_some_and(|te| te.contains("chunked"))
        {
            response.body = self.read_chunked()?;
        } else {
            self.reader.read_to_end(&mut response.body)?;
        }
        Ok(response)
    }

    fn read_chunked(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let size_text = line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size_text, 16).map_err(std::io::Error::other)?;
            if size == 0 {
                // Trailers, then the blank line that ends the message.
                loop {
                    line.clear();
                    self.reader.read_line(&mut line)?;
                    if line.trim().is_empty() {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.reader.read_exact(&mut body[start..])?;
            line.clear();
            self.reader.read_line(&mut line)?;
        }
    }
}
