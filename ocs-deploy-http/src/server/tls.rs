//! TLS for the HTTPS listener: a certificate and key from PEM files, or generated once
//! with a CA certificate for the agents.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Setting up TLS failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{}: {what}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Only one of `cacert.pem` and `cakey.pem` exists in the directory of generated
    /// certificates: nothing is overwritten.
    #[error("{} holds only one of cacert.pem and cakey.pem; restore the other or remove both", dir.display())]
    IncompleteCa {
        /// The directory.
        dir: PathBuf,
    },
    /// Generating a certificate failed.
    #[error("cannot generate a certificate")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("rustls refused the certificate or key")]
    Rustls(#[from] rustls::Error),
}

/// The files written by [`TlsConfig::generate`] in its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedCertificates {
    /// `cacert.pem`: the CA certificate (`CA:TRUE`), which agents trust (the OCS agents'
    /// `cacert.pem`; the ocs-deploy agent's CA file).
    pub ca_cert: PathBuf,
    /// `cakey.pem`: the CA's private key, kept to sign a new server certificate when the
    /// names change. Readable by the owner only.
    pub ca_key: PathBuf,
    /// `server.pem`: the server certificate (`CA:FALSE`, signed by the CA), followed by
    /// the CA certificate.
    pub cert: PathBuf,
    /// `server-key.pem`: the server's private key. Readable by the owner only.
    pub key: PathBuf,
    /// `server-names.txt`: the names in the server certificate, one a line; a different
    /// list at the next start signs a new server certificate.
    pub names: PathBuf,
}

impl GeneratedCertificates {
    fn in_dir(dir: &Path) -> Self {
        Self {
            ca_cert: dir.join("cacert.pem"),
            ca_key: dir.join("cakey.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
            names: dir.join("server-names.txt"),
        }
    }
}

/// The names every generated server certificate holds, before the extra ones.
pub const DEFAULT_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// The certificate and key of an HTTPS listener, as a rustls configuration (ring crypto
/// provider, TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`, no client authentication).
///
/// ```
/// use ocs_deploy_http::server::TlsConfig;
///
/// let dir = tempfile::tempdir()?;
/// // First start: a CA and a server certificate are made; later starts reuse them.
/// let (tls, files) = TlsConfig::generate(dir.path(), &["ocs.example.com", "192.0.2.10"])?;
/// assert!(files.ca_cert.ends_with("cacert.pem"));
/// let ca = std::fs::read(&files.ca_cert)?;
/// let (_, again) = TlsConfig::generate(dir.path(), &["ocs.example.com", "192.0.2.10"])?;
/// assert_eq!(std::fs::read(&again.ca_cert)?, ca);
/// // The same certificate, loaded as any PEM pair would be.
/// let _same = TlsConfig::from_pem_files(&files.cert, &files.key)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TlsConfig {
    config: Arc<ServerConfig>,
}

impl TlsConfig {
    /// Loads a certificate chain (the server's certificate first) and its private key
    /// (PKCS#8, PKCS#1 or SEC1) from PEM files.
    ///
    /// An OCS server certificate made with `openssl req -x509` is usually `CA:TRUE`:
    /// webpki clients (the ocs-deploy agent with `tls_certs_only`) refuse it as a server
    /// certificate unless they pin it; the OCS agents accept it.
    ///
    /// # Errors
    /// [`TlsError::Io`] for an unreadable file, [`TlsError::Pem`] for a file without a
    /// certificate or key, [`TlsError::Rustls`] for a key that does not fit.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let cert_pem = read(cert)?;
        let key_pem = read(key)?;
        let chain = certificates(&cert_pem, cert)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
            path: key.to_owned(),
            what: format!("no private key: {e}"),
        })?;
        Self::from_der(chain, key)
    }

    /// A configuration from a certificate chain (the server's first) and its key.
    ///
    /// # Errors
    /// [`TlsError::Rustls`] when the key does not fit the certificate.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// Makes (at the first start) or reuses (later) a CA and a server certificate in
    /// `dir` ([`GeneratedCertificates`]), and loads the server certificate.
    ///
    /// - The CA certificate (`CA:TRUE`) goes to `cacert.pem`: give it to the agents.
    /// - The server certificate (`CA:FALSE`, as webpki requires) is signed by the CA with
    ///   the subject alternative names `DNS:localhost`, `IP:127.0.0.1` and `extra_names`
    ///   (an IP address text becomes an IP name, anything else a DNS name; the OCS agents
    ///   and webpki check the name against the URL's host).
    /// - Existing files are reused; when the names differ from `server-names.txt`, a new
    ///   server certificate is signed by the same CA, so agents need nothing new.
    ///
    /// Keys are ECDSA P-256; the certificates do not expire before year 4096 (rcgen's
    /// default), so nothing needs renewing. Private keys are written readable by the
    /// owner only (on Unix).
    ///
    /// # Errors
    /// [`TlsError::Io`] when `dir` cannot be created, read or written,
    /// [`TlsError::IncompleteCa`], [`TlsError::Generate`], [`TlsError::Pem`].
    pub fn generate(
        dir: &Path,
        extra_names: &[&str],
    ) -> Result<(Self, GeneratedCertificates), TlsError> {
        let files = GeneratedCertificates::in_dir(dir);
        fs::create_dir_all(dir).map_err(|source| TlsError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let mut names: Vec<String> = DEFAULT_NAMES.iter().map(|&n| n.to_owned()).collect();
        for name in extra_names {
            let name = name.trim();
            if !name.is_empty() && !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        let ca_key = match (files.ca_cert.exists(), files.ca_key.exists()) {
            (true, true) => {
                let pem = String::from_utf8_lossy(&read(&files.ca_key)?).into_owned();
                KeyPair::from_pem(&pem)?
            }
            (false, false) => {
                let key = KeyPair::generate()?;
                let cert = ca_params().self_signed(&key)?;
                write(&files.ca_key, key.serialize_pem().as_bytes(), true)?;
                write(&files.ca_cert, cert.pem().as_bytes(), false)?;
                tracing::info!(path = %files.ca_cert.display(), "generated a CA certificate for the agents");
                key
            }
            _ => {
                return Err(TlsError::IncompleteCa {
                    dir: dir.to_owned(),
                });
            }
        };
        let names_text = names.join("\n") + "\n";
        let current = files.cert.exists()
            && files.key.exists()
            && fs::read_to_string(&files.names).is_ok_and(|t| t == names_text);
        if !current {
            let issuer = Issuer::new(ca_params(), ca_key);
            let key = KeyPair::generate()?;
            let cert = server_params(names.clone())?.signed_by(&key, &issuer)?;
            let ca_pem = read(&files.ca_cert)?;
            let mut chain = cert.pem().into_bytes();
            chain.extend_from_slice(&ca_pem);
            write(&files.key, key.serialize_pem().as_bytes(), true)?;
            write(&files.cert, &chain, false)?;
            write(&files.names, names_text.as_bytes(), false)?;
            tracing::info!(path = %files.cert.display(), names = ?names, "generated a server certificate");
        }
        let config = Self::from_pem_files(&files.cert, &files.key)?;
        Ok((config, files))
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }
}

/// The CA's parameters; the same every time, so the CA key alone can sign new server
/// certificates whose issuer matches `cacert.pem`.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "ocs-deploy CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "ocs-deploy");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn server_params(names: Vec<String>) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "ocs-deploy server");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

fn certificates(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            what: format!("bad certificate: {e}"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            what: "no certificate".into(),
        });
    }
    Ok(chain)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes a file whole: to a temporary name, then renamed over the target.
fn write(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // A leftover from a crash would keep its old permissions.
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(data).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    fs::rename(&tmp, path).map_err(io)
}
