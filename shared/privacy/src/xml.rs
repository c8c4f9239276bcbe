//! A small streaming XML walker over quick-xml with a nesting cap.
//!
//! Documents and XMP packets are hostile input: the walker never fails on text it cannot
//! decode. Bytes that are not UTF-8 become U+FFFD before parsing (markup is ASCII, so the
//! structure is unchanged), and text or an attribute value whose entities do not resolve is
//! delivered as written.

use quick_xml::escape::unescape;
use quick_xml::events::Event as Q;
use quick_xml::Reader;

/// One XML event, with names as written (prefix included).
pub(crate) enum Event {
    /// An element opens (empty elements give `Start` then `End`).
    Start { name: String, attrs: Vec<(String, String)> },
    /// An element closes.
    End,
    /// Character data (entities resolved, CDATA included).
    Text(String),
}

/// Walks `xml`, calling `f` per event. Returns false on malformed XML or nesting deeper than
/// `max_depth` (events before the problem have been delivered).
pub(crate) fn walk(xml: &[u8], max_depth: usize, mut f: impl FnMut(Event)) -> bool {
    let xml = String::from_utf8_lossy(xml);
    let mut r = Reader::from_str(&xml);
    r.config_mut().check_end_names = false;
    // A lone `&` in text ("AT&T") is text, not an error.
    r.config_mut().allow_dangling_amp = true;
    let mut depth = 0usize;
    // quick-xml cuts character data at every `&...;` reference; the pieces are joined back as
    // written and unescaped together, so a text node is one `Text` event.
    let mut text = String::new();
    loop {
        let ev = r.read_event();
        match ev {
            Ok(Q::Text(ref t)) => {
                text.push_str(t);
                continue;
            }
            Ok(Q::GeneralRef(ref g)) => {
                text.push('&');
                text.push_str(g);
                text.push(';');
                continue;
            }
            _ if !text.is_empty() => {
                f(Event::Text(unescaped(&text)));
                text.clear();
            }
            _ => {}
        }
        let Ok(ev) = ev else { return false };
        match ev {
            Q::Start(ref e) | Q::Empty(ref e) => {
                let empty = matches!(ev, Q::Empty(_));
                depth += 1;
                if depth > max_depth {
                    return false;
                }
                let name = e.name().into_inner().to_string();
                let attrs = e
                    .attributes()
                    .flatten()
                    .map(|a| (a.key.into_inner().to_string(), unescaped(&a.value)))
                    .collect();
                f(Event::Start { name, attrs });
                if empty {
                    depth -= 1;
                    f(Event::End);
                }
            }
            Q::End(_) => {
                depth = depth.saturating_sub(1);
                f(Event::End);
            }
            Q::CData(t) => f(Event::Text(t.to_string())),
            Q::Eof => return true,
            _ => {}
        }
    }
}

/// `raw` with its entity and character references resolved, or as written if one does not.
fn unescaped(raw: &str) -> String {
    unescape(raw).map_or_else(|_| raw.to_string(), |s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events of `xml` as strings, and whether the walk reached the end.
    fn events(xml: &[u8], max_depth: usize) -> (Vec<String>, bool) {
        let mut out = Vec::new();
        let ok = walk(xml, max_depth, |ev| {
            out.push(match ev {
                Event::Start { name, attrs } => format!("<{name} {attrs:?}>"),
                Event::End => "</>".to_string(),
                Event::Text(t) => format!("{t:?}"),
            })
        });
        (out, ok)
    }

    #[test]
    fn a_text_node_with_references_is_one_resolved_event() {
        let (ev, ok) = events(b"<t>Tom &amp; Jerry &lt;tom&#64;example.com&#x3E;</t>", 8);
        assert!(ok);
        assert_eq!(ev, ["<t []>", r#""Tom & Jerry <tom@example.com>""#, "</>"]);
    }

    #[test]
    fn lone_ampersands_and_unknown_entities_are_kept_as_written() {
        let (ev, ok) = events(b"<t>AT&T &bogus; &amp;</t><u>&</u>", 8);
        assert!(ok);
        assert_eq!(
            ev,
            ["<t []>", r#""AT&T &bogus; &amp;""#, "</>", "<u []>", r#""&""#, "</>"]
        );
    }

    #[test]
    fn attribute_values_are_unescaped_but_not_normalised() {
        let (ev, ok) = events(b"<a k=\"x &amp; y\tz\" u='&nope;'/>", 8);
        assert!(ok);
        assert_eq!(ev, [r#"<a [("k", "x & y\tz"), ("u", "&nope;")]>"#, "</>"]);
    }

    #[test]
    fn cdata_is_text_as_written_and_markup_splits_text() {
        let (ev, ok) = events(b"<t>a<![CDATA[<b>&amp;]]>c<!-- x -->d</t>", 8);
        assert!(ok);
        assert_eq!(ev, ["<t []>", r#""a""#, r#""<b>&amp;""#, r#""c""#, r#""d""#, "</>"]);
    }

    #[test]
    fn bytes_that_are_not_utf8_do_not_fail_the_walk() {
        let (ev, ok) = events(b"<n a=\"\xff\">Jos\xe9</n>", 8);
        assert!(ok);
        assert_eq!(ev, ["<n [(\"a\", \"\u{FFFD}\")]>", "\"Jos\u{FFFD}\"", "</>"]);
    }

    #[test]
    fn nesting_past_the_cap_and_broken_markup_stop_the_walk() {
        let (ev, ok) = events(b"<a><b><c>deep</c></b></a>", 2);
        assert!(!ok);
        assert_eq!(ev, ["<a []>", "<b []>"]);
        let (ev, ok) = events(b"<a>kept &amp; <b", 8);
        assert!(!ok);
        assert_eq!(ev, ["<a []>", r#""kept & ""#]);
    }
}
