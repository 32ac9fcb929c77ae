//! The XML layer of the codec: a pruned element tree read with quick-xml, looked up the
//! way the OCS server's `XML::Simple` looks values up, and the escaping used to write.
//!
//! Each decoder describes the elements it reads as a [`Shape`]; everything else is skipped
//! while reading (its text and attributes are never stored), so the memory a message takes
//! depends on what we keep, not on the size of, say, a whole inventory.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::ProtocolError;
use crate::xml_text::{escape_markup, unescape_lenient};

/// The deepest element nesting accepted (OCS messages use 5 levels; inventories 4).
pub(crate) const MAX_DEPTH: usize = 64;

/// The most elements one message may keep (skipped elements do not count). A PROLOG reply
/// keeps one per package offered, an inventory one per history entry.
pub(crate) const MAX_ELEMENTS: usize = 100_000;

/// The most entries a list in a message may hold (history entries, packages offered,
/// account info entries). Encoding a list of this many writes at most three elements per
/// entry plus a few, under [`MAX_ELEMENTS`], so whatever decodes also decodes again once
/// encoded.
pub(crate) const MAX_ENTRIES: usize = 30_000;

/// Refuses a list longer than [`MAX_ENTRIES`].
pub(crate) fn check_entries<T>(list: Vec<T>, name: &'static str) -> Result<Vec<T>, ProtocolError> {
    if list.len() > MAX_ENTRIES {
        return Err(ProtocolError::TooManyEntries {
            list: name,
            max: MAX_ENTRIES,
        });
    }
    Ok(list)
}

/// The elements a decoder reads: a name and the names read under it. An element whose
/// shape has no children is a leaf: its text is kept, its child elements skipped.
/// Attributes are kept only when a child shape has their name, since an attribute and a
/// child element holding text are the same value to `XML::Simple`.
#[derive(Debug)]
pub(crate) struct Shape {
    pub(crate) name: &'static str,
    pub(crate) children: &'static [Shape],
}

impl Shape {
    /// A leaf: a value read from an attribute or from the text of a child element.
    pub(crate) const fn leaf(name: &'static str) -> Self {
        Self {
            name,
            children: &[],
        }
    }

    fn child(&self, name: &str) -> Option<&'static Shape> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// An element that was kept: its attributes and child elements named by its shape, and
/// (for a leaf) its decoded text.
#[derive(Debug)]
pub(crate) struct Element {
    shape: &'static Shape,
    attributes: Vec<(&'static str, String)>,
    children: Vec<Element>,
    /// Raw (escaped) text while reading, decoded once the element ends.
    text: String,
    /// Whether the element had any child element, kept or not.
    has_children: bool,
}

impl Element {
    fn open(shape: &'static Shape, start: &BytesStart<'_>) -> Result<Self, String> {
        let mut attributes = Vec::new();
        if !shape.children.is_empty() {
            let mut iter = start.attributes();
            iter.with_checks(false);
            for attr in iter {
                let attr = attr.map_err(|e| e.to_string())?;
                let Some(known) = shape.child(attr.key.as_ref()) else {
                    continue;
                };
                // The first of duplicate attributes wins.
                if attributes.iter().any(|(k, _)| *k == known.name) {
                    continue;
                }
                let normalized = normalize_attribute(&attr.value);
                attributes.push((known.name, unescape_lenient(&normalized).into_owned()));
            }
        }
        Ok(Self {
            shape,
            attributes,
            children: Vec::new(),
            text: String::new(),
            has_children: false,
        })
    }

    /// The value named `name`, as `XML::Simple` sees it: the attribute, else the text of
    /// the first child element of that name that holds no element. A blank value (empty
    /// or XML whitespace only) counts as absent, as `SuppressEmpty` makes it.
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        let attribute = self
            .attributes
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !is_blank(v));
        attribute.or_else(|| {
            self.child(name)
                .filter(|c| !c.has_children)
                .map(|c| c.text.as_str())
                .filter(|v| !is_blank(v))
        })
    }

    /// The first child element named `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.shape.name == name)
    }

    /// Every child element named `name`, in document order.
    pub(crate) fn children_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.shape.name == name)
    }

    fn is_leaf(&self) -> bool {
        self.shape.children.is_empty()
    }

    /// Decodes the collected text of a leaf.
    fn finish(&mut self) {
        if self.is_leaf() && self.text.contains('&') {
            self.text = unescape_lenient(&self.text).into_owned();
        }
    }
}

/// Whether a value is empty or XML whitespace only.
pub(crate) fn is_blank(value: &str) -> bool {
    value
        .bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Reads a document whose root must be `shape`, keeping only what `shape` names.
///
/// Bytes that are not UTF-8 are replaced with U+FFFD rather than refused: agents send
/// inventories with stray legacy-encoded bytes, and the values we read are ASCII. DTDs
/// are skipped and their entities never expanded; references other than the five
/// predefined entities and character references are kept as literal text, and so is a
/// bare `&`. Anything after the root element is ignored.
pub(crate) fn parse(bytes: &[u8], shape: &'static Shape) -> Result<Element, ProtocolError> {
    let text = String::from_utf8_lossy(bytes);
    let mut reader = Reader::from_str(&text);
    reader.config_mut().allow_dangling_amp = true;
    let xml_error = |reader: &Reader<&[u8]>, message: String| ProtocolError::Xml {
        position: reader.error_position(),
        message,
    };
    let mut tree = Tree::new(shape);
    loop {
        let event = reader
            .read_event()
            .map_err(|e| xml_error(&reader, e.to_string()))?;
        let done = match event {
            Event::Start(start) => tree.start(&start, false),
            Event::Empty(start) => tree.start(&start, true),
            Event::End(_) => Ok(tree.end()),
            Event::Text(raw) => {
                tree.push_text(&normalize_newlines(&raw));
                Ok(None)
            }
            Event::GeneralRef(name) => {
                // Kept raw, decoded (predefined and numeric only) when the element ends.
                tree.push_text(&format!("&{};", &*name));
                Ok(None)
            }
            Event::CData(data) => {
                tree.push_text(&escape_markup(&normalize_newlines(&data)));
                Ok(None)
            }
            Event::Eof => {
                return Err(if tree.stack.is_empty() {
                    ProtocolError::NoRoot
                } else {
                    ProtocolError::Xml {
                        position: reader.buffer_position(),
                        message: "document ends inside an element".into(),
                    }
                });
            }
            // Declarations, comments, processing instructions and DTDs are skipped: no
            // entity a DTD declares is ever expanded, no external entity ever fetched.
            Event::Decl(_) | Event::PI(_) | Event::DocType(_) | Event::Comment(_) => Ok(None),
        };
        match done {
            Ok(Some(root)) => return Ok(root),
            Ok(None) => {}
            Err(Failure::Protocol(e)) => return Err(e),
            Err(Failure::Attribute(message)) => return Err(xml_error(&reader, message)),
        }
    }
}

/// Why the tree refuses an event.
enum Failure {
    Protocol(ProtocolError),
    /// A malformed attribute, reported at the reader's position.
    Attribute(String),
}

/// The element tree being read.
struct Tree {
    shape: &'static Shape,
    /// Kept elements that are open, innermost last.
    stack: Vec<Element>,
    /// How deep we are inside a skipped element (0: not skipping).
    skipped: usize,
    /// Elements kept so far.
    kept: usize,
}

impl Tree {
    fn new(shape: &'static Shape) -> Self {
        Self {
            shape,
            stack: Vec::new(),
            skipped: 0,
            kept: 0,
        }
    }

    /// A start tag (`empty` for `<x/>`); returns the root if this completes it.
    fn start(&mut self, start: &BytesStart<'_>, empty: bool) -> Result<Option<Element>, Failure> {
        if self.stack.len() + self.skipped >= MAX_DEPTH {
            return Err(Failure::Protocol(ProtocolError::TooDeep { max: MAX_DEPTH }));
        }
        let name = start.name();
        let name = name.as_ref();
        let shape = match self.stack.last_mut() {
            None if name == self.shape.name => Some(self.shape),
            None => {
                return Err(Failure::Protocol(ProtocolError::WrongRoot {
                    expected: self.shape.name,
                    found: super::error::excerpt(name),
                }));
            }
            Some(parent) => {
                parent.has_children = true;
                if self.skipped > 0 {
                    None
                } else {
                    parent.shape.child(name)
                }
            }
        };
        let Some(shape) = shape else {
            if !empty {
                self.skipped += 1;
            }
            return Ok(None);
        };
        self.kept += 1;
        if self.kept > MAX_ELEMENTS {
            return Err(Failure::Protocol(ProtocolError::TooManyElements {
                max: MAX_ELEMENTS,
            }));
        }
        let element = Element::open(shape, start).map_err(Failure::Attribute)?;
        if empty {
            Ok(self.close(element))
        } else {
            self.stack.push(element);
            Ok(None)
        }
    }

    /// An end tag (quick-xml checks that it matches its start tag); returns the root if
    /// this ends it.
    fn end(&mut self) -> Option<Element> {
        if self.skipped > 0 {
            self.skipped -= 1;
            return None;
        }
        let element = self.stack.pop()?;
        self.close(element)
    }

    /// Raw text, kept if it belongs to a kept leaf.
    fn push_text(&mut self, raw: &str) {
        if self.skipped > 0 {
            return;
        }
        if let Some(leaf) = self.stack.last_mut().filter(|e| e.is_leaf()) {
            leaf.text.push_str(raw);
        }
    }

    /// Ends an element: attaches it to its parent, or returns it when it is the root.
    fn close(&mut self, mut element: Element) -> Option<Element> {
        element.finish();
        match self.stack.last_mut() {
            Some(parent) => {
                parent.children.push(element);
                None
            }
            None => Some(element),
        }
    }
}

/// XML end-of-line handling: `\r\n` and a lone `\r` become `\n`.
fn normalize_newlines(raw: &str) -> Cow<'_, str> {
    if raw.contains('\r') {
        Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(raw)
    }
}

/// XML attribute-value normalization of a raw value: each literal tab, line feed or
/// carriage return (`\r\n` counting as one) becomes a space. Character references such
/// as `&#10;` are decoded afterwards, so they survive.
fn normalize_attribute(raw: &str) -> Cow<'_, str> {
    if raw.contains(['\t', '\n', '\r']) {
        Cow::Owned(
            normalize_newlines(raw)
                .chars()
                .map(|c| if matches!(c, '\t' | '\n') { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static LEAF_ROOT: Shape = Shape::leaf("R");
    static TREE: Shape = Shape {
        name: "R",
        children: &[
            Shape::leaf("A"),
            Shape {
                name: "C",
                children: &[Shape::leaf("A")],
            },
        ],
    };

    #[test]
    fn attributes_and_leaf_children_are_the_same_value() {
        let attr = parse(br#"<R A="1"/>"#, &TREE).unwrap();
        let elem = parse(b"<R><A>1</A></R>", &TREE).unwrap();
        assert_eq!(attr.field("A"), Some("1"));
        assert_eq!(elem.field("A"), Some("1"));
    }

    #[test]
    fn unknown_names_are_not_kept() {
        let root = parse(
            br#"<R B="x" A="1"><B>2</B><D><A>3</A></D><C A="4"/></R>"#,
            &TREE,
        )
        .unwrap();
        assert_eq!(root.field("B"), None);
        assert_eq!(root.children.len(), 1);
        assert_eq!(root.child("C").and_then(|c| c.field("A")), Some("4"));
    }

    #[test]
    fn leaf_with_elements_is_not_a_value() {
        let root = parse(b"<R><A>1<X/>2</A></R>", &TREE).unwrap();
        assert_eq!(root.field("A"), None);
    }

    #[test]
    fn text_is_decoded_leniently() {
        let root = parse(
            b"<R><A>a &amp; b & c &unknown; &#65;<![CDATA[<&>]]>\r\n</A></R>",
            &TREE,
        )
        .unwrap();
        assert_eq!(root.field("A"), Some("a & b & c &unknown; A<&>\n"));
        let leaf = parse(b"<R>x &lt; y</R>", &LEAF_ROOT).unwrap();
        assert_eq!(leaf.text, "x < y");
    }

    #[test]
    fn attribute_values_are_normalized_then_unescaped() {
        let root = parse(b"<R A=\"a\tb\r\nc&#10;d & e\"/>", &TREE).unwrap();
        assert_eq!(root.field("A"), Some("a b c\nd & e"));
    }

    #[test]
    fn blank_values_are_absent() {
        let root = parse(b"<R A=\" \t\"><C><A>\n  </A></C></R>", &TREE).unwrap();
        assert_eq!(root.field("A"), None);
        assert_eq!(root.child("C").and_then(|c| c.field("A")), None);
    }

    #[test]
    fn depth_is_bounded_also_inside_skipped_elements() {
        let deep = format!(
            "<R>{}{}</R>",
            "<X>".repeat(MAX_DEPTH),
            "</X>".repeat(MAX_DEPTH)
        );
        assert_eq!(
            parse(deep.as_bytes(), &TREE).unwrap_err(),
            ProtocolError::TooDeep { max: MAX_DEPTH }
        );
    }

    #[test]
    fn kept_elements_are_bounded() {
        let many = format!("<R>{}</R>", "<A>1</A>".repeat(MAX_ELEMENTS));
        assert_eq!(
            parse(many.as_bytes(), &TREE).unwrap_err(),
            ProtocolError::TooManyElements { max: MAX_ELEMENTS }
        );
        let skipped = format!("<R>{}</R>", "<B>1</B>".repeat(MAX_ELEMENTS));
        assert!(parse(skipped.as_bytes(), &TREE).is_ok());
    }
}
