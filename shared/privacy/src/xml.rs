//! A small streaming XML walker over quick-xml with a nesting cap.

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
    let mut r = Reader::from_reader(xml);
    r.config_mut().check_end_names = false;
    let mut depth = 0usize;
    loop {
        let ev = match r.read_event() {
            Ok(ev) => ev,
            Err(_) => return false,
        };
        match ev {
            Q::Start(ref e) | Q::Empty(ref e) => {
                let empty = matches!(ev, Q::Empty(_));
                depth += 1;
                if depth > max_depth {
                    return false;
                }
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let attrs = e
                    .attributes()
                    .flatten()
                    .map(|a| {
                        let v = a
                            .unescape_value()
                            .map(|v| v.into_owned())
                            .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
                        (String::from_utf8_lossy(a.key.as_ref()).into_owned(), v)
                    })
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
            Q::Text(t) => {
                let s = t
                    .unescape()
                    .map(|s| s.into_owned())
                    .unwrap_or_else(|_| String::from_utf8_lossy(&t).into_owned());
                f(Event::Text(s));
            }
            Q::CData(t) => f(Event::Text(String::from_utf8_lossy(&t).into_owned())),
            Q::Eof => return true,
            _ => {}
        }
    }
}
