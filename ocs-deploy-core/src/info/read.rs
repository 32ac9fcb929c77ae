//! Reading info files.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::InfoError;
use super::extension;
use crate::package::{
    Action, AgentSupport, ArchiveKind, DigestAlgorithm, DigestEncoding, DoneAction, ExpectedDigest,
    Notification, PackageFile, PackageId, PackageInfo, Payload, Priority, Protocol,
};
use crate::xml_text::{is_well_formed_value, is_xml_name, unescape_lenient};

/// Something worth knowing about an info file that is nonetheless usable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InfoNote {
    /// The attribute held `&`, `<` or `>` unescaped, as the console's `PackageBuilder`
    /// writes it: the file is not well-formed XML, and strict parsers refuse it.
    UnescapedValue {
        /// The attribute.
        attribute: String,
    },
    /// After decoding, the value still holds an entity, as when the legacy `create_pack`
    /// escaped `NOTIFY_TEXT` twice. Agents show it as it is; so do we.
    DoubleEscapedValue {
        /// The attribute.
        attribute: String,
    },
    /// `SHA1` + `Hexa` with an empty digest and `FRAGS="0"`: the legacy `create_pack`
    /// writes this although it wrote a fragment, so the package runs without its file.
    ConsoleSha1HexaWithoutFile,
    /// Not every real agent family would accept the digest as written.
    DigestNotPortable {
        /// Who accepts it.
        accepted_by: AgentSupport,
    },
}

/// Reads an info file into a checked [`PackageInfo`].
///
/// ```
/// use ocs_deploy_core::{Action, info};
///
/// let text = br#"<?xml version="1.0" encoding="UTF-8"?>
/// <DOWNLOAD ID="1700000102" PRI="3" ACT="EXECUTE" DIGEST="c985a882128bc4e45d8e3f1277093e76" PROTO="HTTP" FRAGS="1" DIGEST_ALGO="MD5" DIGEST_ENCODE="Hexa" COMMAND="cmd /c setup.bat && echo done > %TEMP%\x.txt" NOTIFY_USER="0" NOTIFY_TEXT="" NOTIFY_COUNTDOWN="" NOTIFY_CAN_ABORT="0" NOTIFY_CAN_DELAY="0" NEED_DONE_ACTION="0" NEED_DONE_ACTION_TEXT="" GARDEFOU="rien" />
/// "#;
/// let package = info::read(text)?;
/// assert_eq!(package.action, Action::Execute { command: r"cmd /c setup.bat && echo done > %TEMP%\x.txt".into() });
/// assert_eq!(package.fragment_count(), 1);
/// # Ok::<(), info::InfoError>(())
/// ```
///
/// # Errors
/// [`InfoError`] when the file cannot be read or holds values an agent cannot use.
pub fn read(bytes: &[u8]) -> Result<PackageInfo, InfoError> {
    read_with_notes(bytes).map(|(info, _)| info)
}

/// Reads an info file and lists the console quirks found in it.
///
/// ```
/// use ocs_deploy_core::info::{self, InfoNote};
///
/// let text = br#"<DOWNLOAD ID="1700000103" PRI="0" ACT="EXECUTE" DIGEST="" PROTO="HTTP" FRAGS="0" DIGEST_ALGO="MD5" DIGEST_ENCODE="Hexa" COMMAND="a & b" GARDEFOU="rien" />"#;
/// let (_, notes) = info::read_with_notes(text)?;
/// assert_eq!(notes, [InfoNote::UnescapedValue { attribute: "COMMAND".into() }]);
/// # Ok::<(), info::InfoError>(())
/// ```
///
/// # Errors
/// As [`read`].
pub fn read_with_notes(bytes: &[u8]) -> Result<(PackageInfo, Vec<InfoNote>), InfoError> {
    let raw = read_raw_attributes(bytes)?;
    let mut notes = Vec::new();
    let mut attrs = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        if !is_well_formed_value(&value) {
            notes.push(InfoNote::UnescapedValue {
                attribute: name.clone(),
            });
        }
        let decoded = unescape_lenient(&value).into_owned();
        if decoded.contains('\0') {
            return Err(InfoError::NulCharacter { attribute: name });
        }
        if unescape_lenient(&decoded) != decoded.as_str() {
            notes.push(InfoNote::DoubleEscapedValue {
                attribute: name.clone(),
            });
        }
        attrs.push((name, decoded));
    }
    let info = Attributes::new(attrs).into_info(&mut notes)?;
    Ok((info, notes))
}

/// Reads the attributes of the `DOWNLOAD` element, decoded, in file order.
///
/// Useful to look at a file that [`read`] refuses.
///
/// ```
/// use ocs_deploy_core::info;
/// let attrs = info::read_attributes(br#"<DOWNLOAD ID="1" PRI="x" NOTIFY_TEXT="&amp;quot;hi&amp;quot;"/>"#)?;
/// assert_eq!(attrs[1], ("PRI".to_string(), "x".to_string()));
/// assert_eq!(attrs[2].1, "&quot;hi&quot;"); // decoded once
/// # Ok::<(), info::InfoError>(())
/// ```
///
/// # Errors
/// [`InfoError`] when the file is not UTF-8, has no `DOWNLOAD` element, repeats an
/// attribute or is broken XML.
pub fn read_attributes(bytes: &[u8]) -> Result<Vec<(String, String)>, InfoError> {
    Ok(read_raw_attributes(bytes)?
        .into_iter()
        .map(|(k, v)| {
            let decoded = unescape_lenient(&v).into_owned();
            (k, decoded)
        })
        .collect())
}

/// The attributes of the first element, which must be `DOWNLOAD`, as raw (escaped) text.
fn read_raw_attributes(bytes: &[u8]) -> Result<Vec<(String, String)>, InfoError> {
    let text = std::str::from_utf8(bytes).map_err(|e| InfoError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let xml_error = |reader: &Reader<&[u8]>, message: String| InfoError::Xml {
        position: reader.error_position(),
        message,
    };
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return Err(xml_error(&reader, e.to_string())),
        };
        let element = match event {
            Event::Start(e) | Event::Empty(e) => e,
            Event::Eof => return Err(InfoError::NoDownloadElement),
            // Declarations, comments, whitespace, processing instructions and DOCTYPEs
            // are skipped; entities a DOCTYPE declares are never expanded.
            _ => continue,
        };
        if element.name().as_ref() != "DOWNLOAD" {
            return Err(InfoError::NoDownloadElement);
        }
        let mut attributes = element.attributes();
        attributes.with_checks(false);
        let mut out: Vec<(String, String)> = Vec::new();
        for attr in attributes {
            let attr = attr.map_err(|e| xml_error(&reader, e.to_string()))?;
            let name = attr.key.as_ref();
            if !is_xml_name(name) {
                return Err(InfoError::BadAttributeName { name: name.into() });
            }
            if out.iter().any(|(k, _)| k == name) {
                return Err(InfoError::DuplicateAttribute { name: name.into() });
            }
            out.push((name.to_owned(), attr.value.into_owned()));
        }
        return Ok(out);
    }
}

/// Decoded attributes, taken one by one; what is left over is kept as `extra`.
struct Attributes {
    list: Vec<(String, Option<String>)>,
}

impl Attributes {
    fn new(list: Vec<(String, String)>) -> Self {
        Self {
            list: list.into_iter().map(|(k, v)| (k, Some(v))).collect(),
        }
    }

    fn take(&mut self, name: &str) -> Option<String> {
        self.list
            .iter_mut()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.take())
    }

    fn require(&mut self, name: &'static str) -> Result<String, InfoError> {
        self.take(name).ok_or(InfoError::MissingAttribute { name })
    }

    fn flag(&mut self, name: &'static str) -> Result<bool, InfoError> {
        match self.take(name).as_deref() {
            None | Some("" | "0") => Ok(false),
            Some("1") => Ok(true),
            Some(other) => Err(InfoError::BadFlag {
                name,
                text: other.into(),
            }),
        }
    }

    fn into_extra(self) -> Vec<(String, String)> {
        self.list
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }

    fn into_info(mut self, notes: &mut Vec<InfoNote>) -> Result<PackageInfo, InfoError> {
        let id: PackageId = self.require("ID")?.parse().map_err(InfoError::BadId)?;
        let priority: Priority = self
            .require("PRI")?
            .parse()
            .map_err(InfoError::BadPriority)?;
        let action = self.action()?;
        let protocol_text = self.require("PROTO")?;
        let protocol = Protocol::from_wire(&protocol_text).ok_or(InfoError::UnknownProtocol {
            text: protocol_text,
        })?;
        let frags_text = self.require("FRAGS")?;
        let fragments = parse_decimal::<u32>(&frags_text)
            .ok_or(InfoError::BadFragmentCount { text: frags_text })?;
        let algorithm_text = self.take("DIGEST_ALGO").unwrap_or_else(|| "MD5".into());
        let digest_algorithm = DigestAlgorithm::from_wire(&algorithm_text).ok_or(
            InfoError::UnknownDigestAlgorithm {
                text: algorithm_text,
            },
        )?;
        let encoding_text = self.take("DIGEST_ENCODE").unwrap_or_else(|| "Hexa".into());
        let digest_encoding =
            DigestEncoding::from_wire(&encoding_text).ok_or(InfoError::UnknownDigestEncoding {
                text: encoding_text,
            })?;
        let digest_text = self.take("DIGEST").unwrap_or_default();

        let file = if fragments == 0 {
            if action.needs_file() {
                return Err(InfoError::MissingFile {
                    action: action.wire_name(),
                });
            }
            if digest_algorithm == DigestAlgorithm::Sha1
                && digest_encoding == DigestEncoding::Hexa
                && digest_text.is_empty()
            {
                notes.push(InfoNote::ConsoleSha1HexaWithoutFile);
            }
            PackageFile::None {
                digest_algorithm,
                digest_encoding,
            }
        } else {
            let digest = ExpectedDigest::parse(digest_algorithm, digest_encoding, &digest_text)
                .map_err(|source| InfoError::BadDigest {
                    algorithm: digest_algorithm,
                    encoding: digest_encoding,
                    source,
                })?;
            let accepted_by = digest.accepted_by();
            if !(accepted_by.unix && accepted_by.windows) {
                notes.push(InfoNote::DigestNotPortable { accepted_by });
            }
            PackageFile::Fragments(self.payload(fragments, digest)?)
        };

        let notification = Notification {
            enabled: self.flag("NOTIFY_USER")?,
            text: self.take("NOTIFY_TEXT").unwrap_or_default(),
            countdown_secs: match self.take("NOTIFY_COUNTDOWN").as_deref() {
                None | Some("") => None,
                Some(text) => {
                    Some(
                        parse_decimal::<u32>(text).ok_or_else(|| InfoError::BadNumber {
                            name: "NOTIFY_COUNTDOWN",
                            text: text.into(),
                        })?,
                    )
                }
            },
            can_abort: self.flag("NOTIFY_CAN_ABORT")?,
            can_delay: self.flag("NOTIFY_CAN_DELAY")?,
        };
        let done_action = DoneAction {
            enabled: self.flag("NEED_DONE_ACTION")?,
            text: self.take("NEED_DONE_ACTION_TEXT").unwrap_or_default(),
        };
        let gardefou = self.take("GARDEFOU").unwrap_or_else(|| "rien".into());
        Ok(PackageInfo {
            id,
            priority,
            action,
            protocol,
            file,
            notification,
            done_action,
            gardefou,
            extra: self.into_extra(),
        })
    }

    fn action(&mut self) -> Result<Action, InfoError> {
        let act = self.require("ACT")?;
        let action = match act.as_str() {
            "LAUNCH" => Action::Launch {
                command: self.take("NAME").unwrap_or_default(),
            },
            "EXECUTE" => Action::Execute {
                command: self.take("COMMAND").unwrap_or_default(),
            },
            "STORE" => Action::Store {
                path: self.take("PATH").unwrap_or_default(),
            },
            _ => return Err(InfoError::UnknownAction { text: act }),
        };
        if action.argument().trim().is_empty() {
            return Err(InfoError::empty_argument(&action));
        }
        Ok(action)
    }

    fn payload(&mut self, fragments: u32, digest: ExpectedDigest) -> Result<Payload, InfoError> {
        let size = match self.take(extension::SIZE) {
            None => None,
            Some(text) => {
                Some(
                    parse_decimal::<u64>(&text).ok_or_else(|| InfoError::BadExtension {
                        name: extension::SIZE,
                        reason: format!("{text:?} is not a size in bytes"),
                    })?,
                )
            }
        };
        let archive = match self.take(extension::ARCHIVE) {
            None => None,
            Some(text) => {
                Some(
                    ArchiveKind::from_name(&text).ok_or_else(|| InfoError::BadExtension {
                        name: extension::ARCHIVE,
                        reason: format!("{text:?} is not zip, tar.gz or none"),
                    })?,
                )
            }
        };
        let fragment_sha256 = match self.take(extension::FRAGMENT_SHA256) {
            None => None,
            Some(text) => Some(parse_fragment_hashes(&text, fragments)?),
        };
        Ok(Payload {
            fragments,
            digest,
            fragment_sha256,
            size,
            archive,
        })
    }
}

fn parse_fragment_hashes(text: &str, fragments: u32) -> Result<Vec<[u8; 32]>, InfoError> {
    let bad = |reason: String| InfoError::BadExtension {
        name: extension::FRAGMENT_SHA256,
        reason,
    };
    let hashes = text
        .split(',')
        .enumerate()
        .map(|(i, h)| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out).map_err(|_| {
                bad(format!(
                    "fragment {} hash {h:?} is not 64 hex digits",
                    i + 1
                ))
            })?;
            Ok(out)
        })
        .collect::<Result<Vec<_>, InfoError>>()?;
    if u32::try_from(hashes.len()).ok() != Some(fragments) {
        return Err(bad(format!(
            "{} hashes for {fragments} fragments",
            hashes.len()
        )));
    }
    Ok(hashes)
}

/// Plain decimal digits only (no sign, no spaces), as the console writes numbers.
fn parse_decimal<T: core::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
