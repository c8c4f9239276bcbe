//! Every detector: positive, negative and checksum-failing (or rule-breaking) cases.

use graphwatch_privacy::corpus::generate_with_density;
use graphwatch_privacy::{scan_reader, scan_text, Kind, ScanOptions};
use std::io::Cursor;

fn found(text: &str, kind: Kind) -> Vec<(String, u8)> {
    scan_text(text)
        .into_iter()
        .filter(|f| f.kind == kind)
        .map(|f| (f.value, f.confidence))
        .collect()
}

fn has(text: &str, kind: Kind, value: &str) -> u8 {
    let hits = found(text, kind);
    match hits.iter().find(|(v, _)| v == value) {
        Some((_, c)) => *c,
        None => panic!("{kind:?} {value:?} not found in {text:?}; got {:?}", scan_text(text)),
    }
}

fn none(text: &str, kind: Kind) {
    let hits = found(text, kind);
    assert!(hits.is_empty(), "{kind:?} wrongly found in {text:?}: {hits:?}");
}

#[test]
fn credit_card() {
    assert_eq!(
        has(
            "order ref 4111 1111 1111 1111 shipped",
            Kind::CreditCard,
            "4111 1111 1111 1111"
        ),
        75
    );
    assert_eq!(
        has(
            "Visa card: 4111-1111-1111-1111",
            Kind::CreditCard,
            "4111-1111-1111-1111"
        ),
        85
    );
    has("amex 378282246310005", Kind::CreditCard, "378282246310005");
    has("amex 3782 822463 10005", Kind::CreditCard, "3782 822463 10005");
    has("mc 5555555555554444.", Kind::CreditCard, "5555555555554444");
    none("card 4111 1111 1111 1112", Kind::CreditCard); // Luhn fails
    none("card 9111 1111 1111 1111", Kind::CreditCard); // no issuer
    none("ticket 1234567812345670", Kind::CreditCard); // Luhn-valid but no issuer with that length
    none("invoice 41111111111111111111111", Kind::CreditCard);
}

#[test]
fn iban() {
    assert_eq!(
        has(
            "IBAN GB82 WEST 1234 5698 7654 32 please",
            Kind::IbanCode,
            "GB82 WEST 1234 5698 7654 32"
        ),
        85
    );
    assert_eq!(
        has(
            "pay DE89370400440532013000 now",
            Kind::IbanCode,
            "DE89370400440532013000"
        ),
        75
    );
    none("pay DE89370400440532013001 now", Kind::IbanCode); // mod 97 fails
    none("pay DE8937040044053201300 now", Kind::IbanCode); // wrong length for DE
    none("pay XX89370400440532013000 now", Kind::IbanCode); // unknown country
}

#[test]
fn email() {
    assert_eq!(
        has(
            "write to jane.doe+x@example.co.uk.",
            Kind::EmailAddress,
            "jane.doe+x@example.co.uk"
        ),
        65
    );
    assert_eq!(has("Email: bob@example.org", Kind::EmailAddress, "bob@example.org"), 75);
    none("user@localhost and @handle and a@b.c1", Kind::EmailAddress);
    none("x..y@example.com", Kind::EmailAddress);
}

#[test]
fn phone() {
    has("call (212) 555-7890 today", Kind::PhoneNumber, "(212) 555-7890");
    has("ring +44 20 7946 0958", Kind::PhoneNumber, "+44 20 7946 0958");
    has("+44 (0)20 7946 0958 office", Kind::PhoneNumber, "+44 (0)20 7946 0958");
    has("tel 020 7946 0958", Kind::PhoneNumber, "020 7946 0958");
    has("fr: 01 23 45 67 89", Kind::PhoneNumber, "01 23 45 67 89");
    has("+33 1 23 45 67 89", Kind::PhoneNumber, "+33 1 23 45 67 89");
    has("+14155552671", Kind::PhoneNumber, "+14155552671");
    assert_eq!(has("phone: 415-555-2671", Kind::PhoneNumber, "415-555-2671"), 75);
    none("(112) 555-7890", Kind::PhoneNumber); // NANP area codes never start with 1
    none("+999 1234 5678", Kind::PhoneNumber); // no such country code
    none("lot 4155552671", Kind::PhoneNumber); // bare digits need context
    has("mobile 4155552671", Kind::PhoneNumber, "4155552671");
}

#[test]
fn ip_address() {
    has("host at 192.168.10.25 is up", Kind::IpAddress, "192.168.10.25");
    has(
        "v6 2001:db8:85a3::8a2e:370:7334 ok",
        Kind::IpAddress,
        "2001:db8:85a3::8a2e:370:7334",
    );
    none("version 1.2.3.4.5 and 300.1.1.1 and 01.02.03.04", Kind::IpAddress);
    none("time 12:30:45 and std::vec", Kind::IpAddress);
}

#[test]
fn us_ssn() {
    assert_eq!(has("SSN 536-22-5347", Kind::UsSsn, "536-22-5347"), 75);
    has("id 536 22 5347", Kind::UsSsn, "536 22 5347");
    none("id 078-05-1120", Kind::UsSsn); // the Woolworth wallet sample
    none(
        "id 666-22-5347 and 912-22-5347 and 536-00-5347 and 536-22-0000",
        Kind::UsSsn,
    );
    none("id 536225347", Kind::UsSsn); // bare nine digits need context
    has("social security number 536225347", Kind::UsSsn, "536225347");
}

#[test]
fn uk_nhs() {
    assert_eq!(has("NHS number 943 476 5919", Kind::UkNhs, "943 476 5919"), 85);
    assert_eq!(has("ref 943 476 5919", Kind::UkNhs, "943 476 5919"), 75);
    none("ref 943 476 5918", Kind::UkNhs); // mod 11 fails
    none("ref 9434765919", Kind::UkNhs); // bare ten digits need context
}

#[test]
fn uk_nino() {
    has("NI number AB123456C", Kind::UkNino, "AB123456C");
    has("nino: AB 12 34 56 C", Kind::UkNino, "AB 12 34 56 C");
    none("code GB123456C and DA123456C and AB123456E", Kind::UkNino); // banned prefixes, bad suffix
    none("AB 12 3456 C", Kind::UkNino); // inconsistent spacing
}

#[test]
fn crypto() {
    assert_eq!(
        has(
            "btc 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
            Kind::Crypto,
            "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
        ),
        85
    );
    has(
        "to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        Kind::Crypto,
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    );
    none("to 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", Kind::Crypto); // base58check fails
    none("to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr", Kind::Crypto); // bech32 fails
}

#[test]
fn date_of_birth() {
    has("date of birth: 14/03/1985", Kind::DateOfBirth, "14/03/1985");
    has("she was born on 3 March 1985.", Kind::DateOfBirth, "3 March 1985");
    has("DOB 1985-03-14", Kind::DateOfBirth, "1985-03-14");
    none("invoice date 14/03/1985", Kind::DateOfBirth); // no context word
    none("born 31/02/1985", Kind::DateOfBirth); // no such day
}

#[test]
fn secrets() {
    has(
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        Kind::SecretAwsAccessKey,
        "AKIAIOSFODNN7EXAMPLE",
    );
    none(
        "AKIAIOSFODNN7EXAMPL and XAKIAIOSFODNN7EXAMPLE",
        Kind::SecretAwsAccessKey,
    );
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----";
    assert_eq!(has(&format!("key:\n{pem}\n"), Kind::SecretPrivateKey, pem), 75);
    none(
        "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----",
        Kind::SecretPrivateKey,
    );
    let entropy = "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123";
    let sum = crc_b62(entropy);
    let tok = format!("ghp_{entropy}{sum}");
    assert_eq!(has(&format!("GITHUB_TOKEN={tok}"), Kind::SecretGithubToken, &tok), 85);
    let bad = format!("ghp_{entropy}zzzzzz");
    assert_eq!(has(&format!("x {bad}"), Kind::SecretGithubToken, &bad), 65); // checksum fails: pattern only
    none("ghp_short", Kind::SecretGithubToken);
    has(
        "SLACK=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        Kind::SecretSlackToken,
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    );
    none("xoxb-abc", Kind::SecretSlackToken);
    let key = format!("{}==", "A".repeat(20) + &"b".repeat(66));
    has(
        &format!("DefaultEndpointsProtocol=https;AccountName=x;AccountKey={key};"),
        Kind::SecretAzureStorageKey,
        &key,
    );
    none(&format!("AccountKey={}=", "A".repeat(87)), Kind::SecretAzureStorageKey);
    let jwt =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    assert_eq!(has(&format!("Authorization: Bearer {jwt}"), Kind::SecretJwt, jwt), 85);
    assert_eq!(
        has(
            "eyJub3Rqc29uIjoxMjM0NX0.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
            Kind::SecretJwt,
            "eyJub3Rqc29uIjoxMjM0NX0.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"
        ),
        65
    );
    has("db_password = \"hunter2!\"", Kind::SecretPasswordAssignment, "hunter2!");
    has("PASSWORD: Tr0ub4dor&3", Kind::SecretPasswordAssignment, "Tr0ub4dor&3");
    has(
        "{\"Passphrase\" :\t'c0rrect-h0rse'}",
        Kind::SecretPasswordAssignment,
        "c0rrect-h0rse",
    );
    has(
        "db.pwd\t\t=s3cr3t-value",
        Kind::SecretPasswordAssignment,
        "s3cr3t-value",
    );
    none("the password is on the wiki: ask", Kind::SecretPasswordAssignment);
    none("PassWord: s3cr3t-value", Kind::SecretPasswordAssignment);
    none(
        "password = ******** and password: ${DB_PASSWORD} and password=<secret>",
        Kind::SecretPasswordAssignment,
    );
}

#[test]
fn offsets_are_byte_offsets_into_the_text() {
    let text = "héllo wörld — mail me: jane@example.com, SSN 536-22-5347";
    for f in scan_text(text) {
        assert_eq!(&text[f.start..f.end], f.value);
        assert!(f.redacted.len() <= f.value.len() + 8 && f.redacted != f.value);
    }
    assert_eq!(scan_text(text).len(), 2);
}

/// A context word counts from the text within the match's window alone: the same words around
/// the same match give the same confidence whatever other candidates come before or after it
/// (a card number ~2 KB further on once hid the word before an e-mail address).
#[test]
fn context_depends_only_on_the_window() {
    // About 2 KB without digits or context words.
    let prose = "The quarterly review went well and the team agreed on next steps. ".repeat(32);
    let card = "4111 1111 1111 1111";
    let cases = [
        ("contact: jane@example.com", Kind::EmailAddress, "jane@example.com", 75),
        (
            "server 2001:db8:85a3::8a2e:370:7334",
            Kind::IpAddress,
            "2001:db8:85a3::8a2e:370:7334",
            75,
        ),
        (
            "aws key AKIAIOSFODNN7EXAMPLE",
            Kind::SecretAwsAccessKey,
            "AKIAIOSFODNN7EXAMPLE",
            75,
        ),
        (
            "slack bot xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            Kind::SecretSlackToken,
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            75,
        ),
        // A number kind after an e-mail address, with its context word before both.
        (
            "Visa card of jane@example.com: 4012 8888 8888 1881",
            Kind::CreditCard,
            "4012 8888 8888 1881",
            85,
        ),
        // A birth date between a card and its context word (the date's own 48-byte lookup
        // once hid the card's context word further back).
        (
            "credit card kept on file since we were told the customer was born 3 March 1985: 5500 0000 0000 0004",
            Kind::CreditCard,
            "5500 0000 0000 0004",
            85,
        ),
    ];
    for (text, kind, value, conf) in cases {
        assert_eq!(has(text, kind, value), conf, "{text:?} alone");
        let after = format!("{text}\n{prose}{card}\n");
        assert_eq!(has(&after, kind, value), conf, "{text:?} then a card 2 KB further on");
        let before = format!("{card}\n{prose}{text}\n");
        assert_eq!(has(&before, kind, value), conf, "{text:?} after a card 2 KB before");
    }
}

/// Findings are the same whether a text is scanned whole or streamed in small chunks.
#[test]
fn whole_and_streamed_findings_agree() {
    for (seed, percent) in [(11, 35), (12, 100)] {
        let text = generate_with_density(seed, 400_000, percent).text;
        let whole = scan_text(&text);
        let opts = ScanOptions {
            chunk_size: 8 << 10,
            max_findings: usize::MAX,
            ..ScanOptions::default()
        };
        let streamed = scan_reader(Cursor::new(text.as_bytes()), &opts).findings;
        assert!(whole.len() > 1000, "seed {seed}: {} findings", whole.len());
        assert_eq!(whole, streamed, "seed {seed}");
    }
}

fn crc_b62(s: &str) -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut v = crc32(s.as_bytes());
    let mut out = vec![b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = B62[(v % 62) as usize];
        v /= 62;
    }
    String::from_utf8(out).expect("ascii")
}

/// Bitwise CRC-32 (IEEE), independent of the engine's implementation.
fn crc32(b: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &c in b {
        crc ^= c as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { crc >> 1 ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
