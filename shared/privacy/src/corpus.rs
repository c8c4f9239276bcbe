//! A seeded generator of labelled text for accuracy tests and benchmarks: filler prose with
//! look-alike negatives (order numbers, prices, versions, times, UUIDs, Luhn-failing numbers)
//! and entities in their usual written forms, each labelled with its kind and byte span.

use crate::detect::checks;
use crate::Kind;
use base64::Engine;
use sha2::{Digest, Sha256};

/// One labelled entity in a generated corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    /// The entity kind.
    pub kind: Kind,
    /// Byte offset of the entity.
    pub start: usize,
    /// Byte offset one past the entity.
    pub end: usize,
}

/// Generated text and its labels.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The text, lines of prose with entities mixed in.
    pub text: String,
    /// Every entity placed in the text, in order.
    pub labels: Vec<Label>,
}

/// The kinds the generator places (every text detector).
pub const KINDS: &[Kind] = &[
    Kind::CreditCard,
    Kind::IbanCode,
    Kind::EmailAddress,
    Kind::PhoneNumber,
    Kind::IpAddress,
    Kind::UsSsn,
    Kind::UkNhs,
    Kind::UkNino,
    Kind::Crypto,
    Kind::DateOfBirth,
    Kind::SecretAwsAccessKey,
    Kind::SecretPrivateKey,
    Kind::SecretGithubToken,
    Kind::SecretSlackToken,
    Kind::SecretAzureStorageKey,
    Kind::SecretJwt,
    Kind::SecretPasswordAssignment,
];

/// SplitMix64: small, fast, and stable across versions (so seeds reproduce forever).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }

    fn chars(&mut self, n: usize, alphabet: &[u8]) -> String {
        (0..n).map(|_| char::from(self.pick(alphabet))).collect()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const WORDS: &[&str] = &[
    "the",
    "quarterly",
    "report",
    "shows",
    "that",
    "revenue",
    "grew",
    "across",
    "all",
    "regions",
    "while",
    "costs",
    "remained",
    "stable",
    "please",
    "review",
    "attached",
    "document",
    "before",
    "meeting",
    "team",
    "agreed",
    "to",
    "move",
    "deadline",
    "project",
    "update",
    "status",
    "of",
    "migration",
    "is",
    "on",
    "track",
    "and",
    "we",
    "expect",
    "completion",
    "next",
    "week",
    "budget",
    "approval",
    "pending",
    "from",
    "finance",
    "customer",
    "feedback",
    "was",
    "positive",
    "overall",
    "with",
    "minor",
    "issues",
    "in",
    "onboarding",
    "schedule",
    "workshop",
    "for",
    "new",
    "hires",
    "office",
    "closed",
    "during",
    "holidays",
    "inventory",
    "levels",
    "are",
    "low",
];

const FIRST: &[&str] = &[
    "jane", "john", "maria", "li", "ahmed", "olga", "pierre", "sofia", "kenji", "amara", "lucas", "emma",
];
const LAST: &[&str] = &[
    "doe", "smith", "garcia", "chen", "khan", "ivanova", "martin", "rossi", "tanaka", "okafor", "silva", "brown",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "mail.example.co.uk",
    "corp.example.net",
    "example.io",
];
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Generates about `target_len` bytes of labelled text from `seed`, an entity on about a third
/// of the lines (dense: one entity per ~230 bytes).
pub fn generate(seed: u64, target_len: usize) -> Corpus {
    generate_with_density(seed, target_len, 35)
}

/// Like [`generate`], with an entity on `percent` of the lines (2 gives document-like text,
/// about one entity per 4 KB).
pub fn generate_with_density(seed: u64, target_len: usize, percent: u64) -> Corpus {
    let mut rng = Rng(seed);
    let mut text = String::with_capacity(target_len + 256);
    let mut labels = Vec::new();
    let mut turn = 0usize;
    while text.len() < target_len {
        filler(&mut rng, &mut text);
        if rng.chance(percent) {
            let kind = KINDS[turn % KINDS.len()];
            turn += 1;
            let (before, value, after) = entity(&mut rng, kind);
            text.push_str(&before);
            let start = text.len();
            text.push_str(&value);
            labels.push(Label {
                kind,
                start,
                end: text.len(),
            });
            text.push_str(&after);
        }
        text.push('\n');
    }
    Corpus { text, labels }
}

/// A PDF built from object bodies (numbered from 1; object 1 is the catalog), with a binary
/// marker comment, an xref table and a trailer holding `trailer_extra` (e.g. `/Info 5 0 R`).
pub fn pdf(objects: &[Vec<u8>], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend(body);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R {trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A Word document whose body is `generate(seed, text_len)`, one paragraph per line, with an
/// author in its core properties.
pub fn docx(seed: u64, text_len: usize) -> Vec<u8> {
    use std::io::Write;
    let text = generate(seed, text_len).text;
    let paras: String = text
        .lines()
        .map(|l| {
            format!(
                "<w:p><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
                l.replace('&', "&amp;").replace('<', "&lt;")
            )
        })
        .collect();
    let parts = [
        ("[Content_Types].xml", "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>".to_string()),
        ("docProps/core.xml", format!("<?xml version=\"1.0\"?><cp:coreProperties xmlns:cp=\"cp\" xmlns:dc=\"dc\"><dc:creator>{} {}</dc:creator></cp:coreProperties>", FIRST[seed as usize % FIRST.len()], LAST[seed as usize % LAST.len()])),
        ("word/document.xml", format!("<?xml version=\"1.0\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{paras}</w:body></w:document>")),
    ];
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in parts {
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("in-memory zip");
        w.write_all(data.as_bytes()).expect("in-memory zip");
    }
    w.finish().expect("in-memory zip").into_inner()
}

/// A line of prose, sometimes with a look-alike that must not be reported.
fn filler(rng: &mut Rng, out: &mut String) {
    let n = rng.range(6, 14);
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(rng.pick(WORDS));
    }
    let decoy = match rng.below(14) {
        0 => format!(" order #{}", rng.digits(6)),
        1 => format!(" total ${},{}.{}", rng.range(1, 99), rng.digits(3), rng.digits(2)),
        2 => format!(" version {}.{}.{}", rng.below(10), rng.below(20), rng.below(50)),
        3 => format!(" at {:02}:{:02}", rng.below(24), rng.below(60)),
        4 => format!(" meeting on 2024-{:02}-{:02}", rng.range(1, 12), rng.range(1, 28)),
        5 => format!(" tracking {}", luhn_failing(rng)),
        6 => format!(
            " id {:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            rng.next() as u32,
            rng.below(65536),
            rng.below(4096),
            rng.below(4096),
            rng.next() & 0xFFFF_FFFF_FFFF
        ),
        7 => format!(" room {}", rng.range(100, 999)),
        8 => format!(" sha {}", rng.chars(40, b"0123456789abcdef")),
        9 => format!(" qty {} of {}", rng.range(1, 500), rng.range(500, 5000)),
        _ => String::new(),
    };
    out.push_str(&decoy);
    out.push('.');
    out.push(' ');
}

fn luhn_failing(rng: &mut Rng) -> String {
    loop {
        let s = format!("4{}", rng.digits(15));
        if !checks::luhn(s.as_bytes()) {
            return s;
        }
    }
}

fn with_luhn(prefix: &str, len: usize, rng: &mut Rng) -> String {
    let body = format!("{prefix}{}", rng.digits(len - 1 - prefix.len()));
    (0..10)
        .map(|d| format!("{body}{d}"))
        .find(|c| checks::luhn(c.as_bytes()))
        .expect("one check digit fits")
}

fn group(s: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = Vec::new();
    let mut p = 0;
    for &n in sizes {
        out.push(&s[p..p + n]);
        p += n;
    }
    out.join(sep)
}

/// (text before, the entity, text after) for one entity of `kind`.
fn entity(rng: &mut Rng, kind: Kind) -> (String, String, String) {
    let ctx = rng.chance(50);
    let lead = |rng: &mut Rng, with: &[&str], without: &[&str], ctx: bool| -> String {
        if ctx {
            rng.pick(with).to_string()
        } else {
            rng.pick(without).to_string()
        }
    };
    let neutral = ["Details: ", "Reference ", "See ", "Noted ", "Item "];
    let end = ".".to_string();
    match kind {
        Kind::CreditCard => {
            let card = match rng.below(4) {
                0 => with_luhn("4", 16, rng),
                1 => with_luhn(&format!("5{}", rng.range(1, 5)), 16, rng),
                2 => with_luhn(rng.pick(&["34", "37"]), 15, rng),
                _ => with_luhn("6011", 16, rng),
            };
            let shown = match (card.len(), rng.below(3)) {
                (15, 0) => group(&card, &[4, 6, 5], " "),
                (16, 0) => group(&card, &[4, 4, 4, 4], " "),
                (16, 1) => group(&card, &[4, 4, 4, 4], "-"),
                _ => card,
            };
            (
                lead(rng, &["Card number ", "Paid by visa ", "credit card: "], &neutral, ctx),
                shown,
                end,
            )
        }
        Kind::IbanCode => {
            let (cc, bban) = match rng.below(4) {
                0 => (
                    "GB",
                    format!("{}{}", rng.chars(4, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"), rng.digits(14)),
                ),
                1 => ("DE", rng.digits(18)),
                2 => (
                    "NL",
                    format!("{}{}", rng.chars(4, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"), rng.digits(10)),
                ),
                _ => ("ES", rng.digits(20)),
            };
            let iban = iban(cc, &bban);
            let shown = if rng.chance(50) {
                iban.as_bytes()
                    .chunks(4)
                    .map(|c| std::str::from_utf8(c).expect("ascii"))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                iban
            };
            (
                lead(rng, &["IBAN ", "Bank account: ", "wire transfer to "], &neutral, ctx),
                shown,
                end,
            )
        }
        Kind::EmailAddress => {
            let e = format!(
                "{}.{}{}@{}",
                rng.pick(FIRST),
                rng.pick(LAST),
                rng.below(100),
                rng.pick(DOMAINS)
            );
            (
                lead(
                    rng,
                    &["Email ", "contact: ", "reply to "],
                    &["Ask ", "cc ", "From "],
                    ctx,
                ),
                e,
                end,
            )
        }
        Kind::PhoneNumber => {
            // NANP: area and exchange start with 2-9 and are never N11 (211, 311, ...).
            let nxx = |rng: &mut Rng| loop {
                let v = format!("{}{}", rng.range(2, 9), rng.digits(2));
                if &v[1..] != "11" {
                    break v;
                }
            };
            let (area, exch) = (nxx(rng), nxx(rng));
            let line = rng.digits(4);
            let p = match rng.below(6) {
                0 => format!("({area}) {exch}-{line}"),
                1 => format!("{area}-{exch}-{line}"),
                2 => format!("+1 {area} {exch} {line}"),
                3 => format!("+44 20 {} {}", rng.range(7000, 8999), rng.digits(4)),
                4 => format!(
                    "+33 {} {} {} {} {}",
                    rng.range(1, 9),
                    rng.digits(2),
                    rng.digits(2),
                    rng.digits(2),
                    rng.digits(2)
                ),
                _ => format!("020 {} {}", rng.range(7000, 8999), rng.digits(4)),
            };
            (
                lead(rng, &["Call ", "phone: ", "mobile "], &["Try ", "Dial in ", "Or "], ctx),
                p,
                end,
            )
        }
        Kind::IpAddress => {
            let ip = if rng.chance(70) {
                format!(
                    "{}.{}.{}.{}",
                    rng.range(11, 223),
                    rng.below(256),
                    rng.below(256),
                    rng.range(1, 254)
                )
            } else {
                format!(
                    "2001:db8:{:x}:{:x}::{:x}",
                    rng.below(65536),
                    rng.below(65536),
                    rng.range(1, 65535)
                )
            };
            (
                lead(
                    rng,
                    &["server ", "ip address ", "host "],
                    &["Seen from ", "Origin "],
                    ctx,
                ),
                ip,
                end,
            )
        }
        Kind::UsSsn => {
            let area = loop {
                let a = rng.range(1, 899);
                if a != 666 {
                    break a;
                }
            };
            let ssn = format!("{area:03}-{:02}-{:04}", rng.range(1, 99), rng.range(1, 9999));
            (
                lead(
                    rng,
                    &["SSN ", "social security number "],
                    &["Applicant ", "Record "],
                    ctx,
                ),
                ssn,
                end,
            )
        }
        Kind::UkNhs => {
            let nhs = loop {
                let d = rng.digits(10);
                if checks::nhs_mod11(d.as_bytes()) {
                    break d;
                }
            };
            let shown = if rng.chance(70) {
                group(&nhs, &[3, 3, 4], " ")
            } else {
                nhs
            };
            (
                rng.pick(&["NHS number ", "NHS no. ", "patient NHS "]).to_string(),
                shown,
                end,
            )
        }
        Kind::UkNino => {
            let first = rng.pick(b"ABCEGHJKLMNOPRSTWXYZ");
            let second = rng.pick(b"ABCEGHJKLMNPRSTWXYZ");
            let (a, b) = if checks::nino_prefix(first, second) {
                (first, second)
            } else {
                (b'A', b'B')
            };
            let d = rng.digits(6);
            let suffix = rng.pick(b"ABCD") as char;
            let shown = if rng.chance(50) {
                format!(
                    "{}{} {} {} {} {suffix}",
                    a as char,
                    b as char,
                    &d[..2],
                    &d[2..4],
                    &d[4..]
                )
            } else {
                format!("{}{}{d}{suffix}", a as char, b as char)
            };
            (lead(rng, &["National Insurance ", "NINO "], &neutral, ctx), shown, end)
        }
        Kind::Crypto => {
            let addr = if rng.chance(60) {
                base58check(0, &rand_bytes(rng, 20))
            } else {
                bech32_p2wpkh(&rand_bytes(rng, 20))
            };
            (
                lead(rng, &["bitcoin wallet ", "send BTC to "], &neutral, ctx),
                addr,
                end,
            )
        }
        Kind::DateOfBirth => {
            let (y, m, d) = (rng.range(1940, 2005), rng.range(1, 12), rng.range(1, 28));
            let date = match rng.below(3) {
                0 => format!("{d:02}/{m:02}/{y}"),
                1 => format!("{y}-{m:02}-{d:02}"),
                _ => format!("{d} {} {y}", MONTHS[m as usize - 1]),
            };
            (
                rng.pick(&["date of birth: ", "born on ", "DOB "]).to_string(),
                date,
                end,
            )
        }
        Kind::SecretAwsAccessKey => {
            let k = format!("AKIA{}", rng.chars(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"));
            (
                rng.pick(&["aws_access_key_id = ", "key: "]).to_string(),
                k,
                String::new(),
            )
        }
        Kind::SecretPrivateKey => {
            let body: Vec<String> = (0..4)
                .map(|_| rng.chars(64, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))
                .collect();
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
                body.join("\n")
            );
            ("key file:\n".into(), pem, String::new())
        }
        Kind::SecretGithubToken => {
            let entropy = rng.chars(30, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
            let sum = checks::github_checksum(entropy.as_bytes());
            let tok = format!("ghp_{entropy}{}", std::str::from_utf8(&sum).expect("base62"));
            (rng.pick(&["GITHUB_TOKEN=", "token "]).to_string(), tok, String::new())
        }
        Kind::SecretSlackToken => {
            let tok = format!(
                "xoxb-{}-{}-{}",
                rng.digits(12),
                rng.digits(13),
                rng.chars(24, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
            );
            ("slack bot ".into(), tok, String::new())
        }
        Kind::SecretAzureStorageKey => {
            let key = base64::engine::general_purpose::STANDARD.encode(rand_bytes(rng, 64));
            (
                format!(
                    "DefaultEndpointsProtocol=https;AccountName={};AccountKey=",
                    rng.pick(LAST)
                ),
                key,
                ";EndpointSuffix=core.windows.net".into(),
            )
        }
        Kind::SecretJwt => {
            let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
            let payload = format!(
                "{{\"sub\":\"{}\",\"iat\":{}}}",
                rng.digits(8),
                rng.range(1_600_000_000, 1_800_000_000)
            );
            let jwt = format!(
                "{}.{}.{}",
                b64(br#"{"alg":"HS256","typ":"JWT"}"#),
                b64(payload.as_bytes()),
                b64(&rand_bytes(rng, 32))
            );
            ("Authorization: Bearer ".into(), jwt, String::new())
        }
        Kind::SecretPasswordAssignment => {
            let pw = rng.chars(12, b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#$&*");
            (
                rng.pick(&["password=", "db_password: ", "PASSWD = "]).to_string(),
                pw,
                String::new(),
            )
        }
        other => unreachable!("the generator does not place {other:?}"),
    }
}

fn rand_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next() as u8).collect()
}

fn iban(cc: &str, bban: &str) -> String {
    let rem = (0..100).find(|&k| checks::iban_mod97(format!("{cc}{k:02}{bban}").as_bytes()));
    format!("{cc}{:02}{bban}", rem.expect("two check digits always fit"))
}

fn base58check(version: u8, payload: &[u8]) -> String {
    const ALPHA: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut data = vec![version];
    data.extend(payload);
    let check = Sha256::digest(Sha256::digest(&data));
    data.extend(&check[..4]);
    let mut digits: Vec<u8> = Vec::new(); // base58 digits, little-endian
    for &byte in &data {
        let mut carry = byte as u32;
        for d in digits.iter_mut() {
            carry += (*d as u32) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let zeros = data.iter().take_while(|&&b| b == 0).count();
    std::iter::repeat_n(b'1', zeros)
        .chain(digits.iter().rev().map(|&d| ALPHA[d as usize]))
        .map(char::from)
        .collect()
}

fn bech32_p2wpkh(program: &[u8]) -> String {
    let mut data = vec![0u8]; // witness version 0
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in program {
        acc = acc << 8 | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            data.push((acc >> bits & 31) as u8);
        }
    }
    if bits > 0 {
        data.push((acc << (5 - bits) & 31) as u8);
    }
    let mut padded = data.clone();
    padded.extend([0u8; 6]);
    let chk = checks::bech32_polymod(b"bc", &padded) ^ checks::BECH32_CONST;
    data.extend((0..6).map(|i| (chk >> (5 * (5 - i)) & 31) as u8));
    let body: String = data
        .iter()
        .map(|&v| checks::BECH32_CHARSET[v as usize] as char)
        .collect();
    format!("bc1{body}")
}
