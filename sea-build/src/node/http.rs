//! The network edge: HTTP GETs with timeouts, proxies from the environment, a size cap, retries
//! on transient failures and progress reports. Everything else in `node` works on what this
//! returns.

use std::io::{Read, Write};
use std::time::Duration;

use crate::error::Tag;
use anyhow::{Context, Result, anyhow, bail};

use crate::progress::{Event, Reporter};

/// Largest metadata document (release index, npm packument, SHASUMS256.txt) we accept.
pub(crate) const METADATA_LIMIT: u64 = 64 << 20;
/// Largest archive we accept: official archives are 30-60 MB.
pub(crate) const ARCHIVE_LIMIT: u64 = 512 << 20;
const ATTEMPTS: u32 = 3;

/// A blocking HTTP client configured for fetching Node.
pub(crate) struct Http {
    agent: ureq::Agent,
    /// Hosts (`scheme://host:port`) that could not be reached in this run, and why: asked no
    /// more, so a source behind a proxy that only lets the npm registry through costs one
    /// failure, not one per platform and file.
    unreachable: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// A request's host could not be reached (its name, its address or a connection), in this
/// request or earlier in the run: the root of such an error, so callers can tell a source
/// that is out of reach from one that answered badly.
#[derive(Debug)]
pub(crate) struct Unreachable(String);

impl std::error::Error for Unreachable {}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl Unreachable {
    /// Whether `error` comes from a host that could not be reached.
    pub(crate) fn is_cause_of(error: &anyhow::Error) -> bool {
        error.chain().any(|cause| cause.is::<Unreachable>())
    }
}

/// Why a request failed, and whether trying again could help.
struct Failure {
    error: anyhow::Error,
    transient: bool,
    /// Why the host could not be reached at all, when that is what failed.
    unreachable: Option<String>,
}

impl Failure {
    fn new(transient: bool, error: anyhow::Error) -> Failure {
        Failure { error, transient, unreachable: None }
    }
}

impl Http {
    pub(crate) fn new() -> Http {
        let tls = ureq::tls::TlsConfig::builder()
            // The system's trust store, with the corporate CAs installed there, which a bundled
            // list would not have. On Linux SSL_CERT_FILE / SSL_CERT_DIR, when set, replace the
            // system's roots rather than add to them (rustls-native-certs under the verifier).
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let config = ureq::Agent::config_builder()
            .timeout_resolve(Some(Duration::from_secs(10)))
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .timeout_recv_body(Some(Duration::from_secs(600)))
            .proxy(ureq::Proxy::try_from_env())
            .http_status_as_error(false)
            .user_agent(concat!("sea-build/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build();
        Http { agent: config.into(), unreachable: Default::default() }
    }

    /// GETs a text document of at most `limit` bytes.
    pub(crate) fn get_text(&self, url: &str, accept: &str, limit: u64) -> Result<String> {
        let mut body = Vec::new();
        self.get_to(url, accept, limit, &mut body, None)?;
        String::from_utf8(body).with_context(|| format!("{url} did not return UTF-8 text"))
    }

    /// GETs `url` into `sink`, reporting progress; retries transient failures from the start
    /// (`sink` is reset through `rewind` first).
    pub(crate) fn download<W: Write + RewindSink>(&self, url: &str, limit: u64, sink: &mut W, reporter: &dyn Reporter) -> Result<u64> {
        let what = url.rsplit('/').next().unwrap_or(url);
        self.get_to(url, "*/*", limit, sink, Some((what, reporter)))
    }

    /// POSTs `body` as `content_type` and returns the reply of at most `limit` bytes (one
    /// attempt: a time-stamp authority's reply is not worth a retry storm). For RFC 3161
    /// time-stamp requests.
    #[cfg(feature = "windows")]
    pub(crate) fn post(&self, url: &str, content_type: &str, body: &[u8], limit: u64) -> Result<Vec<u8>> {
        let mut response = self.agent.post(url).header("Content-Type", content_type).send(body).map_err(|error| anyhow!(describe(&error)).context(format!("POST {url} failed")))?;
        let status = response.status().as_u16();
        if status != 200 {
            bail!("POST {url} answered HTTP {status}");
        }
        let mut reply = Vec::new();
        copy_capped(&mut response.body_mut().as_reader(), &mut reply, limit, url, None).map_err(|failure| failure.error)?;
        Ok(reply)
    }

    fn get_to<W: Write + RewindSink>(&self, url: &str, accept: &str, limit: u64, sink: &mut W, progress: Option<(&str, &dyn Reporter)>) -> Result<u64> {
        let mut attempt = 1;
        loop {
            sink.rewind_sink().with_context(|| format!("could not reset the download buffer for {url}"))?;
            match self.try_get(url, accept, limit, sink, progress) {
                Ok(length) => return Ok(length),
                Err(failure) if failure.transient && attempt < ATTEMPTS => {
                    if let Some((_, reporter)) = progress {
                        reporter.report(Event::Warning(&format!("{:#}; retrying ({attempt}/{})", failure.error, ATTEMPTS - 1)));
                    }
                    std::thread::sleep(Duration::from_millis(500 << attempt));
                    attempt += 1;
                }
                // Marked as a network failure, the cause kept.
                Err(failure) => {
                    if let Some(why) = failure.unreachable {
                        self.unreachable.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(origin(url), why);
                    }
                    return Err(failure.error).tag(crate::ErrorKind::Network, || "the download failed".to_owned());
                }
            }
        }
    }

    fn try_get<W: Write>(&self, url: &str, accept: &str, limit: u64, sink: &mut W, progress: Option<(&str, &dyn Reporter)>) -> Result<u64, Failure> {
        let host = origin(url);
        if let Some(why) = self.unreachable.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&host) {
            return Err(Failure::new(false, anyhow!(Unreachable(format!("{host} could not be reached earlier in this run ({why})"))).context(format!("GET {url} failed"))));
        }
        let mut response = self.agent.get(url).header("Accept", accept).call().map_err(|error| {
            let unreachable = is_unreachable(&error).then(|| describe(&error));
            let cause = match &unreachable {
                Some(why) => anyhow!(Unreachable(why.clone())),
                None => anyhow!(describe(&error)),
            };
            Failure { transient: is_transient(&error), unreachable, error: cause.context(format!("GET {url} failed")) }
        })?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(Failure::new(status == 408 || status == 429 || status >= 500, anyhow!("GET {url} answered HTTP {status}")));
        }
        let total = response.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if let Some(total) = total.filter(|total| *total > limit) {
            return Err(Failure::new(false, anyhow!("{url} is {total} bytes, more than the {limit}-byte limit")));
        }
        if let Some((what, reporter)) = progress {
            reporter.report(Event::DownloadStarted { what, total });
        }
        let result = copy_capped(&mut response.body_mut().as_reader(), sink, limit, url, progress.map(|(_, r)| r));
        if let Some((_, reporter)) = progress {
            reporter.report(Event::DownloadFinished);
        }
        let length = result?;
        if let Some(total) = total.filter(|total| *total != length) {
            return Err(Failure::new(true, anyhow!("{url} ended after {length} of {total} bytes")));
        }
        Ok(length)
    }
}

fn copy_capped<W: Write>(reader: &mut dyn Read, sink: &mut W, limit: u64, url: &str, reporter: Option<&dyn Reporter>) -> Result<u64, Failure> {
    let mut buffer = vec![0u8; 256 << 10];
    let mut done = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => return Ok(done),
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(Failure::new(true, anyhow!("reading {url} failed after {done} bytes: {error}"))),
        };
        done += read as u64;
        if done > limit {
            return Err(Failure::new(false, anyhow!("{url} is larger than the {limit}-byte limit")));
        }
        sink.write_all(&buffer[..read]).map_err(|error| Failure::new(false, anyhow!("could not store {url}: {error}")))?;
        if let Some(reporter) = reporter {
            reporter.report(Event::DownloadProgress { done });
        }
    }
}

fn is_transient(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::Timeout(_) | ureq::Error::BodyStalled | ureq::Error::Protocol(_) => true,
        ureq::Error::Io(io) => !matches!(io.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound) && !is_unreachable(error),
        // A name that does not resolve or a host that refuses will not change in a second: fail
        // fast so the next source gets its turn.
        _ => false,
    }
}

/// Whether `error` says the host cannot be reached at all (its name, its address or a
/// connection), as opposed to a failure of one request.
fn is_unreachable(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => true,
        // The standard library reports a failed name lookup (getaddrinfo) without a kind of
        // its own, only in words.
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::ConnectionRefused || io.to_string().contains("failed to lookup address"),
        _ => false,
    }
}

/// `scheme://host[:port]` of `url`.
fn origin(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let end = rest.find('/').unwrap_or(rest.len());
    url[..url.len() - rest.len() + end].to_owned()
}

fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::HostNotFound => "the host name does not resolve (no network, or a typo in the URL)".to_owned(),
        ureq::Error::ConnectionFailed => "the connection failed".to_owned(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => "the connection was refused".to_owned(),
        other => other.to_string(),
    }
}

/// A download destination that can be emptied before a retry.
pub(crate) trait RewindSink {
    /// Empties the sink.
    fn rewind_sink(&mut self) -> std::io::Result<()>;
}

impl RewindSink for Vec<u8> {
    fn rewind_sink(&mut self) -> std::io::Result<()> {
        self.clear();
        Ok(())
    }
}

impl RewindSink for std::fs::File {
    fn rewind_sink(&mut self) -> std::io::Result<()> {
        use std::io::Seek;
        self.set_len(0)?;
        self.rewind()
    }
}

/// A writer that hashes everything written through it: SHA-256 always, SHA-512 on request.
pub(crate) struct HashingWriter<W> {
    pub(crate) inner: W,
    sha256: crate::digest::Sha256,
    sha512: Option<ring::digest::Context>,
}

impl<W> HashingWriter<W> {
    pub(crate) fn new(inner: W, with_sha512: bool) -> Self {
        HashingWriter { inner, sha256: crate::digest::Sha256::new(), sha512: with_sha512.then(|| ring::digest::Context::new(&ring::digest::SHA512)) }
    }

    /// The SHA-256 of what was written, as hex, and the SHA-512 when it was asked for; the
    /// writer and its hashes are consumed.
    pub(crate) fn finish(self) -> (W, String, Option<Vec<u8>>) {
        (self.inner, self.sha256.finish_hex(), self.sha512.map(|sha512| sha512.finish().as_ref().to_vec()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(data)?;
        self.sha256.update(&data[..written]);
        if let Some(sha512) = &mut self.sha512 {
            sha512.update(&data[..written]);
        }
        Ok(written)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W: RewindSink> RewindSink for HashingWriter<W> {
    fn rewind_sink(&mut self) -> std::io::Result<()> {
        self.sha256 = crate::digest::Sha256::new();
        if let Some(sha512) = &mut self.sha512 {
            *sha512 = ring::digest::Context::new(&ring::digest::SHA512);
        }
        self.inner.rewind_sink()
    }
}

/// Refuses URLs we would not fetch from: only http(s).
pub(crate) fn check_url(url: &str, origin: &str) -> Result<()> {
    if url.starts_with("https://") || url.starts_with("http://") { Ok(()) } else { bail!("{origin} gave `{url}`, which is not an http(s) URL") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_out_of_reach_is_asked_once_per_run() {
        // A port nothing listens on refuses the connection.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let http = Http::new();
        let first = http.get_text(&format!("http://{closed}/index.json"), "*/*", 1024).unwrap_err();
        assert!(Unreachable::is_cause_of(&first) && format!("{first:#}").contains("refused"), "{first:#}");
        let again = http.get_text(&format!("http://{closed}/v1/SHASUMS256.txt"), "*/*", 1024).unwrap_err();
        assert!(Unreachable::is_cause_of(&again) && format!("{again:#}").contains(&format!("http://{closed} could not be reached earlier in this run")), "{again:#}");
        assert_eq!(origin("https://host.example:8443/a/b?c"), "https://host.example:8443");
        assert_eq!(origin("http://mirror.example"), "http://mirror.example");
    }
}
