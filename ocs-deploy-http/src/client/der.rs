//! The two facts the client reads from certificates itself, with a minimal DER reader:
//! the validity period of a pinned certificate (webpki has no accessor for it) and the
//! size of an RSA public key.
//!
//! Only the certificates of the agent's own CA file are read here (a server's
//! certificate only after it matched one of them byte for byte). Anything unexpected is
//! `None`, never a panic.

/// `rsaEncryption` (1.2.840.113549.1.1.1), DER-encoded.
const RSA_ENCRYPTION: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT`: the version field of a TBS certificate.
const VERSION: u8 = 0xa0;

/// Reads DER elements one after the other.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// The next element's tag and contents; `None` at the end or on bad encoding.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        // Multi-byte tags never occur in the fields read here.
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let (bytes, after) = rest.split_at_checked(count)?;
            rest = after;
            bytes
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b))
        };
        let (contents, after) = rest.split_at_checked(len)?;
        self.0 = after;
        Some((tag, contents))
    }

    /// The next element's contents if its tag is `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next()? {
            (t, contents) if t == tag => Some(contents),
            _ => None,
        }
    }
}

/// A certificate's validity period (`notBefore`, `notAfter`) in seconds since the Unix
/// epoch.
pub(crate) fn validity(certificate: &[u8]) -> Option<(i64, i64)> {
    let certificate = Reader(certificate).expect(SEQUENCE)?;
    let mut tbs = Reader(Reader(certificate).expect(SEQUENCE)?);
    let (mut tag, _) = tbs.next()?;
    if tag == VERSION {
        (tag, _) = tbs.next()?;
    }
    if tag != INTEGER {
        return None;
    }
    tbs.expect(SEQUENCE)?; // signature algorithm
    tbs.expect(SEQUENCE)?; // issuer
    let mut validity = Reader(tbs.expect(SEQUENCE)?);
    let not_before = time(validity.next()?)?;
    let not_after = time(validity.next()?)?;
    Some((not_before, not_after))
}

/// A `UTCTime` (`YYMMDDHHMMSSZ`, years 1950 to 2049) or `GeneralizedTime`
/// (`YYYYMMDDHHMMSSZ`), as RFC 5280 allows them.
fn time((tag, text): (u8, &[u8])) -> Option<i64> {
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(text.get(..2)?)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(text.get(..4)?)?, &text[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let field = |i: usize| digits(rest.get(i..i + 2)?);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Leap seconds (60) are allowed by X.680 and harmless here.
    if second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The modulus size in bits when `spki` (a `SubjectPublicKeyInfo`) holds an RSA key;
/// `None` for any other key type or a bad encoding.
pub(crate) fn rsa_modulus_bits(spki: &[u8]) -> Option<usize> {
    let mut spki = Reader(Reader(spki).expect(SEQUENCE)?);
    let mut algorithm = Reader(spki.expect(SEQUENCE)?);
    if algorithm.expect(OID)? != RSA_ENCRYPTION {
        return None;
    }
    let (&unused_bits, key) = spki.expect(BIT_STRING)?.split_first()?;
    if unused_bits != 0 {
        return None;
    }
    let mut key = Reader(Reader(key).expect(SEQUENCE)?);
    let modulus = key.expect(INTEGER)?;
    let start = modulus.iter().position(|&b| b != 0)?;
    let significant = &modulus[start..];
    // `leading_zeros` of a u8 is at most 8: the cast cannot truncate.
    Some(significant.len() * 8 - significant[0].leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_in_both_time_forms() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            time((UTC_TIME, b"491231235959Z")),
            Some(2_524_607_999) // 2049-12-31T23:59:59Z
        );
        assert_eq!(time((UTC_TIME, b"500101000000Z")), Some(-631_152_000));
        assert_eq!(
            time((GENERALIZED_TIME, b"20500101000000Z")),
            Some(2_524_608_000)
        );
        assert_eq!(
            time((GENERALIZED_TIME, b"40960101000000Z")),
            Some(67_090_118_400)
        );
        for bad in [
            &b"2050010100000Z"[..],
            b"20501301000000Z",
            b"2050010100000+Z",
            b"",
        ] {
            assert_eq!(time((GENERALIZED_TIME, bad)), None, "{bad:?}");
        }
        assert_eq!(time((INTEGER, b"491231235959Z")), None);
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        for bad in [
            &b""[..],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x82, 0xff, 0xff, 0],
            &[0x30, 0x03, 0x30, 0x01],
            &[0x1f, 0x00],
        ] {
            assert_eq!(validity(bad), None, "{bad:?}");
            assert_eq!(rsa_modulus_bits(bad), None, "{bad:?}");
        }
    }
}
