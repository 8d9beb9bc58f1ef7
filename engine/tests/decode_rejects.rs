//! Decoding JSON lines: each class of bad input goes to the dead letter with
//! its reason, and the good lines flow on with their hidden columns.

use std::io::Cursor;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType, UInt64Type};
use arrow_array::Array;
use dsl::plan::{DataType, Field, StreamPlan};
use engine::decode::StreamDecoder;
use engine::reject::RejectReason;
use engine::source::{Chunk, LineReader};

fn field(name: &str, ty: DataType, nullable: bool) -> Field {
    Field {
        name: name.into(),
        ty,
        nullable,
    }
}

fn payments() -> StreamPlan {
    StreamPlan {
        name: "payments".into(),
        fields: vec![
            field("ts", DataType::Timestamp, false),
            field("user", DataType::String, false),
            field("amount", DataType::Float, false),
            field("n", DataType::Int, false),
            field("ok", DataType::Bool, true),
            field("country", DataType::String, true),
            field(
                "device",
                DataType::Record(vec![field("os", DataType::String, false)]),
                true,
            ),
        ],
        time_field: "ts".into(),
        lateness: 5_000,
        ahead: dsl::plan::DEFAULT_AHEAD,
        derived_from: None,
    }
}

fn chunk_of(text: &str, max_line_bytes: usize) -> Chunk {
    chunk_of_bytes(text.as_bytes(), max_line_bytes)
}

fn chunk_of_bytes(text: &[u8], max_line_bytes: usize) -> Chunk {
    let mut reader = LineReader::new(Cursor::new(text.to_vec()), "test", max_line_bytes);
    let chunk = reader.next_chunk(10_000).expect("read").expect("a chunk");
    assert!(reader.next_chunk(10_000).expect("read").is_none());
    chunk
}

const GOOD: &str = r#"{"ts":"2026-01-01T00:00:00Z","user":"u1","amount":12.5,"n":3}"#;

/// Decodes `bad` between two good lines and returns the single rejection.
fn reject_of(bad: &str) -> (RejectReason, String) {
    reject_in(bad.as_bytes(), &[payments()])
}

/// [`reject_of`] for a line that may not be UTF-8, with both decoders: the
/// one-pass reader of scalar streams and the arrow-json one of nested
/// records must agree.
fn reject_by_both(bad: &[u8]) -> (RejectReason, String) {
    reject_in(bad, &[payments(), scalar_payments()])
}

fn reject_in(bad: &[u8], streams: &[StreamPlan]) -> (RejectReason, String) {
    let mut text = format!("{GOOD}\n").into_bytes();
    text.extend_from_slice(bad);
    text.extend_from_slice(format!("\n{GOOD}\n").as_bytes());
    let shown = String::from_utf8_lossy(bad);
    let mut found = Vec::new();
    for stream in streams {
        let mut decoder = StreamDecoder::new(stream).unwrap();
        let decoded = decoder.decode(&chunk_of_bytes(&text, 1 << 20)).unwrap();
        assert_eq!(
            decoded.batch.num_rows(),
            2,
            "the good lines flow for {shown}"
        );
        assert_eq!(decoded.rejects.len(), 1, "one rejection for {shown}");
        let reject = &decoded.rejects[0];
        assert_eq!(reject.line, 2);
        assert_eq!(reject.raw, bad);
        found.push((reject.reason, reject.detail.clone()));
    }
    assert!(
        found.windows(2).all(|w| w[0] == w[1]),
        "both decoders, for {shown}: {found:?}"
    );
    found.swap_remove(0)
}

#[test]
fn a_key_named_twice_in_any_object_is_a_duplicate_field() {
    // serde_json and arrow-json would keep the last value: 50000 here.
    let (reason, detail) = reject_by_both(
        br#"{"ts":"2026-01-01T00:00:00Z","user":"u","amount":5,"amount":50000,"n":1}"#,
    );
    assert_eq!(reason, RejectReason::DuplicateField);
    assert!(detail.contains("`amount`"), "{detail}");
    for (bad, path) in [
        // The same key once escaped.
        (
            r#"{"ts":"2026-01-01T00:00:00Z","user":"u","amount":5,"\u0061mount":5,"n":1}"#,
            "`amount`",
        ),
        // The event-time field, even with the same value.
        (r#"{"ts":1,"user":"u","amount":5,"n":1,"ts":1}"#, "`ts`"),
        // Unknown fields.
        (r#"{"ts":1,"user":"u","amount":5,"n":1,"x":1,"x":2}"#, "`x`"),
        (
            r#"{"ts":1,"user":"u","amount":5,"n":1,"x":{"y":[{"z":1,"z":1}]}}"#,
            "`x.y.z`",
        ),
        // Inside an unknown field, beside a declared nested record in a
        // scalar-only stream (where `device` is itself unknown).
        (
            r#"{"ts":1,"user":"u","amount":5,"n":1,"device":{"os":"a","os":"b"}}"#,
            "`device.os`",
        ),
    ] {
        let (reason, detail) = reject_by_both(bad.as_bytes());
        assert_eq!(reason, RejectReason::DuplicateField, "{bad}");
        assert!(detail.contains(path), "{bad}: {detail}");
    }
    // Alike keys in different objects are fine.
    let text = format!(
        "{}\n",
        r#"{"ts":1,"user":"u","amount":5,"n":1,"x":{"n":1},"y":[{"n":1},{"n":2}]}"#
    );
    for stream in [payments(), scalar_payments()] {
        let decoded = StreamDecoder::new(&stream)
            .unwrap()
            .decode(&chunk_of(&text, 1 << 20))
            .unwrap();
        assert_eq!(decoded.batch.num_rows(), 1, "{:?}", decoded.rejects);
    }
}

#[test]
fn invalid_utf8_anywhere_is_malformed_json() {
    for bad in [
        // In an unknown field, which serde_json skips unchecked.
        &b"{\"ts\":1,\"user\":\"u\",\"amount\":5,\"n\":1,\"x\":\"\xff\xfe\"}"[..],
        &b"{\"ts\":1,\"user\":\"u\",\"amount\":5,\"n\":1,\"x\":{\"\xc3\":1}}"[..],
        // In a declared field.
        &b"{\"ts\":1,\"user\":\"\xed\xa0\x80\",\"amount\":5,\"n\":1}"[..],
    ] {
        let (reason, detail) = reject_by_both(bad);
        assert_eq!(reason, RejectReason::MalformedJson);
        assert!(detail.contains("invalid UTF-8"), "{detail}");
    }
}

#[test]
fn a_byte_order_mark_at_the_start_of_the_input_is_skipped() {
    let text = format!("\u{feff}{GOOD}\n{GOOD}\n");
    let chunk = chunk_of(&text, 1 << 20);
    assert_eq!(chunk.line_bytes(0), GOOD.as_bytes());
    let decoded = StreamDecoder::new(&payments())
        .unwrap()
        .decode(&chunk)
        .unwrap();
    assert_eq!(decoded.batch.num_rows(), 2, "{:?}", decoded.rejects);
    // Only there: further on it is not JSON.
    let (reason, _) = reject_by_both("\u{feff}{}".as_bytes());
    assert_eq!(reason, RejectReason::MalformedJson);
    // A file holding only a mark has no lines.
    let mut reader = LineReader::new(Cursor::new(b"\xEF\xBB\xBF\n".to_vec()), "t", 1024);
    assert!(reader.next_chunk(10).unwrap().is_none());
}

#[test]
fn malformed_json_is_rejected() {
    assert_eq!(
        reject_of(r#"{"ts": "2026-01-01T00:00:00Z", "user":"#).0,
        RejectReason::MalformedJson
    );
    assert_eq!(
        reject_of(r#"{"ts":1} trailing"#).0,
        RejectReason::MalformedJson
    );
    // Broken syntax wins over a type problem before it.
    assert_eq!(
        reject_of(r#"{"ts":"2026-01-01T00:00:00Z","user":12,"amount":"#).0,
        RejectReason::MalformedJson
    );
}

#[test]
fn absent_or_null_required_fields_are_missing_fields() {
    let (reason, detail) = reject_of(r#"{"ts":"2026-01-01T00:00:00Z","amount":1.0,"n":1}"#);
    assert_eq!(reason, RejectReason::MissingField);
    assert!(detail.contains("`user`"), "{detail}");
    let (reason, _) = reject_of(r#"{"ts":"2026-01-01T00:00:00Z","user":null,"amount":1.0,"n":1}"#);
    assert_eq!(reason, RejectReason::MissingField);
    let (reason, _) = reject_of(r#"{"user":"u","amount":1.0,"n":1}"#);
    assert_eq!(reason, RejectReason::MissingField);
    let (reason, detail) =
        reject_of(r#"{"ts":"2026-01-01T00:00:00Z","user":"u","amount":1.0,"n":1,"device":{}}"#);
    assert_eq!(reason, RejectReason::MissingField);
    assert!(detail.contains("`device.os`"), "{detail}");
}

#[test]
fn values_of_another_type_are_wrong_types_even_where_arrow_would_coerce() {
    for bad in [
        r#"{"ts":"2026-01-01T00:00:00Z","user":12,"amount":1.0,"n":1}"#,
        r#"{"ts":"2026-01-01T00:00:00Z","user":"u","amount":"1.0","n":1}"#,
        r#"{"ts":"2026-01-01T00:00:00Z","user":"u","amount":1.0,"n":"12"}"#,
        r#"{"ts":"2026-01-01T00:00:00Z","user":"u","amount":1.0,"n":1.5}"#,
        r#"{"ts":"2026-01-01T00:00:00Z","user":"u","amount":1.0,"n":1,"ok":"yes"}"#,
        r#"{"ts":"2026-01-01T00:00:00Z","user":"u","amount":1.0,"n":1,"device":"ios"}"#,
        r#"[1,2,3]"#,
    ] {
        assert_eq!(reject_of(bad).0, RejectReason::WrongType, "{bad}");
    }
}

#[test]
fn timestamps_must_be_rfc3339_or_integer_millis() {
    for bad in [
        r#"{"ts":"yesterday","user":"u","amount":1.0,"n":1}"#,
        r#"{"ts":"2026-01-01 00:00:00","user":"u","amount":1.0,"n":1}"#,
        r#"{"ts":1.5,"user":"u","amount":1.0,"n":1}"#,
        r#"{"ts":true,"user":"u","amount":1.0,"n":1}"#,
    ] {
        assert_eq!(reject_of(bad).0, RejectReason::BadTimestamp, "{bad}");
    }
}

#[test]
fn good_lines_decode_with_hidden_columns() {
    let lines = [
        r#"{"ts":"2026-01-01T02:00:00+02:00","user":"a","amount":1,"n":1,"extra":{"x":[1]}}"#,
        r#"{"ts":1767225600123,"user":"b","amount":2.5,"n":-7,"ok":true,"country":"FR","device":{"os":"ios"}}"#,
        r#"{"ts":"2026-01-01T00:00:00.5Z","user":"c","amount":3.0,"n":9,"country":null,"device":null}"#,
    ];
    let text = format!("{}\r\n\n   \n{}\n{}", lines[0], lines[1], lines[2]);
    let mut decoder = StreamDecoder::new(&payments()).unwrap();
    let decoded = decoder.decode(&chunk_of(&text, 1 << 20)).unwrap();
    assert!(decoded.rejects.is_empty(), "{:?}", decoded.rejects);
    let batch = &decoded.batch;
    assert_eq!(batch.schema(), *decoder.in_flight_schema());
    let ts = batch.column(0).as_primitive::<TimestampMillisecondType>();
    assert_eq!(
        ts.values().to_vec(),
        vec![1767225600000, 1767225600123, 1767225600500]
    );
    let amount = batch.column(2).as_primitive::<Float64Type>();
    assert_eq!(amount.values().to_vec(), vec![1.0, 2.5, 3.0]);
    assert!(
        batch.column(5).is_null(0) && !batch.column(5).is_null(1) && batch.column(5).is_null(2)
    );
    let offsets = batch
        .column_by_name("__offset")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(
        offsets.values().to_vec(),
        vec![1, 4, 5],
        "blank lines count, CRLF is fine"
    );
    let hashes = batch
        .column_by_name("__hash")
        .unwrap()
        .as_primitive::<UInt64Type>();
    let expected: Vec<u64> = lines
        .iter()
        .map(|l| xxhash_rust::xxh3::xxh3_64(l.as_bytes()))
        .collect();
    assert_eq!(hashes.values().to_vec(), expected);
}

#[test]
fn oversize_lines_are_rejected_and_reading_goes_on() {
    let long = format!(
        r#"{{"ts":"2026-01-01T00:00:00Z","user":"{}","amount":1.0,"n":1}}"#,
        "x".repeat(500)
    );
    let text = format!("{GOOD}\n{long}\n{GOOD}\n");
    let chunk = chunk_of(&text, 200);
    assert_eq!(chunk.lines.len(), 2);
    let mut decoder = StreamDecoder::new(&payments()).unwrap();
    let decoded = decoder.decode(&chunk).unwrap();
    assert_eq!(decoded.batch.num_rows(), 2);
    assert_eq!(decoded.rejects.len(), 1);
    assert_eq!(decoded.rejects[0].reason, RejectReason::Oversize);
    assert_eq!(decoded.rejects[0].line, 2);
    assert_eq!(
        decoded.rejects[0].raw,
        long.as_bytes(),
        "short enough to keep whole"
    );
}

#[test]
fn line_reader_chunks_keep_line_numbers_and_end_without_newline() {
    let text = format!("{GOOD}\n{GOOD}\n\n{GOOD}");
    let mut reader = LineReader::new(Cursor::new(text.into_bytes()), "t", 1 << 20);
    let first = reader.next_chunk(2).unwrap().unwrap();
    let numbers: Vec<i64> = first.lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, vec![1, 2]);
    let second = reader.next_chunk(2).unwrap().unwrap();
    let numbers: Vec<i64> = second.lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, vec![4]);
    assert_eq!(second.line_bytes(0), GOOD.as_bytes());
    assert!(reader.next_chunk(2).unwrap().is_none());
}

#[test]
fn a_chunk_of_only_bad_lines_gives_an_empty_batch() {
    let mut decoder = StreamDecoder::new(&payments()).unwrap();
    let decoded = decoder.decode(&chunk_of("nope\n{}\n", 1 << 20)).unwrap();
    assert_eq!(decoded.batch.num_rows(), 0);
    let reasons: Vec<RejectReason> = decoded.rejects.iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        vec![RejectReason::MalformedJson, RejectReason::MissingField]
    );
}

#[test]
fn a_huge_line_is_skipped_in_pieces_and_only_its_start_is_kept() {
    // Longer than the reader's buffer, so it arrives over several fills.
    let huge = format!("{{\"user\":\"{}\"}}", "y".repeat(300_000));
    let text = format!("{GOOD}\n{huge}\n{GOOD}\n");
    let reader = std::io::BufReader::with_capacity(4096, Cursor::new(text.into_bytes()));
    let mut lines = LineReader::new(reader, "t", 100_000);
    let chunk = lines.next_chunk(100).unwrap().unwrap();
    assert_eq!(chunk.lines.len(), 2);
    assert!(chunk.data.len() < 1_000, "the huge line is not buffered");
    assert_eq!(chunk.oversize.len(), 1);
    let rejection = &chunk.oversize[0];
    assert_eq!(rejection.line, 2);
    assert_eq!(
        rejection.raw.len(),
        engine::source::lines::OVERSIZE_KEPT_BYTES
    );
    assert!(huge.as_bytes().starts_with(&rejection.raw));
    assert!(
        rejection.detail.contains(&huge.len().to_string()),
        "{}",
        rejection.detail
    );
    let numbers: Vec<i64> = chunk.lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, vec![1, 3]);
}

#[test]
fn chunks_built_from_records_decode_like_lines() {
    // What a message-based source (Kafka) does: one record per message,
    // numbered by offset, possibly pretty-printed over several lines.
    let mut chunk = Chunk::default();
    chunk.push_line(100, GOOD.as_bytes());
    chunk.push_line(
        101,
        b"{\n  \"ts\": 1767225600000,\n  \"user\": \"u2\",\n  \"amount\": 1,\n  \"n\": 2\n}",
    );
    chunk.push_line(102, b"{\"ts\": 1767225600000}");
    let mut decoder = StreamDecoder::new(&payments()).unwrap();
    let decoded = decoder.decode(&chunk).unwrap();
    assert_eq!(decoded.batch.num_rows(), 2);
    let offsets = decoded
        .batch
        .column_by_name("__offset")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(offsets.values().to_vec(), vec![100, 101]);
    assert_eq!(decoded.rejects.len(), 1);
    assert_eq!(decoded.rejects[0].line, 102);
    assert_eq!(decoded.rejects[0].reason, RejectReason::MissingField);
}

/// `payments` without its nested record: every field a scalar, so lines
/// are checked and read in one pass instead of going through arrow-json.
fn scalar_payments() -> StreamPlan {
    let mut stream = payments();
    stream.fields.retain(|f| f.name != "device");
    stream
}

#[test]
fn the_one_pass_reader_reads_what_arrow_json_reads_and_rejects_alike() {
    let lines = [
        GOOD,
        // Floats: many digits, exponents, integers in a float field.
        r#"{"ts":1767225600000,"user":"u2","amount":0.1,"n":-7}"#,
        r#"{"ts":1767225600001,"user":"u3","amount":1393.7300000000002,"n":0}"#,
        r#"{"ts":1767225600002,"user":"u4","amount":1e300,"n":9223372036854775807}"#,
        r#"{"ts":1767225600003,"user":"u5","amount":123456789012345678901234567890,"n":1}"#,
        r#"{"ts":1767225600004,"user":"u6","amount":5,"n":2,"ok":true}"#,
        r#"{"ts":1767225600005,"user":"u7","amount":2.5e-8,"n":3,"ok":false}"#,
        // Timestamps: offsets, fractions beyond milliseconds, before 1970.
        r#"{"ts":"2026-01-01T08:00:00+02:00","user":"u8","amount":1.0,"n":4}"#,
        r#"{"ts":"2026-01-01T00:00:00.123456789Z","user":"u9","amount":1.0,"n":5}"#,
        r#"{"ts":"1969-12-31T23:59:59.999Z","user":"u10","amount":1.0,"n":6}"#,
        r#"{"ts":-1,"user":"u11","amount":1.0,"n":7}"#,
        // Strings with escapes; nulls and absent optional fields; unknown fields.
        r#"{"ts":1767225600006,"user":"a\"b\u00e9\n","amount":1.0,"n":8,"country":null}"#,
        r#"{"ts":1767225600007,"user":"u12","amount":1.0,"n":9,"country":"FR","extra":[1,{"x":2}]}"#,
        r#"{"extra":{},"n":10,"amount":1.0,"user":"u13","ts":1767225600008,"ok":null}"#,
        // Rejected, each for its reason.
        r#"{"ts":1767225600009,"user":"u14","amount":"12","n":1}"#,
        r#"{"ts":1767225600010,"user":"u15","amount":1.0,"n":1.5}"#,
        r#"{"ts":1767225600011,"user":null,"amount":1.0,"n":1}"#,
        r#"{"ts":"yesterday","user":"u16","amount":1.0,"n":1}"#,
        r#"{"user":"u17","amount":1.0,"n":1}"#,
        r#"{"ts":1767225600012,"user":"u18","amount":1.0,"n":18446744073709551615}"#,
        r#"["not", "an", "object"]"#,
        r#"{"ts":1767225600013,"user":"u19""#,
        r#"{"ts":1767225600014,"user":"u20","amount":5,"amount":50000,"n":1}"#,
        r#"{"ts":1767225600015,"user":"u21","amount":5,"n":1,"extra":{"a":[{"b":1,"b":2}]}}"#,
    ];
    let mut text = (lines.join("\n") + "\n").into_bytes();
    text.extend_from_slice(
        b"{\"ts\":1767225600016,\"user\":\"u22\",\"amount\":5,\"n\":1,\"x\":\"\xff\"}\n",
    );
    let text = &text;
    let one_pass = StreamDecoder::new(&scalar_payments())
        .unwrap()
        .decode(&chunk_of_bytes(text, 1 << 20))
        .unwrap();
    let arrow_json = StreamDecoder::new(&payments())
        .unwrap()
        .decode(&chunk_of_bytes(text, 1 << 20))
        .unwrap();
    assert_eq!(one_pass.batch.num_rows(), 14);
    assert_eq!(one_pass.chunk_lines, arrow_json.chunk_lines);
    for field in scalar_payments().fields {
        let name = field.name.as_str();
        assert_eq!(
            one_pass.batch.column_by_name(name).unwrap().to_data(),
            arrow_json.batch.column_by_name(name).unwrap().to_data(),
            "column {name}"
        );
    }
    let reasons = |d: &engine::decode::Decoded| -> Vec<(i64, RejectReason, String)> {
        d.rejects
            .iter()
            .map(|r| (r.line, r.reason, r.detail.clone()))
            .collect()
    };
    assert_eq!(reasons(&one_pass), reasons(&arrow_json));
    assert_eq!(one_pass.rejects.len(), 11);
    let last: Vec<RejectReason> = one_pass.rejects[8..].iter().map(|r| r.reason).collect();
    assert_eq!(
        last,
        vec![
            RejectReason::DuplicateField,
            RejectReason::DuplicateField,
            RejectReason::MalformedJson
        ]
    );
}
