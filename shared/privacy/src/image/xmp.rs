//! XMP packets: creator, tool, camera, GPS, serials, locations, dates; every value's text is
//! also handed to the detectors.

use super::Meta;
use crate::xml::{self, Event};

/// Parses one XMP packet into `meta`; returns false if the XML is malformed or too deep.
pub fn parse(packet: &[u8], max_depth: usize, meta: &mut Meta) -> bool {
    let mut stack: Vec<String> = Vec::new();
    let mut gps = (None, None);
    let mut assign = |name: &str, value: &str, meta: &mut Meta| {
        let v = value.trim();
        if v.is_empty() {
            return;
        }
        let v = v.to_string();
        match name {
            "creator" | "Artist" | "Author" | "OwnerName" | "CameraOwnerName" | "Owner" | "By-line" => {
                meta.authors.push(v)
            }
            "CreatorTool" | "Software" | "Producer" => meta.software.push(v),
            "Model" => meta.model = meta.model.take().or(Some(v)),
            "Make" => meta.make = meta.make.take().or(Some(v)),
            "SerialNumber" | "BodySerialNumber" | "LensSerialNumber" | "InternalSerialNumber" => meta.serials.push(v),
            "City" | "State" | "Country" | "Location" | "Sublocation" | "CountryName" | "ProvinceState"
            | "WorldRegion" => meta.locations.push(v),
            "DateTimeOriginal" | "CreateDate" | "DateCreated" => meta.capture = meta.capture.take().or(Some(v)),
            "GPSLatitude" => gps.0 = coordinate(&v),
            "GPSLongitude" => gps.1 = coordinate(&v),
            _ => meta.texts.push(v),
        }
    };
    let ok = xml::walk(packet, max_depth, |ev| match ev {
        Event::Start { name, attrs } => {
            for (k, v) in attrs {
                if !k.starts_with("xmlns") && !k.starts_with("rdf:") && !k.starts_with("xml:") && !k.starts_with("x:") {
                    assign(local(&k), &v, meta);
                }
            }
            stack.push(name);
        }
        Event::End => {
            stack.pop();
        }
        Event::Text(t) => {
            if let Some(owner) = stack.iter().rev().find(|n| !n.starts_with("rdf:")) {
                let owner = local(owner).to_string();
                assign(&owner, &t, meta);
            }
        }
    });
    if let (Some(la), Some(lo)) = gps {
        meta.gps = meta.gps.or(Some((la, lo)));
    }
    ok
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// XMP GPS coordinates: `DDD,MM.mmk`, `DDD,MM,SSk` or a decimal number.
fn coordinate(v: &str) -> Option<f64> {
    let v = v.trim();
    let last = v.chars().last()?;
    let (body, sign) = match last.to_ascii_uppercase() {
        'N' | 'E' => (&v[..v.len() - 1], 1.0),
        'S' | 'W' => (&v[..v.len() - 1], -1.0),
        _ => (v, 1.0),
    };
    let parts: Vec<f64> = body
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .ok()?;
    let d = match parts[..] {
        [d] => d,
        [d, m] => d + m / 60.0,
        [d, m, s] => d + m / 60.0 + s / 3600.0,
        _ => return None,
    };
    Some(sign * d)
}
