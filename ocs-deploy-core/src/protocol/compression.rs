//! Body framing: zlib, gzip or plain XML, as OCS agents and servers send it.
//!
//! Every message body is framed one of three ways ([`Encoding`]). The server detects the
//! framing of a request with [`decode`], under a limit on the decoded size, and answers
//! in the same framing with [`encode`].
//!
//! ```
//! use ocs_deploy_core::protocol::compression::{self, CompressionError, Encoding};
//!
//! let xml = b"<REPLY><RESPONSE>NO_ACCOUNT_UPDATE</RESPONSE></REPLY>";
//! for encoding in [Encoding::Zlib, Encoding::Gzip, Encoding::Plain] {
//!     let body = compression::encode(xml, encoding);
//!     assert_eq!(compression::decode(&body, 1024)?, (xml.to_vec(), encoding));
//! }
//! // 4 KiB of spaces compress to a few bytes, but do not fit a 1 KiB limit.
//! assert_eq!(
//!     compression::decode(&compression::encode_zlib(&[b' '; 4096]), 1024),
//!     Err(CompressionError::TooLarge { limit: 1024 })
//! );
//! # Ok::<(), CompressionError>(())
//! ```

use std::io::Read;

use flate2::{Compress, Compression, Crc, Decompress, FlushCompress, FlushDecompress, Status};

/// How a body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// A zlib (RFC 1950) stream: what both agents send and the server answers by default.
    /// The Windows agent's streams end in a sync flush, without a final block or checksum.
    Zlib,
    /// Gzip (RFC 1952): the Unix agent's fallback when it has no zlib; the server answers
    /// in kind.
    Gzip,
    /// Plain XML text; the server answers in kind.
    Plain,
}

impl Encoding {
    /// The framing a body announces by its first bytes: a zlib header, the gzip magic
    /// number, or `<` after an optional UTF-8 byte order mark and whitespace. `None` for
    /// anything else (raw deflate included, as in OCS).
    ///
    /// ```
    /// use ocs_deploy_core::protocol::Encoding;
    ///
    /// assert_eq!(Encoding::detect(&[0x78, 0x9c, 0x03, 0x00]), Some(Encoding::Zlib));
    /// assert_eq!(Encoding::detect(&[0x1f, 0x8b]), Some(Encoding::Gzip));
    /// assert_eq!(Encoding::detect(b"\n  <?XML version='1.0'?>"), Some(Encoding::Plain));
    /// assert_eq!(Encoding::detect(b"REQUEST"), None);
    /// ```
    pub fn detect(body: &[u8]) -> Option<Self> {
        if is_zlib_header(body) {
            Some(Self::Zlib)
        } else if body.starts_with(&GZIP_MAGIC) {
            Some(Self::Gzip)
        } else if looks_like_xml(body) {
            Some(Self::Plain)
        } else {
            None
        }
    }
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
    /// The compressed stream ends early: neither a final block (with its checksum) nor,
    /// for zlib, a sync flush at a block boundary.
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
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The gzip header we write: deflate, no flags, no time, no extra flags, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff];
/// Output is produced this many bytes at a time, and checked against the limit each time.
const CHUNK: usize = 32 * 1024;

/// Encodes a body in the given framing; [`Encoding::Plain`] copies it.
pub fn encode(body: &[u8], encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Zlib => encode_zlib(body),
        Encoding::Gzip => encode_gzip(body),
        Encoding::Plain => body.to_vec(),
    }
}

/// Compresses a body as one complete zlib stream (RFC 1950: header, final block and
/// Adler-32 trailer), as Perl's `Compress::Zlib::compress` does at its default level.
/// The Unix agent decodes replies in one shot and needs the trailer.
///
/// ```
/// use ocs_deploy_core::protocol::compression;
///
/// let body = compression::encode_zlib(b"<REPLY/>");
/// assert_eq!(body[..2], [0x78, 0x9c]); // what the real OCS server sends
/// ```
pub fn encode_zlib(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 2 + 64);
    if deflate(body, true, &mut out).is_none() {
        // The compressor never fails on memory buffers; should it ever, stored blocks are
        // still a valid stream.
        out.clear();
        out.extend_from_slice(&[0x78, 0x01]);
        stored_blocks(body, &mut out);
        out.extend_from_slice(&adler32(1, body).to_be_bytes());
    }
    out
}

/// Compresses a body as one gzip member (RFC 1952), as Perl's `Compress::Zlib::memGzip`
/// does.
///
/// ```
/// use ocs_deploy_core::protocol::compression::{self, Encoding};
///
/// let body = compression::encode_gzip(b"<REPLY/>");
/// assert_eq!(compression::decode(&body, 64)?, (b"<REPLY/>".to_vec(), Encoding::Gzip));
/// # Ok::<(), compression::CompressionError>(())
/// ```
pub fn encode_gzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 2 + 64);
    out.extend_from_slice(&GZIP_HEADER);
    if deflate(body, false, &mut out).is_none() {
        out.truncate(GZIP_HEADER.len());
        stored_blocks(body, &mut out);
    }
    let mut crc = Crc::new();
    crc.update(body);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the length modulo 2^32.
    #[allow(clippy::cast_possible_truncation)]
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out
}

/// Detects the framing of a body and decodes it, refusing output longer than `limit`.
///
/// Accepted, as the OCS server accepts them:
/// - a zlib stream, complete, or ending in a sync flush (`00 00 ff ff` at a block
///   boundary, no final block, no checksum: the Windows agent);
/// - gzip, one member or several in a row;
/// - plain XML: `<` after an optional byte order mark and whitespace (so `<?xml` in any
///   case too).
///
/// Data after the end of a zlib stream or of the last gzip member is ignored, as the OCS
/// server ignores it. Output is produced a chunk at a time and checked against the limit,
/// so a zip bomb stops at the limit: memory never grows much beyond it.
///
/// # Errors
/// [`CompressionError`] for an empty, unrecognized, truncated, corrupt or too large body.
///
/// ```
/// use ocs_deploy_core::protocol::compression::{self, CompressionError, Encoding};
///
/// let xml = b"<REQUEST/>";
/// assert_eq!(compression::decode(xml, 1024)?, (xml.to_vec(), Encoding::Plain));
/// let zlib = compression::encode_zlib(xml);
/// assert_eq!(
///     compression::decode(&zlib[..zlib.len() - 1], 1024),
///     Err(CompressionError::Truncated { encoding: Encoding::Zlib })
/// );
/// # Ok::<(), CompressionError>(())
/// ```
pub fn decode(body: &[u8], limit: usize) -> Result<(Vec<u8>, Encoding), CompressionError> {
    if body.is_empty() {
        return Err(CompressionError::Empty);
    }
    match Encoding::detect(body) {
        Some(Encoding::Zlib) => inflate_zlib(body, limit).map(|out| (out, Encoding::Zlib)),
        Some(Encoding::Gzip) => gunzip(body, limit).map(|out| (out, Encoding::Gzip)),
        Some(Encoding::Plain) if body.len() > limit => Err(CompressionError::TooLarge { limit }),
        Some(Encoding::Plain) => Ok((body.to_vec(), Encoding::Plain)),
        None => Err(CompressionError::Unrecognized),
    }
}

/// A zlib header: deflate with a window of at most 32 KiB, and a valid check value.
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
    body.iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .is_some_and(|&b| b == b'<')
}

/// Where a decoder's input position is, as an index.
fn position(total_in: u64) -> usize {
    usize::try_from(total_in).unwrap_or(usize::MAX)
}

/// Appends `data` to `out` unless that would pass `limit`.
fn append_limited(out: &mut Vec<u8>, data: &[u8], limit: usize) -> Result<(), CompressionError> {
    if out.len().saturating_add(data.len()) > limit {
        return Err(CompressionError::TooLarge { limit });
    }
    out.extend_from_slice(data);
    Ok(())
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
        let consumed = position(inflater.total_in());
        let before_out = inflater.total_out();
        let input = body.get(consumed..).unwrap_or_default();
        let status = inflater
            .decompress(input, &mut chunk, FlushDecompress::Sync)
            .map_err(|e| corrupt(e.to_string()))?;
        let produced = position(inflater.total_out().saturating_sub(before_out));
        append_limited(&mut out, chunk.get(..produced).unwrap_or_default(), limit)?;
        if status == Status::StreamEnd {
            return Ok(out);
        }
        if produced == 0 && position(inflater.total_in()) == consumed {
            // No progress: the input is used up without a final block.
            if consumed < body.len() {
                return Err(corrupt(
                    "decoder stopped before the end of the input".into(),
                ));
            }
            if body.ends_with(&SYNC_FLUSH_MARKER) && ends_at_block_boundary(&mut inflater, &out) {
                return Ok(out);
            }
            return Err(CompressionError::Truncated {
                encoding: Encoding::Zlib,
            });
        }
    }
}

/// Whether an inflater that has used up its input without a final block stopped at a
/// block boundary, as after a sync flush, rather than inside a block whose data happens
/// to end in `00 00 ff ff`: feeds it an empty final block and the Adler-32 of the output,
/// which must end the stream without producing a byte.
fn ends_at_block_boundary(inflater: &mut Decompress, out: &[u8]) -> bool {
    let mut finish = [0x03, 0x00, 0, 0, 0, 0];
    for (slot, byte) in finish.iter_mut().skip(2).zip(adler32(1, out).to_be_bytes()) {
        *slot = byte;
    }
    let before_out = inflater.total_out();
    let mut sink = [0u8; 64];
    matches!(
        inflater.decompress(&finish, &mut sink, FlushDecompress::Finish),
        Ok(Status::StreamEnd)
    ) && inflater.total_out() == before_out
}

fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; CHUNK];
    let mut rest = body;
    loop {
        let mut member = flate2::bufread::GzDecoder::new(rest);
        loop {
            match member.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => append_limited(&mut out, chunk.get(..n).unwrap_or_default(), limit)?,
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
        let after = member.into_inner();
        if after.len() >= rest.len() {
            return Err(CompressionError::Corrupt {
                encoding: Encoding::Gzip,
                message: "empty gzip member".into(),
            });
        }
        rest = after;
        // Another member follows, or we are done (trailing data is ignored).
        if !rest.starts_with(&GZIP_MAGIC) {
            return Ok(out);
        }
    }
}

/// Deflates `body` completely into `out` (zlib framing or raw deflate). `None` if the
/// compressor reports an error or stops making progress.
fn deflate(body: &[u8], zlib_header: bool, out: &mut Vec<u8>) -> Option<()> {
    let mut compressor = Compress::new(Compression::default(), zlib_header);
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let (before_in, before_out) = (compressor.total_in(), compressor.total_out());
        let input = body.get(position(before_in)..)?;
        let status = compressor
            .compress_vec(input, out, FlushCompress::Finish)
            .ok()?;
        if status == Status::StreamEnd {
            return Some(());
        }
        if compressor.total_in() == before_in && compressor.total_out() == before_out {
            return None;
        }
    }
}

/// Writes `body` as deflate stored blocks, the last one final.
fn stored_blocks(body: &[u8], out: &mut Vec<u8>) {
    const MAX_STORED: usize = 0xffff;
    let mut blocks = body.chunks(MAX_STORED).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
}

/// Adler-32 (RFC 1950) of `data`, continuing from `adler` (1 to start).
fn adler32(adler: u32, data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    // The most bytes summed before the 32-bit sums could overflow.
    const NMAX: usize = 5552;
    let (mut a, mut b) = (adler & 0xffff, adler >> 16);
    for block in data.chunks(NMAX) {
        for &byte in block {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_detection() {
        assert!(looks_like_xml(b"\xef\xbb\xbf  \n<?XML"));
        assert!(!looks_like_xml(b"   "));
        assert!(!looks_like_xml(b"x<"));
        assert!(!looks_like_xml(b"\xef\xbb\xbf"));
    }

    #[test]
    fn adler32_matches_known_values() {
        assert_eq!(adler32(1, b""), 1);
        assert_eq!(adler32(1, b"Wikipedia"), 0x11e6_0398);
        let big = vec![0xffu8; 100_000];
        let (a, b) = big.split_at(33_333);
        assert_eq!(adler32(adler32(1, a), b), adler32(1, &big));
        // The trailer flate2 writes is the same checksum.
        let zlib = encode_zlib(&big);
        assert_eq!(zlib[zlib.len() - 4..], adler32(1, &big).to_be_bytes());
    }

    #[test]
    fn stored_fallback_streams_are_valid() {
        for size in [0, 1, 0xffff, 0x1_0000, 200_000] {
            let body: Vec<u8> = (0..size).map(|i| u8::try_from(i % 251).unwrap()).collect();

            let mut zlib = vec![0x78, 0x01];
            stored_blocks(&body, &mut zlib);
            zlib.extend_from_slice(&adler32(1, &body).to_be_bytes());
            let mut strict = Vec::new();
            flate2::read::ZlibDecoder::new(&zlib[..])
                .read_to_end(&mut strict)
                .unwrap();
            assert_eq!(strict, body);
            assert_eq!(decode(&zlib, size).unwrap(), (body.clone(), Encoding::Zlib));

            let mut gzip = GZIP_HEADER.to_vec();
            stored_blocks(&body, &mut gzip);
            let mut crc = Crc::new();
            crc.update(&body);
            gzip.extend_from_slice(&crc.sum().to_le_bytes());
            gzip.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
            assert_eq!(decode(&gzip, size).unwrap(), (body, Encoding::Gzip));
        }
    }
}
