//! [`ClientError`]: why an [`HttpTransport`](super::HttpTransport) cannot be built.

use std::path::PathBuf;

/// The command that makes a certificate the client accepts, quoted in
/// [`ClientError::WeakRsaKey`].
pub const NEW_CERTIFICATE_COMMAND: &str = "openssl req -x509 -newkey rsa:2048 -sha256 -days 3650 -nodes \
     -keyout server.key -out server.crt -subj /CN=ocs.example.com \
     -addext subjectAltName=DNS:ocs.example.com,IP:192.0.2.10";

/// Building an [`HttpTransport`](super::HttpTransport) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server URL is not an `http://` or `https://` URL.
    #[error("bad server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The CA file could not be read.
    #[error("cannot read the CA file {}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The CA file holds no certificate, or one that cannot be parsed.
    #[error("bad CA file: {what}")]
    CaPem {
        /// What is wrong.
        what: String,
    },
    /// A certificate of the CA file has an RSA key under 2048 bits (the old OCS sample
    /// script made 1024-bit keys), which rustls refuses.
    #[error(
        "certificate {index} of the CA file has a {bits}-bit RSA key; keys under 2048 bits are \
         refused. Make a new certificate, for example `{NEW_CERTIFICATE_COMMAND}` (put the \
         server's names in subjectAltName), install server.crt and server.key on the server, \
         and give server.crt to the agents as cacert.pem"
    )]
    WeakRsaKey {
        /// The certificate's position in the file, from 1.
        index: usize,
        /// The key size.
        bits: usize,
    },
    /// A custom header name or value is not valid HTTP.
    #[error("bad header {name:?}")]
    InvalidHeader {
        /// The header name given.
        name: String,
    },
    /// rustls refused the TLS configuration.
    #[error("cannot configure TLS")]
    Tls(#[from] rustls::Error),
    /// reqwest could not build its client.
    #[error("cannot build the HTTP client")]
    Http(#[from] reqwest::Error),
}
