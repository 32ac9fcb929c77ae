//! XML character escaping shared by the info-file and protocol codecs.
//!
//! Reading is lenient because real OCS files are not always well formed: the current
//! console writes `&`, `<` and `>` unescaped inside attribute values. Writing is strict.

use std::borrow::Cow;

/// Decodes the five predefined entities and numeric character references once; any other
/// `&` is kept literally, as the real agents' parsers effectively do with the console's
/// unescaped values.
pub(crate) fn unescape_lenient(raw: &str) -> Cow<'_, str> {
    if !raw.contains('&') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        // An entity is at most a few characters long; look for `;` nearby only.
        let decoded = after
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';')
            .and_then(|(semi, _)| decode_entity(&after[..semi]).map(|c| (c, semi)));
        if let Some((c, semi)) = decoded {
            out.push(c);
            rest = &after[semi + 1..];
        } else {
            out.push('&');
            rest = after;
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn decode_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u32::from_str_radix(hex, 16).ok()?
                }
                None if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => {
                    num.parse().ok()?
                }
                _ => return None,
            };
            char::from_u32(code)
        }
    }
}

/// Escapes a double-quoted attribute value or element text.
///
/// `& " ' < >` are escaped as PHP's `htmlspecialchars` does (`'` as `&#039;`), so values
/// that the OCS console's legacy writer escaped come out byte for byte the same; control
/// characters are written as character references so attribute-value normalisation
/// cannot turn them into spaces.
pub(crate) fn escape_markup(value: &str) -> Cow<'_, str> {
    if !value.chars().any(needs_escape) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 16);
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => {
                out.push_str("&#");
                out.push_str(&u32::from(c).to_string());
                out.push(';');
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether a raw attribute value is well-formed XML: no `<`, and every `&` starts an
/// entity or character reference. The console's `PackageBuilder` writes values that fail
/// this.
pub(crate) fn is_well_formed_value(raw: &str) -> bool {
    if raw.contains('<') {
        return false;
    }
    raw.match_indices('&').all(|(i, _)| {
        let after = &raw[i + 1..];
        after
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';')
            .is_some_and(|(semi, _)| decode_entity(&after[..semi]).is_some())
    })
}

/// The attribute names we read and write: ASCII letters, digits, `_`, `-` and `.`, not
/// starting with a digit, `-` or `.` (every name OCS uses, and no namespaces).
pub(crate) fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn needs_escape(c: char) -> bool {
    matches!(c, '&' | '"' | '\'' | '<' | '>') || c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_unescape_keeps_bare_ampersands() {
        assert_eq!(unescape_lenient("a && b > c"), "a && b > c");
        assert_eq!(unescape_lenient("x &foo; y"), "x &foo; y");
        assert_eq!(unescape_lenient("&amp;quot;"), "&quot;");
        assert_eq!(unescape_lenient("&#039;&#x41;&#0;"), "'A\0");
        assert_eq!(unescape_lenient("tail &"), "tail &");
    }

    #[test]
    fn escape_then_unescape_is_identity() {
        for s in [
            "",
            "plain",
            "a & b",
            "\"q\" 'a' <t>",
            "tab\tnl\ncr\r",
            "\u{1}x",
        ] {
            assert_eq!(unescape_lenient(&escape_markup(s)), s);
        }
    }
}
