//! A small element tree read with quick-xml, and the `XML::Simple` view of it.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::ProtocolError;
use crate::xml_text::{escape_attribute, unescape_lenient};

/// The deepest element nesting accepted (OCS messages use 5 levels).
pub(crate) const MAX_DEPTH: usize = 32;

/// An element: name, decoded attributes, child elements and decoded text.
#[derive(Debug, Default)]
pub(crate) struct Element {
    pub(crate) name: String,
    attributes: Vec<(String, String)>,
    pub(crate) children: Vec<Element>,
    /// The raw (escaped) text, decoded once the element ends.
    text: String,
}

impl Element {
    /// The value named `name`, as `XML::Simple` sees it: an attribute, else the text of
    /// the first child element of that name. Empty values count as absent.
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .or_else(|| {
                self.child(name)
                    .filter(|c| c.children.is_empty())
                    .map(|c| c.text.as_str())
            })
            .filter(|v| !v.is_empty())
    }

    /// The first child element named `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child element named `name`.
    pub(crate) fn children_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parses a document into its root element; checks the root's name.
pub(crate) fn parse(bytes: &[u8], expected_root: &'static str) -> Result<Element, ProtocolError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ProtocolError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let xml_error = |reader: &Reader<&[u8]>, message: String| ProtocolError::Xml {
        position: reader.error_position(),
        message,
    };
    // Open elements, innermost last.
    let mut stack: Vec<Element> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| xml_error(&reader, e.to_string()))?;
        match event {
            Event::Start(e) | Event::Empty(e) if stack.is_empty() && e.name().as_ref() != expected_root => {
                return Err(ProtocolError::WrongRoot {
                    expected: expected_root,
                    found: e.name().as_ref().to_owned(),
                });
            }
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(ProtocolError::TooDeep { max: MAX_DEPTH });
                }
                stack.push(start(&e).map_err(|m| xml_error(&reader, m))?);
            }
            Event::Empty(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(ProtocolError::TooDeep { max: MAX_DEPTH });
                }
                let element = start(&e).map_err(|m| xml_error(&reader, m))?;
                if let Some(done) = close(&mut stack, element) {
                    return Ok(done);
                }
            }
            Event::End(_) => {
                // quick-xml checks that end names match their start.
                let Some(element) = stack.pop() else {
                    return Err(xml_error(&reader, "unexpected end tag".into()));
                };
                if let Some(done) = close(&mut stack, element) {
                    return Ok(done);
                }
            }
            Event::Text(t) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                // Kept raw: decoded (predefined and numeric only) when the element ends.
                if let Some(open) = stack.last_mut() {
                    open.text.push('&');
                    open.text.push_str(&r);
                    open.text.push(';');
                }
            }
            Event::CData(c) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&escape_attribute(&c));
                }
            }
            Event::Eof => {
                return Err(if stack.is_empty() {
                    ProtocolError::NoRoot
                } else {
                    xml_error(&reader, "document ends inside an element".into())
                });
            }
            // Declarations, comments, processing instructions and DOCTYPEs are skipped:
            // entities a DOCTYPE declares are never expanded.
            Event::Decl(_) | Event::PI(_) | Event::DocType(_) | Event::Comment(_) => {}
        }
    }
}

fn start(e: &BytesStart<'_>) -> Result<Element, String> {
    let mut attributes = e.attributes();
    attributes.with_checks(false);
    let mut list = Vec::new();
    for attr in attributes {
        let attr = attr.map_err(|err| err.to_string())?;
        list.push((
            attr.key.as_ref().to_owned(),
            unescape_lenient(&attr.value).into_owned(),
        ));
    }
    Ok(Element {
        name: e.name().as_ref().to_owned(),
        attributes: list,
        children: Vec::new(),
        text: String::new(),
    })
}

/// Finishes an element: decodes its text and attaches it to its parent, or returns it
/// when it is the root.
fn close(stack: &mut Vec<Element>, mut element: Element) -> Option<Element> {
    if element.text.contains('&') {
        element.text = unescape_lenient(&element.text).into_owned();
    }
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(element);
            None
        }
        None => Some(element),
    }
}

/// Escapes text for element content or a double-quoted attribute.
pub(crate) fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    escape_attribute(value)
}
