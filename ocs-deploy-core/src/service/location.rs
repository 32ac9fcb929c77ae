//! Download locations as OCS stores them: `host[:port]/path`, without a scheme.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr};

/// Why a location was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocationError {
    /// Empty.
    #[error("the location is empty")]
    Empty,
    /// Starts with `http://`, `https://` or another scheme: agents add it themselves.
    #[error(
        "the location {location:?} has a scheme; write host[:port]/path, the agents add https:// or http://"
    )]
    HasScheme {
        /// The location.
        location: String,
    },
    /// Holds spaces, control characters, quotes, `?`, `#`, `\` or `@`.
    #[error("the location {location:?} holds a character agents cannot put in a URL")]
    BadCharacter {
        /// The location.
        location: String,
    },
    /// No host before the first `/` or `:`.
    #[error("the location {location:?} has no host")]
    NoHost {
        /// The location.
        location: String,
    },
    /// A port that is not a number from 1 to 65535.
    #[error("the location {location:?} has a bad port")]
    BadPort {
        /// The location.
        location: String,
    },
    /// `localhost` or a loopback address: every agent would fetch from itself.
    #[error(
        "the location {location:?} names a loopback host: every agent would resolve it to itself; \
         use the server's network name or address (tests may allow loopback explicitly)"
    )]
    Loopback {
        /// The location.
        location: String,
    },
    /// `$IP$` or `$NAME$` in an info location: only fragment locations are per site.
    #[error("the info location {location:?} holds $IP$ or $NAME$; only the fragment location may")]
    PlaceholderInInfo {
        /// The location.
        location: String,
    },
}

/// A checked download location: `host[:port][/path]`, no scheme, no trailing `/`.
///
/// `$IP$` and `$NAME$` may stand for the host (or appear in the path) of a fragment
/// location; they are replaced per computer by its download server's address and name.
///
/// ```
/// use ocs_deploy_core::service::{Location, LocationError};
///
/// let l = Location::parse("ocs.example.com:8443/download/", false)?;
/// assert_eq!(l.as_str(), "ocs.example.com:8443/download");
/// assert_eq!(l.host(), "ocs.example.com");
/// assert!(matches!(Location::parse("https://ocs/download", false), Err(LocationError::HasScheme { .. })));
/// assert!(matches!(Location::parse("127.0.0.1/download", false), Err(LocationError::Loopback { .. })));
/// assert!(Location::parse("127.0.0.1:8080/download", true).is_ok());
/// assert!(Location::parse("$IP$/local", false)?.is_per_site());
/// # Ok::<(), LocationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location(String);

/// The placeholder for the download server's address.
pub const IP_PLACEHOLDER: &str = "$IP$";
/// The placeholder for the download server's name.
pub const NAME_PLACEHOLDER: &str = "$NAME$";

impl Location {
    /// Checks a location; `allow_loopback` lets `localhost` and loopback addresses
    /// through (tests and the quickstart, where server and agent share a machine).
    ///
    /// # Errors
    /// A [`LocationError`] saying what is wrong.
    pub fn parse(text: &str, allow_loopback: bool) -> Result<Self, LocationError> {
        let location = text.trim().trim_end_matches('/');
        let owned = || location.to_owned();
        if location.is_empty() {
            return Err(LocationError::Empty);
        }
        if location.contains("://") {
            return Err(LocationError::HasScheme { location: owned() });
        }
        if location
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"'<>?#\\@`{}|^".contains(c))
        {
            return Err(LocationError::BadCharacter { location: owned() });
        }
        let authority = location.split('/').next().unwrap_or_default();
        let (host, port) = split_port(authority);
        if host.is_empty() {
            return Err(LocationError::NoHost { location: owned() });
        }
        if let Some(port) = port
            && !port.parse::<u16>().is_ok_and(|p| p != 0)
        {
            return Err(LocationError::BadPort { location: owned() });
        }
        if !allow_loopback && is_loopback(host) {
            return Err(LocationError::Loopback { location: owned() });
        }
        Ok(Self(location.to_owned()))
    }

    /// The location as stored and sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host part (without brackets for IPv6, without port).
    pub fn host(&self) -> &str {
        let authority = self.0.split('/').next().unwrap_or_default();
        split_port(authority)
            .0
            .trim_start_matches('[')
            .trim_end_matches(']')
    }

    /// Whether it holds `$IP$` or `$NAME$`.
    pub fn is_per_site(&self) -> bool {
        has_placeholder(&self.0)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a stored location holds `$IP$` or `$NAME$`.
pub(crate) fn has_placeholder(location: &str) -> bool {
    location.contains(IP_PLACEHOLDER) || location.contains(NAME_PLACEHOLDER)
}

/// Splits `host:port` (IPv6 in brackets) into host and port.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (
                authority.get(..host.len() + 2).unwrap_or(authority),
                tail.strip_prefix(':'),
            ),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (authority, None),
    }
}

/// `localhost`, `*.localhost`, 127.0.0.0/8, `::1`, the unspecified addresses.
fn is_loopback(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    let lower = lower.trim_end_matches('.');
    if lower == "localhost" || lower.ends_with(".localhost") {
        return true;
    }
    let bare = lower.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback() || v4 == Ipv4Addr::UNSPECIFIED,
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_refused() {
        for bad in [
            "localhost/download",
            "LOCALHOST:80/download",
            "api.localhost/x",
            "127.0.0.1/download",
            "127.1.2.3:8080",
            "[::1]:8080/download",
            "[::ffff:127.0.0.1]/d",
            "0.0.0.0/download",
            "localhost./download",
        ] {
            assert!(
                matches!(
                    Location::parse(bad, false),
                    Err(LocationError::Loopback { .. })
                ),
                "{bad}"
            );
            assert!(Location::parse(bad, true).is_ok(), "{bad} allowed");
        }
    }

    #[test]
    fn good_locations() {
        for (text, host) in [
            ("ocs.example.com/download", "ocs.example.com"),
            ("10.0.0.5:8080/download", "10.0.0.5"),
            ("[2001:db8::1]:443/download", "2001:db8::1"),
            ("$IP$/local", "$IP$"),
            ("server", "server"),
            ("mylocalhost.example/x", "mylocalhost.example"),
        ] {
            assert_eq!(Location::parse(text, false).unwrap().host(), host, "{text}");
        }
    }

    #[test]
    fn bad_locations() {
        assert_eq!(Location::parse("  ", false), Err(LocationError::Empty));
        assert!(matches!(
            Location::parse("ftp://x/y", false),
            Err(LocationError::HasScheme { .. })
        ));
        assert!(matches!(
            Location::parse("a b/c", false),
            Err(LocationError::BadCharacter { .. })
        ));
        assert!(matches!(
            Location::parse("x/y?z", false),
            Err(LocationError::BadCharacter { .. })
        ));
        assert!(matches!(
            Location::parse(":80/y", false),
            Err(LocationError::NoHost { .. })
        ));
        assert!(matches!(
            Location::parse("/download", false),
            Err(LocationError::NoHost { .. })
        ));
        assert!(matches!(
            Location::parse("x:0/y", false),
            Err(LocationError::BadPort { .. })
        ));
        assert!(matches!(
            Location::parse("x:http/y", false),
            Err(LocationError::BadPort { .. })
        ));
        assert!(matches!(
            Location::parse("x:70000", false),
            Err(LocationError::BadPort { .. })
        ));
    }
}
