//! [`AdminToken`]: the bearer token of the admin API, and the check of each request.

use core::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AdminError;

/// Why a token was refused when it was configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminTokenError {
    /// The token is shorter than [`AdminToken::MIN_LEN`].
    #[error("the admin token has {len} characters: at least {min} are needed")]
    TooShort {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// The token holds a character that cannot travel in an `Authorization` header
    /// (only visible ASCII, no space).
    #[error("the admin token may hold only visible ASCII characters (no spaces)")]
    BadCharacter,
    /// The token file could not be read.
    #[error("cannot read the admin token file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The secret a client of the admin API presents as `Authorization: Bearer <token>`.
///
/// At least [`MIN_LEN`](Self::MIN_LEN) visible ASCII characters (for example
/// `openssl rand -hex 32`). Its `Debug` output never shows it, and presented tokens are
/// compared in constant time (the time depends only on the configured token's length).
///
/// ```
/// use ocs_deploy_http::server::AdminToken;
///
/// let token = AdminToken::new("4f1c0d5e9a7b3c2d1e0f9a8b")?;
/// assert!(token.matches("4f1c0d5e9a7b3c2d1e0f9a8b"));
/// assert!(!token.matches("4f1c0d5e9a7b3c2d1e0f9a8c"));
/// assert!(!token.matches(""));
/// assert_eq!(format!("{token:?}"), "AdminToken(<redacted>)");
/// assert!(AdminToken::new("short").is_err());
/// # Ok::<(), ocs_deploy_http::server::AdminTokenError>(())
/// ```
#[derive(Clone)]
pub struct AdminToken(Arc<str>);

impl AdminToken {
    /// The shortest token accepted: 16 characters.
    pub const MIN_LEN: usize = 16;

    /// A token.
    ///
    /// # Errors
    /// [`AdminTokenError::TooShort`], [`AdminTokenError::BadCharacter`].
    pub fn new(token: impl Into<String>) -> Result<Self, AdminTokenError> {
        let token = token.into();
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AdminTokenError::BadCharacter);
        }
        if token.len() < Self::MIN_LEN {
            return Err(AdminTokenError::TooShort {
                len: token.len(),
                min: Self::MIN_LEN,
            });
        }
        Ok(Self(token.into()))
    }

    /// The token in `path`, without the whitespace (a final newline) around it.
    ///
    /// ```
    /// use ocs_deploy_http::server::AdminToken;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("admin-token");
    /// std::fs::write(&path, "0123456789abcdef0123\n")?;
    /// assert!(AdminToken::from_file(&path)?.matches("0123456789abcdef0123"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`AdminTokenError::Read`], and as [`new`](Self::new).
    pub fn from_file(path: &Path) -> Result<Self, AdminTokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| AdminTokenError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::new(text.trim())
    }

    /// Whether `presented` is this token, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Whether `expected == presented`, reading every byte of `expected` whatever the
/// first difference, so the time taken says nothing about where they differ.
fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    let mut diff = expected.len() ^ presented.len();
    for (i, &e) in expected.iter().enumerate() {
        let p = presented.get(i).copied().unwrap_or(0);
        diff |= usize::from(e ^ p);
        diff = std::hint::black_box(diff);
    }
    diff == 0
}

/// The token after `Bearer ` (scheme case-insensitive), if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The middleware in front of every admin route: 401 without the right token.
pub(super) async fn require_token(
    State(token): State<AdminToken>,
    request: Request,
    next: Next,
) -> Response {
    match bearer(request.headers()) {
        Some(presented) if token.matches(presented) => next.run(request).await,
        Some(_) => {
            tracing::warn!(path = %request.uri().path(), "admin request with a wrong token");
            AdminError::Unauthorized { presented: true }.into_response()
        }
        None => AdminError::Unauthorized { presented: false }.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_whole_tokens() {
        assert!(constant_time_eq(b"abcdef", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abcdeg"));
        assert!(!constant_time_eq(b"abcdef", b"abcde"));
        assert!(!constant_time_eq(b"abcdef", b"abcdefg"));
        assert!(!constant_time_eq(b"abc\0", b"abc"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn reads_the_bearer_scheme_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn refuses_weak_tokens() {
        assert!(matches!(
            AdminToken::new("0123456789abcde"),
            Err(AdminTokenError::TooShort { len: 15, min: 16 })
        ));
        assert!(matches!(
            AdminToken::new("0123456789 abcdef"),
            Err(AdminTokenError::BadCharacter)
        ));
        assert!(AdminToken::new("0123456789abcdef").is_ok());
    }
}
