//! The `info` file.
//!
//! Placeholder while the reader lands.
/// Error.
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct InfoError;
/// Read.
///
/// # Errors
/// Never yet.
pub fn read(_b: &[u8]) -> Result<crate::PackageInfo, InfoError> { Err(InfoError) }
