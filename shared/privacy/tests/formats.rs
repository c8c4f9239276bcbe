//! Every format with real-shaped files generated here: text family, OOXML, PDF; and the
//! hostile ones (zip bomb, lying zip headers, deep PDF nesting, encrypted, too large).

use flate2::write::ZlibEncoder;
use flate2::Compression;
use graphwatch_privacy::corpus::pdf;
use graphwatch_privacy::{scan_bytes, scan_reader, FileReport, Format, Kind, Risk, ScanOptions, Source, Status};
use std::io::{Cursor, Write};
use std::time::{Duration, Instant};
use zip::write::SimpleFileOptions;

fn scan(bytes: &[u8]) -> FileReport {
    scan_bytes(bytes, &ScanOptions::default())
}

fn kinds(r: &FileReport) -> Vec<Kind> {
    r.findings.iter().map(|f| f.kind).collect()
}

fn find(r: &FileReport, kind: Kind) -> Vec<&graphwatch_privacy::Finding> {
    r.findings.iter().filter(|f| f.kind == kind).collect()
}

const PII: &str = "Contact jane.doe@example.com, card 4111 1111 1111 1111, SSN 536-22-5347.";

#[test]
fn text_family_formats_are_sniffed_and_scanned_with_file_offsets() {
    let cases: Vec<(Format, String)> = vec![
        (Format::Text, format!("notes\n{PII}\n")),
        (
            Format::Csv,
            "name,email,card\nJane,jane.doe@example.com,4111111111111111\nBob,bob@example.org,5555555555554444\n"
                .to_string(),
        ),
        (
            Format::Json,
            format!("{{\"user\": {{\"email\": \"jane.doe@example.com\", \"note\": \"{PII}\"}}}}"),
        ),
        (
            Format::Html,
            format!("<!DOCTYPE html><html><body><p>{PII}</p></body></html>"),
        ),
        (Format::Markdown, format!("# Customer\n\n- {PII}\n")),
        (
            Format::Email,
            format!("From: Jane <jane.doe@example.com>\nTo: bob@example.org\nSubject: card\n\n{PII}\n"),
        ),
    ];
    for (fmt, text) in cases {
        let r = scan(text.as_bytes());
        assert_eq!(r.format, fmt, "{text}");
        assert_eq!(r.status, Status::Scanned);
        assert!(
            kinds(&r).contains(&Kind::EmailAddress) && kinds(&r).contains(&Kind::CreditCard),
            "{fmt:?}: {:?}",
            kinds(&r)
        );
        for f in &r.findings {
            assert_eq!(f.source, Source::Text);
            assert_eq!(&text[f.start..f.end], f.value, "{fmt:?}");
        }
        assert!(r.risk >= Risk::High, "{fmt:?}: {:?}", r.reasons);
    }
}

#[test]
fn utf16_text_is_transcoded() {
    for bom_le in [true, false] {
        let mut bytes = if bom_le { vec![0xFF, 0xFE] } else { vec![0xFE, 0xFF] };
        for u in PII.encode_utf16() {
            bytes.extend(if bom_le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        let r = scan(&bytes);
        assert_eq!(r.format, Format::Text);
        assert!(kinds(&r).contains(&Kind::UsSsn), "{:?}", kinds(&r));
        let via_reader = scan_reader(Cursor::new(&bytes), &ScanOptions::default());
        assert_eq!(via_reader.findings, r.findings);
    }
}

#[test]
fn streaming_matches_in_memory_and_finds_matches_across_chunk_borders() {
    let opts = ScanOptions {
        chunk_size: 8 << 10,
        ..ScanOptions::default()
    };
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 200_000 {
        text.push_str(&format!("line {i} some filler words here and there. "));
        if i % 37 == 0 {
            text.push_str("card 4111 1111 1111 1111 and mail jane.doe@example.com ");
        }
        i += 1;
    }
    let whole = scan_bytes(text.as_bytes(), &opts);
    let streamed = scan_reader(Cursor::new(text.as_bytes()), &opts);
    assert_eq!(whole.findings, streamed.findings);
    let expected_cards = text.matches("4111 1111 1111 1111").count();
    assert_eq!(find(&streamed, Kind::CreditCard).len(), expected_cards);
    for f in &streamed.findings {
        assert_eq!(&text[f.start..f.end], f.value);
    }
    assert_eq!(streamed.risk, Risk::Critical, "{:?}", streamed.reasons);
}

#[test]
fn status_rules_never_report_low() {
    let tiny = ScanOptions {
        max_size: 10,
        ..ScanOptions::default()
    };
    let big = scan_bytes(b"this text is longer than ten bytes", &tiny);
    assert_eq!(big.status, Status::TooLarge);
    let streamed = scan_reader(Cursor::new(b"this text is longer than ten bytes"), &tiny);
    assert_eq!(streamed.status, Status::TooLarge);
    let unknown = scan(&[0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xFF]);
    assert_eq!(unknown.status, Status::Unsupported);
    let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole.extend("EncryptedPackage".encode_utf16().flat_map(|u| u.to_le_bytes()));
    let enc = scan(&ole);
    assert_eq!(enc.status, Status::Encrypted);
    for r in [big, streamed, unknown, enc] {
        assert!(r.risk >= Risk::Medium, "{:?}", r.status);
        assert!(
            r.reasons.iter().any(|x| x.starts_with(r.status.name())),
            "{:?}",
            r.reasons
        );
    }
}

fn zip_file(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(
            *name,
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
        )
        .expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

const CT: &[u8] =
    br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#;

fn core_xml(creator: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"><dc:title>Payroll</dc:title><dc:creator>{creator}</dc:creator><cp:lastModifiedBy>Bob Editor</cp:lastModifiedBy><dcterms:created>2024-01-02T03:04:05Z</dcterms:created></cp:coreProperties>"#
    )
}

#[test]
fn docx_body_comments_tracked_changes_properties_and_media() {
    let doc = r#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
        <w:p><w:r><w:t>Customer e-mail: jane.doe@example.com</w:t></w:r></w:p>
        <w:p><w:ins w:id="1" w:author="Carol Reviewer"><w:r><w:t>Phone (212) 555-7890</w:t></w:r></w:ins>
        <w:del w:id="2" w:author="Dave Deleter"><w:r><w:delText>SSN 536-22-5347</w:delText></w:r></w:del></w:p>
        </w:body></w:document>"#;
    let comments = r#"<?xml version="1.0"?><w:comments xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:comment w:id="0" w:author="Erin Commenter" w:initials="EC"><w:p><w:r><w:t>her card is 4111 1111 1111 1111</w:t></w:r></w:p></w:comment></w:comments>"#;
    let photo = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/exif-samples/jpg/gps/DSCN0010.jpg"
    ))
    .expect("photo");
    let bytes = zip_file(&[
        ("[Content_Types].xml", CT),
        ("docProps/core.xml", core_xml("Alice Author").as_bytes()),
        (
            "docProps/app.xml",
            b"<Properties><Application>Microsoft Office Word</Application><Company>Acme Ltd</Company></Properties>",
        ),
        ("word/document.xml", doc.as_bytes()),
        ("word/comments.xml", comments.as_bytes()),
        ("word/media/image1.jpeg", &photo),
    ]);
    let r = scan(&bytes);
    assert_eq!((r.format, r.status), (Format::Docx, Status::Scanned), "{:?}", r.reasons);
    let authors: Vec<&str> = find(&r, Kind::Author).iter().map(|f| f.value.as_str()).collect();
    for a in [
        "Alice Author",
        "Bob Editor",
        "Acme Ltd",
        "Carol Reviewer",
        "Dave Deleter",
    ] {
        assert!(authors.contains(&a), "{a} not in {authors:?}");
    }
    assert_eq!(find(&r, Kind::CommentAuthor)[0].value, "Erin Commenter");
    let tracked = find(&r, Kind::TrackedChanges);
    assert_eq!(tracked.len(), 1);
    assert_eq!(tracked[0].value, "SSN 536-22-5347");
    let ssn = find(&r, Kind::UsSsn);
    assert_eq!(ssn[0].source, Source::TrackedChange);
    assert_eq!(find(&r, Kind::CreditCard)[0].source, Source::Comment);
    assert_eq!(find(&r, Kind::EmailAddress)[0].source, Source::Text);
    assert!(kinds(&r).contains(&Kind::PhoneNumber));
    let gps = find(&r, Kind::GpsLocation);
    assert_eq!(gps[0].source, Source::Embedded("word/media/image1.jpeg".into()));
    assert_eq!(find(&r, Kind::Software)[0].value, "Microsoft Office Word");
    assert!(r.risk >= Risk::High);
    assert!(
        r.reasons.iter().any(|x| x.contains("tracked deletion")),
        "{:?}",
        r.reasons
    );
}

#[test]
fn xlsx_and_pptx_text_and_comment_authors() {
    let strings = r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>IBAN</t></si><si><t>GB82 WEST 1234 5698 7654 32</t></si></sst>"#;
    let sheet = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><v>4111111111111111</v></c></row></sheetData></worksheet>"#;
    let comments = r#"<comments xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><authors><author>Frank Finance</author></authors><commentList><comment ref="A1" authorId="0"><text><r><t>call +44 20 7946 0958</t></r></text></comment></commentList></comments>"#;
    let xlsx = zip_file(&[
        ("[Content_Types].xml", CT),
        ("xl/sharedStrings.xml", strings.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ("xl/comments1.xml", comments.as_bytes()),
    ]);
    let r = scan(&xlsx);
    assert_eq!((r.format, r.status), (Format::Xlsx, Status::Scanned), "{:?}", r.reasons);
    assert!(
        kinds(&r).contains(&Kind::IbanCode) && kinds(&r).contains(&Kind::CreditCard),
        "{:?}",
        kinds(&r)
    );
    assert_eq!(find(&r, Kind::CommentAuthor)[0].value, "Frank Finance");
    assert_eq!(find(&r, Kind::PhoneNumber)[0].source, Source::Comment);

    let slide = r#"<p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>AWS key AKIAIOSFODNN7EXAMPLE</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#;
    let notes = r#"<p:notes xmlns:p="p" xmlns:a="a"><p:txBody><a:p><a:r><a:t>speaker: gina@example.com</a:t></a:r></a:p></p:txBody></p:notes>"#;
    let authors =
        r#"<p:cmAuthorLst xmlns:p="p"><p:cmAuthor id="1" name="Hank Presenter" initials="HP"/></p:cmAuthorLst>"#;
    let pptx = zip_file(&[
        ("[Content_Types].xml", CT),
        ("ppt/slides/slide1.xml", slide.as_bytes()),
        ("ppt/notesSlides/notesSlide1.xml", notes.as_bytes()),
        ("ppt/commentAuthors.xml", authors.as_bytes()),
    ]);
    let r = scan(&pptx);
    assert_eq!((r.format, r.status), (Format::Pptx, Status::Scanned), "{:?}", r.reasons);
    assert!(kinds(&r).contains(&Kind::SecretAwsAccessKey) && kinds(&r).contains(&Kind::EmailAddress));
    assert_eq!(find(&r, Kind::CommentAuthor)[0].value, "Hank Presenter");
    assert_eq!(r.risk, Risk::Critical);
}

#[test]
fn zip_bomb_is_too_large_quickly() {
    let zeros = vec![0u8; 80 << 20];
    let bytes = zip_file(&[("[Content_Types].xml", CT), ("word/document.xml", &zeros)]);
    assert!(bytes.len() < 1 << 20, "the bomb compresses well");
    let started = Instant::now();
    let opts = ScanOptions {
        max_member_bytes: 8 << 20,
        ..ScanOptions::default()
    };
    let r = scan_bytes(&bytes, &opts);
    assert_eq!(r.status, Status::TooLarge, "{:?}", r.reasons);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(r.risk >= Risk::Medium);
}

#[test]
fn too_many_zip_entries_and_lying_headers_are_rejected() {
    let names: Vec<String> = (0..50).map(|i| format!("word/media/f{i}.bin")).collect();
    let mut entries: Vec<(&str, &[u8])> = vec![("[Content_Types].xml", CT)];
    entries.extend(names.iter().map(|n| (n.as_str(), &b"x"[..])));
    let r = scan_bytes(
        &zip_file(&entries),
        &ScanOptions {
            max_zip_entries: 20,
            ..ScanOptions::default()
        },
    );
    assert_eq!(r.status, Status::TooLarge);

    // A member whose header claims fewer bytes than it inflates to.
    let doc = b"<w:document xmlns:w=\"w\"><w:body><w:p><w:r><w:t>hello world</w:t></w:r></w:p></w:body></w:document>";
    let mut bytes = zip_file(&[("[Content_Types].xml", CT), ("word/document.xml", doc)]);
    let cd = memchr::memmem::find_iter(&bytes, b"PK\x01\x02")
        .find(|&p| bytes[p + 46..].starts_with(b"word/"))
        .expect("central directory entry");
    bytes[cd + 24..cd + 28].copy_from_slice(&5u32.to_le_bytes()); // uncompressed size
    let r = scan(&bytes);
    assert!(matches!(r.status, Status::Corrupt), "{:?} {:?}", r.status, r.reasons);

    // Two central-directory entries pointing at the same local data.
    let mut bytes = zip_file(&[
        ("[Content_Types].xml", CT),
        ("word/document.xml", doc),
        ("word/footer1.xml", doc),
    ]);
    let entries: Vec<usize> = memchr::memmem::find_iter(&bytes, b"PK\x01\x02").collect();
    let first_offset = bytes[entries[1] + 42..entries[1] + 46].to_vec();
    bytes[entries[2] + 42..entries[2] + 46].copy_from_slice(&first_offset);
    let r = scan(&bytes);
    assert_eq!(r.status, Status::Corrupt, "{:?}", r.reasons);
}

fn stream(dict: &str, data: &[u8], deflate: bool) -> Vec<u8> {
    let data = if deflate {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(data).expect("deflate");
        z.finish().expect("deflate")
    } else {
        data.to_vec()
    };
    let filter = if deflate { "/Filter /FlateDecode" } else { "" };
    let mut out = format!("<< {dict} {filter} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend(&data);
    out.extend(b"\nendstream");
    out
}

#[test]
fn pdf_info_xmp_and_page_text() {
    let content =
        b"BT /F1 12 Tf 72 720 Td (Patient NHS number 943 476 5919) Tj T* [(e-mail: ) -50 (jane.doe@example.com)] TJ ET";
    let xmp = br#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"><dc:creator><rdf:Seq><rdf:li>Ivy Xmp</rdf:li></rdf:Seq></dc:creator><xmp:CreatorTool>Writer 7</xmp:CreatorTool></rdf:Description></rdf:RDF></x:xmpmeta>"#;
    let objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R /Metadata 6 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R /MediaBox [0 0 612 792] >>".to_vec(),
        stream("", content, true),
        b"<< /Author (Jack Pdf) /Producer (PdfGen 1.0) /Title <FEFF0054006900740065006C> /CreationDate (D:20240102030405Z) >>".to_vec(),
        stream("/Type /Metadata /Subtype /XML", xmp, false),
    ];
    let bytes = pdf(&objects, "/Info 5 0 R");
    let r = scan(&bytes);
    assert_eq!((r.format, r.status), (Format::Pdf, Status::Scanned), "{:?}", r.reasons);
    let authors: Vec<&str> = find(&r, Kind::Author).iter().map(|f| f.value.as_str()).collect();
    assert!(
        authors.contains(&"Jack Pdf") && authors.contains(&"Ivy Xmp"),
        "{authors:?}"
    );
    assert!(find(&r, Kind::Software).iter().any(|f| f.value == "PdfGen 1.0"));
    let nhs = find(&r, Kind::UkNhs);
    assert_eq!((nhs[0].source.clone(), nhs[0].confidence), (Source::Text, 85));
    assert!(kinds(&r).contains(&Kind::EmailAddress));
}

#[test]
fn pdf_object_streams_are_read() {
    let inner = b"<< /Author (Kim Objstm) >>";
    let header = b"5 0 ";
    let mut data = header.to_vec();
    data.extend(inner);
    let objects = vec![
        b"<< /Type /Catalog >>".to_vec(),
        stream(&format!("/Type /ObjStm /N 1 /First {}", header.len()), &data, true),
    ];
    let r = scan(&pdf(&objects, "/Info 5 0 R"));
    assert!(
        find(&r, Kind::Author).iter().any(|f| f.value == "Kim Objstm"),
        "{:?}",
        r
    );
}

#[test]
fn encrypted_and_hostile_pdfs() {
    let enc = pdf(
        &[
            b"<< /Type /Catalog >>".to_vec(),
            b"<< /Filter /Standard /V 2 /R 3 >>".to_vec(),
        ],
        "/Encrypt 2 0 R",
    );
    let r = scan(&enc);
    assert_eq!(r.status, Status::Encrypted);
    assert!(r.risk >= Risk::Medium);

    let deep = format!("<< /A {}1{} >>", "[".repeat(200_000), "]".repeat(200_000));
    let started = Instant::now();
    let r = scan(&pdf(&[deep.into_bytes()], ""));
    assert_eq!(r.status, Status::Corrupt);
    assert!(started.elapsed() < Duration::from_secs(2));

    let r = scan_bytes(
        &pdf(&vec![b"<< >>".to_vec(); 100], ""),
        &ScanOptions {
            max_pdf_objects: 50,
            ..ScanOptions::default()
        },
    );
    assert_eq!(r.status, Status::TooLarge);

    let zeros = vec![0u8; 64 << 20];
    let r = scan_bytes(
        &pdf(&[stream("", &zeros, true)], ""),
        &ScanOptions {
            max_member_bytes: 4 << 20,
            ..ScanOptions::default()
        },
    );
    assert_eq!(r.status, Status::TooLarge);

    let truncated = &pdf(&[stream("", b"BT (SSN 536-22-5347) Tj ET", true)], "")[..40];
    let r = scan(truncated);
    assert_ne!(r.risk, Risk::Low);
}

#[test]
fn time_budget_gives_timed_out() {
    let text = "jane.doe@example.com 4111 1111 1111 1111 ".repeat(200_000);
    let opts = ScanOptions {
        max_time: Duration::ZERO,
        chunk_size: 64 << 10,
        ..ScanOptions::default()
    };
    let r = scan_bytes(text.as_bytes(), &opts);
    assert_eq!(r.status, Status::TimedOut);
    assert!(r.risk >= Risk::Medium);
}

#[test]
fn png_and_webp_metadata() {
    fn chunk(typ: &[u8], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend(typ);
        c.extend(data);
        c.extend(crc32fast::hash(&[typ, data].concat()).to_be_bytes());
        c
    }
    let xmp = br#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" exif:GPSLatitude="51,30.5N" exif:GPSLongitude="0,7.25W" photoshop:City="London"/></rdf:RDF></x:xmpmeta>"#;
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(b"contact lee@example.com").expect("deflate");
    let ztxt = [&b"Comment\0\0"[..], &z.finish().expect("deflate")].concat();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]));
    png.extend(chunk(b"tEXt", b"Author\0Mia Png"));
    png.extend(chunk(b"iTXt", &[&b"XML:com.adobe.xmp\0\0\0\0\0"[..], xmp].concat()));
    png.extend(chunk(b"zTXt", &ztxt));
    png.extend(chunk(b"IDAT", b"xx"));
    png.extend(chunk(b"IEND", b""));
    let r = scan(&png);
    assert_eq!((r.format, r.status), (Format::Png, Status::Scanned), "{:?}", r.reasons);
    let gps = &find(&r, Kind::GpsLocation)[0];
    assert!((gps.lat.expect("lat") - 51.508333).abs() < 1e-5 && (gps.lon.expect("lon") + 0.120833).abs() < 1e-5);
    assert_eq!(find(&r, Kind::Author)[0].value, "Mia Png");
    assert_eq!(find(&r, Kind::Location)[0].value, "London");
    assert!(kinds(&r).contains(&Kind::EmailAddress));
    assert_eq!(
        graphwatch_privacy::needed_prefix(&png),
        graphwatch_privacy::Prefix::Complete
    );

    let mut webp = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
    webp.extend(10u32.to_le_bytes());
    webp.extend([0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    webp.extend(b"XMP ");
    webp.extend((xmp.len() as u32).to_le_bytes());
    webp.extend(xmp);
    if xmp.len() % 2 == 1 {
        webp.push(0);
    }
    let r = scan(&webp);
    assert_eq!((r.format, r.status), (Format::Webp, Status::Scanned));
    assert_eq!(find(&r, Kind::GpsLocation).len(), 1);
    assert_eq!(
        graphwatch_privacy::needed_prefix(&webp),
        graphwatch_privacy::Prefix::Complete
    );
    assert!(matches!(
        graphwatch_privacy::needed_prefix(&webp[..60]),
        graphwatch_privacy::Prefix::NeedMore(_)
    ));
}

#[test]
fn reports_serialize_with_the_agreed_names() {
    let mut r = scan(PII.as_bytes());
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["status"], "scanned");
    assert_eq!(json["format"], "text");
    assert_eq!(json["risk"], "critical");
    let f = &json["findings"][0];
    assert!(f["type"].is_string() && f["source"] == "text" && f["value"].is_string());
    r.conceal();
    let json = serde_json::to_value(&r).expect("json");
    assert!(json["findings"][0].get("value").is_none());
    let back: FileReport = serde_json::from_value(json).expect("round trip");
    assert_eq!(back.findings.len(), r.findings.len());
    assert_eq!(
        serde_json::to_value(Source::Embedded("word/media/a.png".into())).expect("json"),
        "embedded:word/media/a.png"
    );
}

/// Inputs that crashed a fuzz target once, replayed behind the same magic bytes the target uses
/// (the file name says which: `<target>-<what>.bin`).
#[test]
fn fuzz_regressions_end_with_a_status() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/fuzz-regressions");
    let magic = |target: &str| -> &[u8] {
        match target {
            "heif" => b"\0\0\0\x18ftypheic",
            "jpeg" => b"\xFF\xD8\xFF",
            "tiff" => b"II*\0",
            "png" => b"\x89PNG\r\n\x1a\n",
            "webp" => b"RIFF\0\0\0\0WEBP",
            "ooxml" => b"PK\x03\x04word/",
            "pdf" => b"%PDF-1.7\n",
            _ => b"",
        }
    };
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("regressions dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_string_lossy().to_string();
        let target = name.split('-').next().expect("target prefix");
        let bytes = [magic(target), &std::fs::read(&path).expect("read")].concat();
        let r = scan(&bytes);
        assert!(r.status == Status::Scanned || r.risk >= Risk::Medium, "{name}");
        let _ = graphwatch_privacy::needed_prefix(&bytes);
        seen += 1;
    }
    assert!(seen >= 1);
}
