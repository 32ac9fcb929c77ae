//! [`HttpTransport`]: the agent's [`Transport`] over HTTP and HTTPS.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use ocs_deploy_core::agent::{BodyStream, Transport, TransportError};
use ocs_deploy_core::protocol::{CompressionError, Request, compression};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, PRAGMA, USER_AGENT};
use reqwest::{StatusCode, Url};

use super::{ClientError, verifier};

/// The `User-Agent` sent by default: the Unix agent's, which OCS servers check on PROLOG
/// (`<name>_v<version>`, name one of the OCS agents, version at most the server's), with
/// ours after it. The OCS server reads it with `(.*)_v(.*)$`, so nothing after the
/// version may hold `_v`; servers with an allow-list of prefixes (ours included) match
/// `OCS-NG_unified_unix_agent_`.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "OCS-NG_unified_unix_agent_v2.10.0 (ocs-deploy/",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// Default of [`HttpTransportBuilder::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`HttpTransportBuilder::read_timeout`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of [`HttpTransportBuilder::post_timeout`].
pub const DEFAULT_POST_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Default of [`HttpTransportBuilder::max_reply_size`]: 64 MiB.
pub const DEFAULT_MAX_REPLY_SIZE: usize = 64 << 20;

/// The content type the Unix agent sends (`Network.pm`); servers do not check it.
const REQUEST_CONTENT_TYPE: &str = "application/x-compress";

/// The agent's [`Transport`] over HTTP(S): reqwest with rustls (ring), trusting the
/// agent's CA file (`cacert.pem`).
///
/// - [`post`](Transport::post) sends a message as the OCS Unix agent does: the XML
///   zlib-compressed, `POST` to the server URL with `Content-Type:
///   application/x-compress`, `Pragma: no-cache` and the Unix agent's `User-Agent`
///   ([`DEFAULT_USER_AGENT`]). Only `200` is success; the reply is decoded (zlib, gzip or
///   plain) under [`max_reply_size`](HttpTransportBuilder::max_reply_size).
/// - [`get`](Transport::get) streams a package file. An info file (a URL path ending in
///   `/info`) is fetched only over HTTPS unless
///   [`allow_plain_http_info`](HttpTransportBuilder::allow_plain_http_info); fragments
///   may come over either.
///
/// HTTPS servers are trusted when their certificate chains to a certificate of the CA
/// file, or when it is one of those certificates itself (the self-signed, often
/// `CA:TRUE`, certificates of OCS servers), its dates and name still checked. A CA file
/// with an RSA key under 2048 bits is refused when building ([`ClientError::WeakRsaKey`]).
/// The server URL itself may be `http://`, as OCS allows for the communication endpoint:
/// only the info file, which carries the commands to run, needs TLS.
///
/// Errors map to [`TransportError`]: connection, DNS and timeout failures are
/// `Unreachable`, TLS failures (an untrusted certificate) `Refused`, other statuses
/// `Status`, a reply over the limit `TooLarge`, an undecodable or cut-short body
/// `BadReply`. Proxies are not used. Redirections are followed (5 at most), never from
/// HTTPS to plain HTTP (`Refused`).
///
/// ```no_run
/// use ocs_deploy_core::agent::Transport;
/// use ocs_deploy_core::protocol::{PrologReply, Request};
/// use ocs_deploy_http::client::HttpTransport;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = HttpTransport::builder("https://ocs.example.com/ocsinventory")
///     .ca_file("/etc/ocsinventory-agent/cacert.pem")
///     .build()?;
/// let reply = transport
///     .post(&Request::Prolog { device_id: "pc-2026-11-24-10-00-00".into() })
///     .await?;
/// let reply = PrologReply::decode(&reply)?;
/// println!("{reply:?}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    server_url: Url,
    allow_plain_http_info: bool,
    post_timeout: Duration,
    max_reply_size: usize,
}

/// The settings of an [`HttpTransport`]; from [`HttpTransport::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpTransportBuilder {
    server_url: String,
    ca: Option<CaSource>,
    allow_plain_http_info: bool,
    connect_timeout: Duration,
    read_timeout: Duration,
    post_timeout: Duration,
    max_reply_size: usize,
    user_agent: String,
    headers: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
enum CaSource {
    File(PathBuf),
    Pem(Vec<u8>),
}

impl HttpTransport {
    /// Settings for a transport to the communication server at `server_url`
    /// (`http(s)://host[:port]/ocsinventory`), with the defaults: no CA file (so no
    /// HTTPS server is trusted), no plain-HTTP info files, the `DEFAULT_*` timeouts and
    /// limit, [`DEFAULT_USER_AGENT`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use ocs_deploy_http::client::{ClientError, HttpTransport};
    ///
    /// let transport = HttpTransport::builder("http://192.0.2.10/ocsinventory")
    ///     .connect_timeout(Duration::from_secs(5))
    ///     .header("Authorization", "Basic b2NzOm9jcw==")
    ///     .build()?;
    /// assert_eq!(transport.server_url(), "http://192.0.2.10/ocsinventory");
    /// assert!(matches!(
    ///     HttpTransport::builder("ftp://192.0.2.10/ocsinventory").build(),
    ///     Err(ClientError::InvalidUrl { .. })
    /// ));
    /// # Ok::<(), ClientError>(())
    /// ```
    pub fn builder(server_url: impl Into<String>) -> HttpTransportBuilder {
        HttpTransportBuilder {
            server_url: server_url.into(),
            ca: None,
            allow_plain_http_info: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            post_timeout: DEFAULT_POST_TIMEOUT,
            max_reply_size: DEFAULT_MAX_REPLY_SIZE,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            headers: Vec::new(),
        }
    }

    /// The communication server's URL, as messages are posted to it.
    pub fn server_url(&self) -> &str {
        self.server_url.as_str()
    }

    fn limit(&self) -> u64 {
        u64::try_from(self.max_reply_size).unwrap_or(u64::MAX)
    }
}

impl HttpTransportBuilder {
    /// The agent's CA file (`cacert.pem`): PEM, one or more certificates, read by
    /// [`build`](Self::build). Replaces [`ca_pem`](Self::ca_pem).
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.ca = Some(CaSource::File(path.as_ref().to_owned()));
        self
    }

    /// The CA certificates as PEM text, instead of a file.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(CaSource::Pem(pem.into()));
        self
    }

    /// Whether an info file may be fetched over plain HTTP (default `false`: it carries
    /// the commands the agent runs, so only a TLS server checked against the CA file is
    /// trusted for it).
    pub fn allow_plain_http_info(mut self, allow: bool) -> Self {
        self.allow_plain_http_info = allow;
        self
    }

    /// How long connecting (TCP and TLS) may take ([`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the server may stay silent while a reply or file is read
    /// ([`DEFAULT_READ_TIMEOUT`]); reset by every chunk received, so large fragments on
    /// slow links are not cut.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// How long a whole [`post`](Transport::post), reply included, may take
    /// ([`DEFAULT_POST_TIMEOUT`]). Files have no overall limit, only the
    /// [`read_timeout`](Self::read_timeout).
    pub fn post_timeout(mut self, timeout: Duration) -> Self {
        self.post_timeout = timeout;
        self
    }

    /// The largest reply [`post`](Transport::post) accepts, in bytes, as received and
    /// once decoded ([`DEFAULT_MAX_REPLY_SIZE`]).
    pub fn max_reply_size(mut self, bytes: usize) -> Self {
        self.max_reply_size = bytes;
        self
    }

    /// The `User-Agent` header ([`DEFAULT_USER_AGENT`]). OCS servers answer a PROLOG only
    /// from agent names they know: keep an `OCS-NG_…_v<version>` form.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// A header sent with every request (for example `Authorization` when the OCS
    /// server sits behind basic authentication).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Reads and checks the CA file and builds the transport.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] for a server URL that is not `http(s)://`,
    /// [`ClientError::CaFile`] and [`ClientError::CaPem`] for an unreadable or bad CA
    /// file, [`ClientError::WeakRsaKey`] for an RSA key under 2048 bits,
    /// [`ClientError::InvalidHeader`], [`ClientError::Tls`], [`ClientError::Http`].
    pub fn build(self) -> Result<HttpTransport, ClientError> {
        let server_url = Url::parse(&self.server_url).map_err(|e| ClientError::InvalidUrl {
            url: self.server_url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(server_url.scheme(), "http" | "https") {
            return Err(ClientError::InvalidUrl {
                url: self.server_url,
                reason: "not an http:// or https:// URL".into(),
            });
        }
        let certs = match &self.ca {
            None => Vec::new(),
            Some(CaSource::Pem(pem)) => verifier::ca_certificates(pem)?,
            Some(CaSource::File(path)) => {
                let pem = std::fs::read(path).map_err(|source| ClientError::CaFile {
                    path: path.clone(),
                    source,
                })?;
                verifier::ca_certificates(&pem)?
            }
        };
        let tls = verifier::client_config(certs)?;

        let mut headers = HeaderMap::new();
        let user_agent =
            HeaderValue::from_str(&self.user_agent).map_err(|_| ClientError::InvalidHeader {
                name: USER_AGENT.to_string(),
            })?;
        headers.insert(USER_AGENT, user_agent);
        for (name, value) in &self.headers {
            let invalid = || ClientError::InvalidHeader { name: name.clone() };
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let value = HeaderValue::from_str(value).map_err(|_| invalid())?;
            headers.append(header, value);
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .default_headers(headers)
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .redirect(redirect_policy())
            .tls_backend_preconfigured(tls)
            .build()?;
        Ok(HttpTransport {
            client,
            server_url,
            allow_plain_http_info: self.allow_plain_http_info,
            post_timeout: self.post_timeout,
            max_reply_size: self.max_reply_size,
        })
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn post(&self, request: &Request) -> Result<Vec<u8>, TransportError> {
        let body = compression::encode_zlib(request.encode().as_bytes());
        let url = self.server_url.as_str();
        tracing::debug!(
            url,
            device_id = request.device_id(),
            bytes = body.len(),
            "POST"
        );
        let mut response = self
            .client
            .post(self.server_url.clone())
            .header(CONTENT_TYPE, REQUEST_CONTENT_TYPE)
            .header(PRAGMA, "no-cache")
            .timeout(self.post_timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| request_error(&e, url))?;
        check_status(response.status(), url)?;
        if response
            .content_length()
            .is_some_and(|length| length > self.limit())
        {
            return Err(TransportError::TooLarge {
                limit: self.limit(),
            });
        }
        let mut raw = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| body_error(&e, url))? {
            if raw.len().saturating_add(chunk.len()) > self.max_reply_size {
                return Err(TransportError::TooLarge {
                    limit: self.limit(),
                });
            }
            raw.extend_from_slice(&chunk);
        }
        if raw.is_empty() {
            // A DOWNLOAD result is answered with an empty body.
            return Ok(Vec::new());
        }
        match compression::decode(&raw, self.max_reply_size) {
            Ok((xml, _)) => Ok(xml),
            Err(CompressionError::TooLarge { .. }) => Err(TransportError::TooLarge {
                limit: self.limit(),
            }),
            Err(e) => Err(TransportError::BadReply(format!("{url}: {e}"))),
        }
    }

    async fn get(&self, url: &str) -> Result<BodyStream, TransportError> {
        let parsed =
            Url::parse(url).map_err(|e| TransportError::Refused(format!("bad URL {url}: {e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if !is_info(&parsed) || self.allow_plain_http_info => {}
            "http" => {
                return Err(TransportError::Refused(format!(
                    "info file over plain HTTP: {url} (only HTTPS is trusted for info files)"
                )));
            }
            _ => {
                return Err(TransportError::Refused(format!(
                    "not an http:// or https:// URL: {url}"
                )));
            }
        }
        tracing::debug!(url, "GET");
        let response = self
            .client
            .get(parsed)
            .send()
            .await
            .map_err(|e| request_error(&e, url))?;
        check_status(response.status(), url)?;
        let url = url.to_owned();
        Ok(response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| body_error(&e, &url)))
            .boxed())
    }
}

/// How many redirections are followed.
const MAX_REDIRECTS: usize = 5;

/// Redirections are followed ([`MAX_REDIRECTS`] at most) but never from HTTPS to plain
/// HTTP: an info file must not leave TLS that way.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let from_https = attempt.previous().iter().any(|url| url.scheme() == "https");
        if from_https && attempt.url().scheme() != "https" {
            let to = attempt.url().to_string();
            attempt.error(format!("redirection from HTTPS to {to} refused"))
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirections")
        } else {
            attempt.follow()
        }
    })
}

/// An info file's URL: `…/<id>/info`.
fn is_info(url: &Url) -> bool {
    url.path().ends_with("/info")
}

fn check_status(status: StatusCode, url: &str) -> Result<(), TransportError> {
    if status == StatusCode::OK {
        Ok(())
    } else {
        tracing::debug!(url, status = status.as_u16(), "refused by the server");
        Err(TransportError::Status(status.as_u16()))
    }
}

/// A failure before the response: TLS (refused), else connection, DNS or timeout.
fn request_error(error: &reqwest::Error, url: &str) -> TransportError {
    if let Some(tls) = tls_error(error) {
        return TransportError::Refused(format!("{url}: TLS: {tls}"));
    }
    if error.is_redirect() {
        return TransportError::Refused(chain(error));
    }
    TransportError::Unreachable(chain(error))
}

/// A failure while reading a body: a silent server is unreachable, a broken body a bad
/// reply.
fn body_error(error: &reqwest::Error, url: &str) -> TransportError {
    if error.is_timeout() {
        TransportError::Unreachable(chain(error))
    } else {
        TransportError::BadReply(format!("{url}: {}", chain(error)))
    }
}

/// The rustls error behind a failed request, if any. reqwest nests it in
/// `std::io::Error`s, whose `source()` skips the error they wrap: those are opened with
/// `get_ref()`.
fn tls_error<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = next {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner),
            None => error.source(),
        };
    }
    None
}

/// An error and its causes, on one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_user_agent_passes_the_ocs_server_check() {
        // The OCS server: `m/(.*)_v(.*)$/`, the name exactly an OCS agent's, the version
        // cut to `d.d` and at most the server's (2.8).
        let (name, version) = DEFAULT_USER_AGENT.rsplit_once("_v").unwrap();
        assert_eq!(name, "OCS-NG_unified_unix_agent");
        assert!(version.starts_with("2.10.0"));
        assert!(DEFAULT_USER_AGENT.starts_with("OCS-NG_unified_unix_agent_"));
    }

    #[test]
    fn info_urls_are_recognised_by_their_path() {
        for (url, info) in [
            ("http://h/download/1700000000/info", true),
            ("http://h:8080/download/1700000000/info?x=1", true),
            ("http://h/download/1700000000/1700000000-1", false),
            ("http://h/download/1700000000/information", false),
        ] {
            assert_eq!(is_info(&Url::parse(url).unwrap()), info, "{url}");
        }
    }
}
