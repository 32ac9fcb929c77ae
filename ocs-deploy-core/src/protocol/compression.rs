//! Body framing: zlib, gzip or plain XML, as OCS agents and servers send it.
//!
//! ```
//! use ocs_deploy_core::protocol::compression::{self, CompressionError, Encoding};
//!
//! let xml = b"<REPLY><RESPONSE>NO_ACCOUNT_UPDATE</RESPONSE></REPLY>";
//! for encoding in [Encoding::Zlib, Encoding::Gzip, Encoding::Plain] {
//!     let body = compression::encode(xml, encoding);
//!     assert_eq!(compression::decode(&body, 1024)?, (xml.to_vec(), encoding));
//! }
//! assert_eq!(
//!     compression::decode(&compression::encode(&[b' '; 4096], Encoding::Zlib), 1024),
//!     Err(CompressionError::TooLarge { limit: 1024 })
//! );
//! # Ok::<(), CompressionError>(())
//! ```

use std::io::{Read, Write};

use flate2::{Compression, Decompress, FlushDecompress, Status};

/// How a body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// A zlib (RFC 1950) stream: what both agents send and the server answers by default.
    Zlib,
    /// A gzip (RFC 1952) member: the Unix agent's fallback; the server answers in kind.
    Gzip,
    /// Plain XML text; the server answers in kind.
    Plain,
}

/// Why a body cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompressionError {
    /// The body is empty.
    #[error("body is empty")]
    Empty,
    /// The decoded body would be longer than the limit.
    #[error("decoded body exceeds {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The compressed stream ends early (neither a final block nor a sync flush).
    #[error("{encoding:?} stream is truncated")]
    Truncated {
        /// The framing detected.
        encoding: Encoding,
    },
    /// The compressed stream is corrupt (bad data or checksum).
    #[error("corrupt {encoding:?} stream: {message}")]
    Corrupt {
        /// The framing detected.
        encoding: Encoding,
        /// What the decompressor said.
        message: String,
    },
    /// Neither zlib, gzip nor XML (raw deflate is not supported, as in OCS).
    #[error("body is neither zlib, gzip nor XML")]
    Unrecognized,
}

/// The end of a zlib stream flushed with `Z_SYNC_FLUSH` and never finished, as the
/// Windows agent sends it: an empty stored block.
const SYNC_FLUSH_MARKER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
const CHUNK: usize = 32 * 1024;

/// Encodes a body. Zlib output is a complete stream with its Adler-32 trailer (the Unix
/// agent decodes replies in one shot and needs it); [`Encoding::Plain`] copies the body.
pub fn encode(body: &[u8], encoding: Encoding) -> Vec<u8> {
    let out = Vec::with_capacity(body.len() / 2 + 64);
    let written = match encoding {
        Encoding::Plain => return body.to_vec(),
        Encoding::Zlib => {
            let mut encoder = flate2::write::ZlibEncoder::new(out, Compression::default());
            encoder.write_all(body).and_then(|()| encoder.finish())
        }
        Encoding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(out, Compression::default());
            encoder.write_all(body).and_then(|()| encoder.finish())
        }
    };
    match written {
        Ok(bytes) => bytes,
        // Writing into a Vec cannot fail, and a fresh encoder accepts any input.
        Err(e) => unreachable!("compressing into memory failed: {e}"),
    }
}

/// Detects the framing of a body and decodes it, refusing output longer than `limit`.
///
/// Accepted, as the OCS server accepts them: a zlib stream, complete or ending in a sync
/// flush (`00 00 ff ff`, no final block, no trailer: the Windows agent); a gzip member;
/// plain XML (`<?xml` in any case, or `<` after optional whitespace and BOM). Output is
/// produced in chunks, so a zip bomb stops at the limit.
///
/// # Errors
/// [`CompressionError`] for an empty, unrecognized, truncated, corrupt or too large body.
pub fn decode(body: &[u8], limit: usize) -> Result<(Vec<u8>, Encoding), CompressionError> {
    if body.is_empty() {
        return Err(CompressionError::Empty);
    }
    if is_zlib_header(body) {
        return inflate_zlib(body, limit).map(|out| (out, Encoding::Zlib));
    }
    if body.starts_with(&[0x1f, 0x8b]) {
        return gunzip(body, limit).map(|out| (out, Encoding::Gzip));
    }
    if looks_like_xml(body) {
        if body.len() > limit {
            return Err(CompressionError::TooLarge { limit });
        }
        return Ok((body.to_vec(), Encoding::Plain));
    }
    Err(CompressionError::Unrecognized)
}

fn is_zlib_header(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

fn looks_like_xml(body: &[u8]) -> bool {
    let body = body.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(body);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    body.get(start..).is_some_and(|rest| rest.starts_with(b"<"))
}

fn inflate_zlib(body: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    let corrupt = |message: String| CompressionError::Corrupt {
        encoding: Encoding::Zlib,
        message,
    };
    let mut inflater = Decompress::new(true);
    let mut out = Vec::new();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let consumed = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
        let input = body.get(consumed..).unwrap_or_default();
        let before_out = inflater.total_out();
        let status = inflater
            .decompress(input, &mut chunk, FlushDecompress::Sync)
            .map_err(|e| corrupt(e.to_string()))?;
        let produced = usize::try_from(inflater.total_out() - before_out).unwrap_or(usize::MAX);
        let now_consumed = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
        let data = chunk.get(..produced).unwrap_or_default();
        if out.len().saturating_add(data.len()) > limit {
            return Err(CompressionError::TooLarge { limit });
        }
        out.extend_from_slice(data);
        match status {
            Status::StreamEnd => return Ok(out),
            Status::Ok | Status::BufError => {
                if produced == 0 && now_consumed == consumed {
                    // No progress: the input is used up (or refused) without a final block.
                    return if now_consumed >= body.len() && body.ends_with(&SYNC_FLUSH_MARKER) {
                        Ok(out)
                    } else {
                        Err(CompressionError::Truncated {
                            encoding: Encoding::Zlib,
                        })
                    };
                }
            }
        }
    }
}

fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    let decoder = flate2::read::GzDecoder::new(body);
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    let mut reader = decoder.take(cap);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                let data = chunk.get(..n).unwrap_or_default();
                if out.len().saturating_add(data.len()) > limit {
                    return Err(CompressionError::TooLarge { limit });
                }
                out.extend_from_slice(data);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(CompressionError::Truncated {
                    encoding: Encoding::Gzip,
                });
            }
            Err(e) => {
                return Err(CompressionError::Corrupt {
                    encoding: Encoding::Gzip,
                    message: e.to_string(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_detection() {
        assert!(looks_like_xml(b"\xef\xbb\xbf  \n<?XML"));
        assert!(!looks_like_xml(b"   "));
        assert!(!looks_like_xml(b"x<"));
    }
}
