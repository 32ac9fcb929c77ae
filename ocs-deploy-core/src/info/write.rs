//! Writing info files in the console's layout.

use core::fmt::Write as _;

use super::extension;
use crate::package::{PackageFile, PackageInfo};
use crate::xml_text::{escape_markup, is_xml_name};

/// Writes an info file: the console's declaration, attribute order and spacing
/// (`GARDEFOU` last of the OCS attributes), then our extension attributes, then the
/// attributes [`PackageInfo::extra`] kept (except those whose name is not an XML name or
/// was already written, which would make the file unreadable). Values are escaped as PHP's
/// `htmlspecialchars` does, so plain values come out exactly as the console writes them.
///
/// ```
/// use ocs_deploy_core::{Action, PackageId, PackageInfo, info};
///
/// let info = PackageInfo::new(PackageId::new(1_700_000_103)?, Action::Execute { command: "echo ok".into() });
/// let text = info::write(&info);
/// assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DOWNLOAD ID=\"1700000103\" PRI=\"5\" ACT=\"EXECUTE\""));
/// assert!(text.ends_with(" GARDEFOU=\"rien\" />\n"));
/// assert_eq!(info::read(text.as_bytes())?, info);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write(info: &PackageInfo) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DOWNLOAD");
    let mut written: Vec<String> = Vec::with_capacity(24);
    let mut attr = |name: &str, value: &str| {
        // An extra attribute that repeats a written one, or whose name is not an XML
        // name, would make the file unreadable: it is left out.
        if !is_xml_name(name) || written.iter().any(|w| w == name) {
            return;
        }
        written.push(name.to_owned());
        // Writing to a String cannot fail.
        let _ = write!(out, " {name}=\"{}\"", escape_markup(value));
    };
    let (digest, algorithm, encoding) = match &info.file {
        PackageFile::None {
            digest_algorithm,
            digest_encoding,
        } => (String::new(), *digest_algorithm, *digest_encoding),
        PackageFile::Fragments(p) => (
            p.digest.to_text(),
            p.digest.algorithm(),
            p.digest.encoding(),
        ),
    };
    attr("ID", &info.id.to_string());
    attr("PRI", &info.priority.to_string());
    attr("ACT", info.action.wire_name());
    attr("DIGEST", &digest);
    attr("PROTO", info.protocol.as_wire());
    attr("FRAGS", &info.fragment_count().to_string());
    attr("DIGEST_ALGO", algorithm.as_wire());
    attr("DIGEST_ENCODE", encoding.as_wire());
    attr(info.action.argument_attribute(), info.action.argument());
    let n = &info.notification;
    attr("NOTIFY_USER", flag(n.enabled));
    attr("NOTIFY_TEXT", &n.text);
    attr(
        "NOTIFY_COUNTDOWN",
        &n.countdown_secs.map(|c| c.to_string()).unwrap_or_default(),
    );
    attr("NOTIFY_CAN_ABORT", flag(n.can_abort));
    attr("NOTIFY_CAN_DELAY", flag(n.can_delay));
    attr("NEED_DONE_ACTION", flag(info.done_action.enabled));
    attr("NEED_DONE_ACTION_TEXT", &info.done_action.text);
    attr("GARDEFOU", &info.gardefou);
    if let Some(p) = info.payload() {
        if let Some(size) = p.size {
            attr(extension::SIZE, &size.to_string());
        }
        if let Some(archive) = p.archive {
            attr(extension::ARCHIVE, archive.as_str());
        }
        if let Some(hashes) = &p.fragment_sha256 {
            let joined: Vec<String> = hashes.iter().map(hex::encode).collect();
            attr(extension::FRAGMENT_SHA256, &joined.join(","));
        }
    }
    for (name, value) in &info.extra {
        attr(name, value);
    }
    out.push_str(" />\n");
    out
}

const fn flag(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}
