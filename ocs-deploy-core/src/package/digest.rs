//! Package digests: MD5, SHA1 and SHA256, written in Hexa or Base64.
//!
//! The info file carries the digest of the assembled archive as text (`DIGEST`), with its
//! algorithm (`DIGEST_ALGO`) and encoding (`DIGEST_ENCODE`). The two agent families read
//! that text differently:
//!
//! | form | Unix agent | Windows agent |
//! |---|---|---|
//! | lowercase hex | yes | yes |
//! | hex with uppercase letters | no (`eq`) | no (case-sensitive compare) |
//! | Base64 padded (`==`, OpenSSL `EVP_EncodeBlock`) | no | yes |
//! | Base64 unpadded (Perl `b64digest`) | yes | no |
//!
//! and the Unix agent knows only `MD5` and `SHA1`. [`ExpectedDigest`] decodes any of these
//! forms, [`ExpectedDigest::verify`] says which form matched, and
//! [`ExpectedDigest::accepted_by`] says which real agents would accept the package.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use md5::Digest as _;

/// A digest algorithm (`DIGEST_ALGO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// MD5, the console's default and the only algorithm its current builder writes.
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-256 (Windows agent only).
    Sha256,
}

impl DigestAlgorithm {
    /// Every algorithm.
    pub const ALL: [Self; 3] = [Self::Md5, Self::Sha1, Self::Sha256];

    /// The length of the digest in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// The wire spelling: `MD5`, `SHA1` or `SHA256`.
    pub const fn as_wire(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// Reads `DIGEST_ALGO` case-insensitively, as the Windows agent does.
    ///
    /// ```
    /// use ocs_deploy_core::package::DigestAlgorithm;
    /// assert_eq!(DigestAlgorithm::from_wire("md5"), Some(DigestAlgorithm::Md5));
    /// assert_eq!(DigestAlgorithm::from_wire("SHA-256"), Some(DigestAlgorithm::Sha256));
    /// assert_eq!(DigestAlgorithm::from_wire("CRC32"), None);
    /// ```
    pub fn from_wire(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Self::Md5),
            "SHA1" | "SHA-1" => Some(Self::Sha1),
            "SHA256" | "SHA-256" => Some(Self::Sha256),
            _ => None,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_wire())
    }
}

/// A digest encoding (`DIGEST_ENCODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestEncoding {
    /// Hexadecimal, written lowercase.
    Hexa,
    /// Base64 (standard alphabet).
    Base64,
}

impl DigestEncoding {
    /// The wire spelling: `Hexa` or `Base64`.
    pub const fn as_wire(self) -> &'static str {
        match self {
            Self::Hexa => "Hexa",
            Self::Base64 => "Base64",
        }
    }

    /// Reads `DIGEST_ENCODE` case-insensitively, as both agents do.
    ///
    /// ```
    /// use ocs_deploy_core::package::DigestEncoding;
    /// assert_eq!(DigestEncoding::from_wire("HEXA"), Some(DigestEncoding::Hexa));
    /// assert_eq!(DigestEncoding::from_wire("base64"), Some(DigestEncoding::Base64));
    /// assert_eq!(DigestEncoding::from_wire("binary"), None);
    /// ```
    pub fn from_wire(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("hexa") {
            Some(Self::Hexa)
        } else if s.eq_ignore_ascii_case("base64") {
            Some(Self::Base64)
        } else {
            None
        }
    }
}

impl fmt::Display for DigestEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_wire())
    }
}

/// How a digest was spelled in an info file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestForm {
    /// Lowercase hexadecimal: every agent accepts it.
    HexLowercase,
    /// Hexadecimal with uppercase letters: no real agent accepts it (both compare the
    /// text exactly with their own lowercase hex).
    HexUppercase,
    /// Base64 with `=` padding, as the Windows agent computes it.
    Base64Padded,
    /// Base64 without padding, as the Unix agent computes it (Perl `b64digest`).
    Base64Unpadded,
}

/// Which real OCS agent families accept a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AgentSupport {
    /// The Unix agent (Perl) accepts it.
    pub unix: bool,
    /// The Windows agent accepts it.
    pub windows: bool,
}

impl DigestForm {
    /// Which agent families accept this spelling (regardless of the algorithm).
    pub const fn accepted_by(self) -> AgentSupport {
        match self {
            Self::HexLowercase => AgentSupport {
                unix: true,
                windows: true,
            },
            Self::HexUppercase => AgentSupport {
                unix: false,
                windows: false,
            },
            Self::Base64Padded => AgentSupport {
                unix: false,
                windows: true,
            },
            Self::Base64Unpadded => AgentSupport {
                unix: true,
                windows: false,
            },
        }
    }

    /// The encoding this form belongs to.
    pub const fn encoding(self) -> DigestEncoding {
        match self {
            Self::HexLowercase | Self::HexUppercase => DigestEncoding::Hexa,
            Self::Base64Padded | Self::Base64Unpadded => DigestEncoding::Base64,
        }
    }
}

/// A computed digest.
///
/// ```
/// use ocs_deploy_core::package::{DigestAlgorithm, DigestForm, DigestHasher};
///
/// let mut h = DigestHasher::new(DigestAlgorithm::Md5);
/// h.update(b"hello ");
/// h.update(b"world");
/// let d = h.finalize();
/// assert_eq!(d.to_text(DigestForm::HexLowercase), "5eb63bbbe01eeed093cb22bb8f5acdc3");
/// assert_eq!(d.to_text(DigestForm::Base64Padded), "XrY7u+Ae7tCTyyK7j1rNww==");
/// assert_eq!(d.to_text(DigestForm::Base64Unpadded), "XrY7u+Ae7tCTyyK7j1rNww");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DigestValue {
    algorithm: DigestAlgorithm,
    bytes: [u8; 32],
}

impl DigestValue {
    /// A digest from its raw bytes.
    ///
    /// # Errors
    /// [`DigestError::WrongLength`] when `bytes` is not as long as the algorithm's output.
    pub fn from_bytes(algorithm: DigestAlgorithm, bytes: &[u8]) -> Result<Self, DigestError> {
        if bytes.len() != algorithm.output_len() {
            return Err(DigestError::WrongLength {
                algorithm,
                expected: algorithm.output_len(),
                found: bytes.len(),
                base64_of_hex: false,
            });
        }
        let mut buf = [0u8; 32];
        buf[..bytes.len()].copy_from_slice(bytes);
        Ok(Self {
            algorithm,
            bytes: buf,
        })
    }

    /// The algorithm that produced it.
    pub const fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algorithm.output_len()]
    }

    /// The digest spelled in `form`.
    pub fn to_text(&self, form: DigestForm) -> String {
        match form {
            DigestForm::HexLowercase => hex::encode(self.as_bytes()),
            DigestForm::HexUppercase => hex::encode_upper(self.as_bytes()),
            DigestForm::Base64Padded => STANDARD.encode(self.as_bytes()),
            DigestForm::Base64Unpadded => STANDARD_NO_PAD.encode(self.as_bytes()),
        }
    }
}

impl fmt::Debug for DigestValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, hex::encode(self.as_bytes()))
    }
}

/// An incremental hasher for any [`DigestAlgorithm`].
#[derive(Clone)]
pub struct DigestHasher(HasherState);

#[derive(Clone)]
enum HasherState {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl fmt::Debug for DigestHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DigestHasher")
            .field(&self.algorithm())
            .finish()
    }
}

impl DigestHasher {
    /// A fresh hasher.
    pub fn new(algorithm: DigestAlgorithm) -> Self {
        Self(match algorithm {
            DigestAlgorithm::Md5 => HasherState::Md5(md5::Md5::new()),
            DigestAlgorithm::Sha1 => HasherState::Sha1(sha1::Sha1::new()),
            DigestAlgorithm::Sha256 => HasherState::Sha256(sha2::Sha256::new()),
        })
    }

    /// The algorithm.
    pub const fn algorithm(&self) -> DigestAlgorithm {
        match self.0 {
            HasherState::Md5(_) => DigestAlgorithm::Md5,
            HasherState::Sha1(_) => DigestAlgorithm::Sha1,
            HasherState::Sha256(_) => DigestAlgorithm::Sha256,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            HasherState::Md5(h) => h.update(data),
            HasherState::Sha1(h) => h.update(data),
            HasherState::Sha256(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finalize(self) -> DigestValue {
        let algorithm = self.algorithm();
        let mut bytes = [0u8; 32];
        match self.0 {
            HasherState::Md5(h) => bytes[..16].copy_from_slice(&h.finalize()),
            HasherState::Sha1(h) => bytes[..20].copy_from_slice(&h.finalize()),
            HasherState::Sha256(h) => bytes[..32].copy_from_slice(&h.finalize()),
        }
        DigestValue { algorithm, bytes }
    }

    /// The digest of `data` in one call.
    pub fn digest(algorithm: DigestAlgorithm, data: &[u8]) -> DigestValue {
        let mut h = Self::new(algorithm);
        h.update(data);
        h.finalize()
    }
}

/// A digest as an info file states it: decoded, with the form it was written in.
///
/// ```
/// use ocs_deploy_core::package::{
///     DigestAlgorithm, DigestEncoding, DigestForm, DigestHasher, ExpectedDigest,
/// };
///
/// // The Unix agent's unpadded Base64, as a Base64 SHA1 digest.
/// let computed = DigestHasher::digest(DigestAlgorithm::Sha1, b"payload");
/// let text = computed.to_text(DigestForm::Base64Unpadded);
/// let expected = ExpectedDigest::parse(DigestAlgorithm::Sha1, DigestEncoding::Base64, &text)?;
/// assert_eq!(expected.verify(&computed)?, DigestForm::Base64Unpadded);
/// assert!(expected.accepted_by().unix && !expected.accepted_by().windows);
/// # Ok::<(), ocs_deploy_core::package::DigestError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExpectedDigest {
    value: DigestValue,
    form: DigestForm,
}

/// Why a digest text cannot be used, or does not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The digest text is empty.
    #[error("the {algorithm} {encoding} digest is empty")]
    Empty {
        /// Stated algorithm.
        algorithm: DigestAlgorithm,
        /// Stated encoding.
        encoding: DigestEncoding,
    },
    /// The text is not hexadecimal.
    #[error("digest {text:?} is not hexadecimal")]
    NotHex {
        /// The offending text.
        text: String,
    },
    /// The text is not Base64.
    #[error("digest {text:?} is not Base64")]
    NotBase64 {
        /// The offending text.
        text: String,
    },
    /// The decoded digest has the wrong length for its algorithm.
    #[error(
        "digest decodes to {found} bytes but {algorithm} has {expected}{}",
        if *base64_of_hex { "; it is the Base64 of the hex string, as the OCS console's create_pack writes MD5 + Base64 (a console bug)" } else { "" }
    )]
    WrongLength {
        /// Stated algorithm.
        algorithm: DigestAlgorithm,
        /// Length the algorithm produces.
        expected: usize,
        /// Length found.
        found: usize,
        /// The decoded bytes are the hex spelling of a digest of the right length.
        base64_of_hex: bool,
    },
    /// The computed digest differs from the expected one.
    #[error("{algorithm} digest mismatch: expected {expected}, computed {computed}")]
    Mismatch {
        /// The algorithm.
        algorithm: DigestAlgorithm,
        /// The expected digest, lowercase hex.
        expected: String,
        /// The computed digest, lowercase hex.
        computed: String,
    },
}

impl ExpectedDigest {
    /// Decodes a digest text written with `encoding` for `algorithm`.
    ///
    /// Hex may be any case; Base64 may be padded or not. The form is kept so that
    /// [`Self::accepted_by`] and the info-file writer can reproduce it.
    ///
    /// # Errors
    /// [`DigestError`] for an empty text, bad characters, or a wrong length (naming the
    /// console's Base64-of-hex bug when that is the cause).
    pub fn parse(
        algorithm: DigestAlgorithm,
        encoding: DigestEncoding,
        text: &str,
    ) -> Result<Self, DigestError> {
        if text.is_empty() {
            return Err(DigestError::Empty {
                algorithm,
                encoding,
            });
        }
        let (bytes, form) = match encoding {
            DigestEncoding::Hexa => {
                let bytes =
                    hex::decode(text).map_err(|_| DigestError::NotHex { text: text.into() })?;
                let form = if text.bytes().any(|b| b.is_ascii_uppercase()) {
                    DigestForm::HexUppercase
                } else {
                    DigestForm::HexLowercase
                };
                (bytes, form)
            }
            DigestEncoding::Base64 => {
                if text.ends_with('=') {
                    let bytes = STANDARD
                        .decode(text)
                        .map_err(|_| DigestError::NotBase64 { text: text.into() })?;
                    (bytes, DigestForm::Base64Padded)
                } else {
                    let bytes = STANDARD_NO_PAD
                        .decode(text)
                        .or_else(|_| STANDARD.decode(text))
                        .map_err(|_| DigestError::NotBase64 { text: text.into() })?;
                    // A length that is a multiple of 3 has no padding either way.
                    let form = if bytes.len() % 3 == 0 {
                        DigestForm::Base64Padded
                    } else {
                        DigestForm::Base64Unpadded
                    };
                    (bytes, form)
                }
            }
        };
        if bytes.len() != algorithm.output_len() {
            let base64_of_hex = encoding == DigestEncoding::Base64
                && bytes.len() == 2 * algorithm.output_len()
                && bytes.iter().all(u8::is_ascii_hexdigit);
            return Err(DigestError::WrongLength {
                algorithm,
                expected: algorithm.output_len(),
                found: bytes.len(),
                base64_of_hex,
            });
        }
        Ok(Self {
            value: DigestValue::from_bytes(algorithm, &bytes)?,
            form,
        })
    }

    /// An expected digest from a computed one, to be written in `form`.
    pub fn new(value: DigestValue, form: DigestForm) -> Self {
        Self { value, form }
    }

    /// The decoded digest.
    pub const fn value(&self) -> &DigestValue {
        &self.value
    }

    /// The algorithm.
    pub const fn algorithm(&self) -> DigestAlgorithm {
        self.value.algorithm
    }

    /// The encoding.
    pub const fn encoding(&self) -> DigestEncoding {
        self.form.encoding()
    }

    /// The form it was written in.
    pub const fn form(&self) -> DigestForm {
        self.form
    }

    /// The text to write in an info file (the form it was read in).
    pub fn to_text(&self) -> String {
        self.value.to_text(self.form)
    }

    /// Which real agent families would accept this digest: the form must suit them, and
    /// the Unix agent knows only MD5 and SHA1.
    pub fn accepted_by(&self) -> AgentSupport {
        let form = self.form.accepted_by();
        AgentSupport {
            unix: form.unix && self.algorithm() != DigestAlgorithm::Sha256,
            windows: form.windows,
        }
    }

    /// Checks a computed digest against this one and says which form matched.
    ///
    /// Our agent compares the decoded bytes, so it accepts every form a real agent
    /// accepts (and uppercase hex too); the returned form tells which one it was.
    ///
    /// # Errors
    /// [`DigestError::Mismatch`] when the algorithms or the bytes differ.
    pub fn verify(&self, computed: &DigestValue) -> Result<DigestForm, DigestError> {
        if computed == &self.value {
            Ok(self.form)
        } else {
            Err(DigestError::Mismatch {
                algorithm: self.algorithm(),
                expected: hex::encode(self.value.as_bytes()),
                computed: hex::encode(computed.as_bytes()),
            })
        }
    }
}
