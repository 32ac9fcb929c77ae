//! Trusting the agent's CA file: webpki path validation against its certificates, and
//! the OCS case of a self-signed `CA:TRUE` server certificate pinned by its bytes.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

use super::ClientError;
use super::der;

/// The smallest RSA key accepted in the CA file.
const MIN_RSA_BITS: usize = 2048;

/// The certificates of a CA file (PEM, one or more), checked: each parses as X.509 and
/// none has an RSA key under 2048 bits.
pub(crate) fn ca_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::CaPem {
            what: format!("bad PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(ClientError::CaPem {
            what: "no certificate".into(),
        });
    }
    for (i, cert) in certs.iter().enumerate() {
        let index = i + 1;
        let parsed = ParsedCertificate::try_from(cert).map_err(|e| ClientError::CaPem {
            what: format!("certificate {index}: {e}"),
        })?;
        if let Some(bits) = der::rsa_modulus_bits(&parsed.subject_public_key_info())
            && bits < MIN_RSA_BITS
        {
            return Err(ClientError::WeakRsaKey { index, bits });
        }
    }
    Ok(certs)
}

/// A rustls client configuration (ring, TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`)
/// trusting `certs`.
pub(crate) fn client_config(
    certs: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = CaFileVerifier::new(certs, &provider)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts a server whose certificate chains to a certificate of the CA file (webpki,
/// as any client), or whose certificate *is* one of them: byte for byte, valid now, for
/// the server's name. OCS servers use such self-signed certificates, often `CA:TRUE`
/// (`openssl req -x509`), which webpki refuses as a server certificate
/// (`CaUsedAsEndEntity`) and the OCS agents accept.
///
/// Handshake signatures are checked with ring's algorithms in both cases.
#[derive(Debug)]
struct CaFileVerifier {
    /// `None` when webpki accepts none of the certificates as a trust anchor.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl CaFileVerifier {
    fn new(
        certs: Vec<CertificateDer<'static>>,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Self, ClientError> {
        let mut roots = RootCertStore::empty();
        let (_added, ignored) = roots.add_parsable_certificates(certs.iter().cloned());
        if ignored > 0 {
            tracing::debug!(
                ignored,
                "CA file certificates unusable as trust anchors: only pinned"
            );
        }
        let webpki = if roots.is_empty() {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
                    .build()
                    .map_err(|e| ClientError::CaPem {
                        what: e.to_string(),
                    })?,
            )
        };
        Ok(Self {
            webpki,
            pinned: certs,
            algorithms: provider.signature_verification_algorithms,
        })
    }

    /// The checks for a server certificate equal to one of the CA file: dates and name
    /// (its signature is not checked: the bytes themselves are trusted).
    fn verify_pinned(
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), Error> {
        let (not_before, not_after) =
            der::validity(end_entity).ok_or(CertificateError::BadEncoding)?;
        let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if now_secs < not_before {
            return Err(CertificateError::NotValidYet.into());
        }
        if now_secs > not_after {
            return Err(CertificateError::Expired.into());
        }
        let parsed = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_name(&parsed, server_name)
    }
}

impl ServerCertVerifier for CaFileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let chained = match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(CertificateError::UnknownIssuer.into()),
        };
        match chained {
            Ok(verified) => Ok(verified),
            // `CaUsedAsEndEntity` comes as `Other`; a certificate pinned in the CA file
            // has no issuer to find either. Name, date and purpose failures stand.
            Err(Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::Other(_),
            )) if self
                .pinned
                .iter()
                .any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                Self::verify_pinned(end_entity, server_name, now)?;
                tracing::debug!(server = ?server_name, "server certificate pinned in the CA file");
                Ok(ServerCertVerified::assertion())
            }
            Err(error) => Err(error),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, date_time_ymd};

    use super::*;

    fn self_signed_ca(names: &[&str], dates: Option<(i32, i32)>) -> CertificateDer<'static> {
        let mut params =
            CertificateParams::new(names.iter().map(|&n| n.to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        if let Some((from, to)) = dates {
            params.not_before = date_time_ymd(from, 1, 1);
            params.not_after = date_time_ymd(to, 1, 1);
        }
        params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .clone()
    }

    /// 2026-11-24.
    fn now() -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_795_478_400))
    }

    #[test]
    fn pinned_certificates_are_checked_for_dates_and_name() {
        let ip = ServerName::try_from("127.0.0.1").unwrap();
        let check = |cert: &CertificateDer<'_>, name: &ServerName<'_>| {
            CaFileVerifier::verify_pinned(cert, name, now())
        };
        assert_eq!(check(&self_signed_ca(&["127.0.0.1"], None), &ip), Ok(()));
        assert_eq!(
            check(&self_signed_ca(&["127.0.0.1"], Some((2000, 2001))), &ip),
            Err(CertificateError::Expired.into())
        );
        assert_eq!(
            check(&self_signed_ca(&["127.0.0.1"], Some((2990, 2999))), &ip),
            Err(CertificateError::NotValidYet.into())
        );
        assert!(matches!(
            check(
                &self_signed_ca(&["ocs.example.com"], None),
                &ServerName::try_from("localhost").unwrap()
            ),
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForNameContext { .. }
            ))
        ));
        assert_eq!(
            check(&CertificateDer::from(vec![0x30, 0x00]), &ip),
            Err(CertificateError::BadEncoding.into())
        );
    }

    #[test]
    fn validity_and_key_size_of_openssl_certificates() {
        for (pem, bits) in [
            (
                include_str!("../../tests/http/fixtures/rsa1024-cacert.pem"),
                1024,
            ),
            (
                include_str!("../../tests/http/fixtures/rsa2048-cacert.pem"),
                2048,
            ),
        ] {
            let cert = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
            let (not_before, not_after) = der::validity(&cert).unwrap();
            // Made on 2026-11-24 for 36500 days: notAfter is a GeneralizedTime.
            assert_eq!(not_before / 86_400, 20_781);
            assert_eq!(not_after - not_before, 36_500 * 86_400);
            let parsed = ParsedCertificate::try_from(&cert).unwrap();
            assert_eq!(
                der::rsa_modulus_bits(&parsed.subject_public_key_info()),
                Some(bits)
            );
        }
        // ECDSA keys are not RSA.
        let ec = self_signed_ca(&["localhost"], None);
        let parsed = ParsedCertificate::try_from(&ec).unwrap();
        assert_eq!(
            der::rsa_modulus_bits(&parsed.subject_public_key_info()),
            None
        );
        // rcgen's default validity: 1975-01-01 to 4096-01-01.
        assert_eq!(der::validity(&ec), Some((157_766_400, 67_090_118_400)));
    }
}
