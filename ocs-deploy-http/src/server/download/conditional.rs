//! Validators (`ETag`, `Last-Modified`), conditional requests and byte ranges.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The validators of one file version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validators {
    /// A strong entity tag from the size and the modification time (nanoseconds): a file
    /// rewritten in place gets a new one. Quoted, as sent.
    pub(crate) etag: String,
    /// The modification time, rounded down to the second as HTTP dates are.
    pub(crate) modified: Option<SystemTime>,
}

impl Validators {
    pub(crate) fn new(len: u64, modified: Option<SystemTime>) -> Self {
        let since_epoch = modified
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        Self {
            etag: format!("\"{len:x}-{:x}\"", since_epoch.as_nanos()),
            modified: modified.map(|_| UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs())),
        }
    }

    /// Whether `If-None-Match` (weak comparison, `*` matches) or, without it,
    /// `If-Modified-Since` says the client's copy is current: answer 304.
    pub(crate) fn not_modified(
        &self,
        if_none_match: Option<&str>,
        if_modified_since: Option<&str>,
    ) -> bool {
        if let Some(tags) = if_none_match {
            let ours = opaque(&self.etag);
            return tags
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || opaque(tag) == ours);
        }
        match (
            if_modified_since.and_then(|d| httpdate::parse_http_date(d).ok()),
            self.modified,
        ) {
            (Some(since), Some(modified)) => modified <= since,
            _ => false,
        }
    }

    /// Whether a `Range` may be honoured under `If-Range`: absent, or naming this
    /// version exactly (strong comparison for a tag; equal date).
    pub(crate) fn range_applies(&self, if_range: Option<&str>) -> bool {
        match if_range.map(str::trim) {
            None => true,
            Some(tag) if tag.starts_with('"') => tag == self.etag,
            Some(date) => match (httpdate::parse_http_date(date).ok(), self.modified) {
                (Some(date), Some(modified)) => date == modified,
                _ => false,
            },
        }
    }
}

/// An entity tag without its weak prefix.
fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// What a `Range` header asks of a file of a known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Range {
    /// The whole file (no header, several ranges, or a header we ignore as invalid).
    Full,
    /// Bytes `start..=end`.
    Part {
        /// The first byte.
        start: u64,
        /// The last byte (inclusive).
        end: u64,
    },
    /// No byte of the file is in the range: 416.
    Unsatisfiable,
}

impl Range {
    /// Reads a `Range` header for a file of `len` bytes. Only one `bytes` range is
    /// honoured; several ranges are answered with the whole file, and an invalid header
    /// is ignored, as RFC 9110 allows.
    pub(crate) fn parse(header: Option<&str>, len: u64) -> Self {
        let Some(header) = header else {
            return Self::Full;
        };
        let Some((unit, spec)) = header.trim().split_once('=') else {
            return Self::Full;
        };
        if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
            return Self::Full;
        }
        let Some((first, last)) = spec.trim().split_once('-') else {
            return Self::Full;
        };
        let (first, last) = (first.trim(), last.trim());
        if first.is_empty() {
            // A suffix: the last `n` bytes.
            return match number(last) {
                None => Self::Full,
                Some(0) => Self::Unsatisfiable,
                Some(_) if len == 0 => Self::Unsatisfiable,
                Some(n) => Self::Part {
                    start: len.saturating_sub(n),
                    end: len - 1,
                },
            };
        }
        let Some(start) = number(first) else {
            return Self::Full;
        };
        let end = if last.is_empty() {
            u64::MAX
        } else {
            match number(last) {
                Some(end) if end >= start => end,
                _ => return Self::Full,
            }
        };
        if start >= len {
            return Self::Unsatisfiable;
        }
        Self::Part {
            start,
            end: end.min(len - 1),
        }
    }
}

/// A decimal number of ASCII digits only (no sign).
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let p = |h: &str| Range::parse(Some(h), 100);
        assert_eq!(Range::parse(None, 100), Range::Full);
        assert_eq!(p("bytes=0-9"), Range::Part { start: 0, end: 9 });
        assert_eq!(p("bytes=90-"), Range::Part { start: 90, end: 99 });
        assert_eq!(p("bytes=90-1000"), Range::Part { start: 90, end: 99 });
        assert_eq!(p("bytes=-10"), Range::Part { start: 90, end: 99 });
        assert_eq!(p("bytes=-1000"), Range::Part { start: 0, end: 99 });
        assert_eq!(p("Bytes = 5-5"), Range::Part { start: 5, end: 5 });
        assert_eq!(p("bytes=100-"), Range::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Range::Unsatisfiable);
        assert_eq!(Range::parse(Some("bytes=-5"), 0), Range::Unsatisfiable);
        assert_eq!(Range::parse(Some("bytes=0-"), 0), Range::Unsatisfiable);
        for ignored in [
            "bytes=0-1,5-6",
            "bytes=9-1",
            "bytes=+1-2",
            "bytes=a-",
            "items=0-1",
            "bytes",
            "bytes=5",
        ] {
            assert_eq!(p(ignored), Range::Full, "{ignored}");
        }
    }

    #[test]
    fn conditions() {
        let modified = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        let v = Validators::new(10, Some(modified));
        assert_eq!(v.etag, format!("\"a-{:x}\"", 1_700_000_000_500_000_000u128));
        assert!(v.not_modified(Some(&v.etag), None));
        assert!(v.not_modified(Some(&format!("\"x\", W/{}", v.etag)), None));
        assert!(v.not_modified(Some("*"), None));
        assert!(!v.not_modified(Some("\"x\""), Some("Tue, 14 Nov 2023 22:13:20 GMT")));
        assert!(v.not_modified(None, Some("Tue, 14 Nov 2023 22:13:20 GMT")));
        assert!(!v.not_modified(None, Some("Tue, 14 Nov 2023 22:13:19 GMT")));
        assert!(!v.not_modified(None, Some("garbage")));
        assert!(v.range_applies(None));
        assert!(v.range_applies(Some(&v.etag)));
        assert!(!v.range_applies(Some(&format!("W/{}", v.etag))));
        assert!(v.range_applies(Some("Tue, 14 Nov 2023 22:13:20 GMT")));
        assert!(!v.range_applies(Some("Tue, 14 Nov 2023 22:13:21 GMT")));
    }
}
