//! The sending direction of HPACK: one connection's encoder, which chooses for each field how to
//! send it and keeps our dynamic table as the peer's decoder will hold it.
//!
//! The choices are gRPC's (design note §4, after pajamax): what every call repeats goes into
//! the dynamic table once and is a one-byte index after that; what changes per call is sent
//! without indexing, so it neither churns the table nor evicts the repeated headers; secrets are
//! sent never-indexed. A literal is Huffman-coded only when that is shorter.

use bytes::{BufMut, Bytes, BytesMut};

use super::table::{field_size, find_static, DynamicTable, StaticMatch, STATIC_LEN};
use super::{huffman, integer, DEFAULT_TABLE_SIZE};

/// The largest dynamic table the encoder uses, whatever the peer allows: gRPC's repeated
/// headers take a few hundred bytes, and every entry is memory kept per connection.
const MAX_TABLE_SIZE: usize = DEFAULT_TABLE_SIZE;

/// The longest `:path` worth a table entry: longer ones are unusual and would crowd out the
/// headers every call shares.
const MAX_INDEXED_PATH: usize = 256;

/// One field to encode, borrowed from wherever the caller keeps its headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EncodeField<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) value: &'a [u8],
    /// Send as never indexed whatever the name (`http::HeaderValue::is_sensitive`); the
    /// encoder does so anyway for the credentials headers.
    pub(crate) sensitive: bool,
}

impl<'a> EncodeField<'a> {
    pub(crate) fn new(name: &'a [u8], value: &'a [u8]) -> EncodeField<'a> {
        EncodeField {
            name,
            value,
            sensitive: false,
        }
    }
}

/// How a field is sent when no table holds it whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Indexing {
    /// Literal with incremental indexing: it will repeat, so later calls send an index.
    Incremental,
    /// Literal without indexing: it differs per call, so a table entry would only evict others.
    Without,
    /// Literal never indexed: a secret, which no intermediary may put in a table either and
    /// whose table entry could be probed by a compression-ratio attack (RFC 7541 §7.1).
    Never,
}

/// gRPC's choice for a field by its name and value.
fn indexing_for(name: &[u8], value: &[u8]) -> Indexing {
    match name {
        b"authorization" | b"proxy-authorization" | b"cookie" | b"set-cookie" => Indexing::Never,
        // Sent on every call or every response with one of a few values.
        b":method"
        | b":scheme"
        | b":authority"
        | b":status"
        | b"content-type"
        | b"te"
        | b"grpc-status"
        | b"grpc-encoding"
        | b"grpc-accept-encoding"
        | b"accept-encoding"
        | b"user-agent" => Indexing::Incremental,
        // One entry per method the connection calls.
        b":path" if value.len() <= MAX_INDEXED_PATH => Indexing::Incremental,
        // grpc-timeout, grpc-message, `-bin` metadata and anything unknown: per call.
        _ => Indexing::Without,
    }
}

/// The sending half of one connection's HPACK state.
#[derive(Debug)]
pub(crate) struct Encoder {
    table: DynamicTable,
    /// The smallest table size since the last block, when it changed: the next block starts by
    /// signalling it (and then the current size, if larger), as RFC 7541 §4.2 requires.
    pending_size_update: Option<usize>,
    /// Index every field the RFC's way instead of gRPC's, to reproduce Appendix C.
    #[cfg(test)]
    index_everything: bool,
    /// Whether literals are Huffman-coded never (to reproduce C.3 and C.5), always (C.4 and
    /// C.6), or, when `None`, only when shorter.
    #[cfg(test)]
    huffman: Option<bool>,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder as HTTP/2 starts one: the peer's SETTINGS_HEADER_TABLE_SIZE at its initial
    /// [`DEFAULT_TABLE_SIZE`] until its SETTINGS say otherwise.
    pub(crate) fn new() -> Encoder {
        Encoder {
            table: DynamicTable::new(MAX_TABLE_SIZE),
            pending_size_update: None,
            #[cfg(test)]
            index_everything: false,
            #[cfg(test)]
            huffman: None,
        }
    }

    /// An encoder that starts with a `size`-octet table and makes the RFC examples' choices.
    #[cfg(test)]
    pub(crate) fn rfc_examples(size: usize, huffman: bool) -> Encoder {
        Encoder {
            table: DynamicTable::new(size),
            index_everything: true,
            huffman: Some(huffman),
            ..Encoder::new()
        }
    }

    /// Applies the peer's SETTINGS_HEADER_TABLE_SIZE, as soon as its SETTINGS frame arrives.
    /// The table used is that or [`MAX_TABLE_SIZE`], whichever is smaller; a change is
    /// signalled at the start of the next block.
    pub(crate) fn set_max_table_size(&mut self, peer_limit: usize) {
        let size = peer_limit.min(MAX_TABLE_SIZE);
        if size == self.table.max_size() {
            return;
        }
        // The table shrinks (evicts) now, as the peer's will when it reads the update; only
        // the smallest size in between and the last one need signalling.
        self.table.set_max_size(size);
        self.pending_size_update = Some(self.pending_size_update.map_or(size, |min| min.min(size)));
    }

    /// Our dynamic table as the peer's decoder holds it.
    pub(crate) fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Encodes one header block (the headers of one HEADERS frame and its CONTINUATIONs),
    /// appending it to `dst`.
    pub(crate) fn encode<'a>(
        &mut self,
        headers: impl IntoIterator<Item = EncodeField<'a>>,
        dst: &mut BytesMut,
    ) {
        if let Some(smallest) = self.pending_size_update.take() {
            let size = self.table.max_size();
            if smallest < size {
                integer::encode(smallest, 5, 0x20, dst);
            }
            integer::encode(size, 5, 0x20, dst);
        }
        for field in headers {
            self.encode_field(field, dst);
        }
    }

    fn encode_field(&mut self, field: EncodeField<'_>, dst: &mut BytesMut) {
        let EncodeField { name, value, .. } = field;
        let indexing = self.indexing(field);
        let in_static = find_static(name, value);
        // One pass over the dynamic table finds a whole match or the first name match.
        let mut dynamic_field = None;
        let mut dynamic_name = None;
        for (position, entry) in self.table.iter().enumerate() {
            if entry.name == name {
                if entry.value == value {
                    dynamic_field = Some(position);
                    break;
                }
                dynamic_name.get_or_insert(position);
            }
        }
        if indexing != Indexing::Never {
            // An index says nothing the peer does not already hold, so it is used whatever
            // the field's policy; a secret is still sent as a literal, flagged never-indexed.
            let index = match (in_static, dynamic_field) {
                (Some(StaticMatch::Field(index)), _) => Some(index),
                (_, Some(position)) => Some(STATIC_LEN + 1 + position),
                _ => None,
            };
            if let Some(index) = index {
                integer::encode(index, 7, 0x80, dst);
                return;
            }
        }
        let name_index = match in_static {
            Some(StaticMatch::Field(index) | StaticMatch::Name(index)) => Some(index),
            None => dynamic_name.map(|position| STATIC_LEN + 1 + position),
        };
        let indexing = match indexing {
            // An entry larger than the table would only empty it.
            Indexing::Incremental if !self.table.fits(field_size(name, value)) => Indexing::Without,
            other => other,
        };
        let (prefix_bits, flags) = match indexing {
            Indexing::Incremental => (6, 0x40),
            Indexing::Without => (4, 0x00),
            Indexing::Never => (4, 0x10),
        };
        match name_index {
            Some(index) => integer::encode(index, prefix_bits, flags, dst),
            None => {
                integer::encode(0, prefix_bits, flags, dst);
                self.encode_string(name, dst);
            }
        }
        self.encode_string(value, dst);
        if indexing == Indexing::Incremental {
            // The only allocation the encoder makes, once per repeated header per connection.
            self.table
                .insert(Bytes::copy_from_slice(name), Bytes::copy_from_slice(value));
        }
    }

    fn indexing(&self, field: EncodeField<'_>) -> Indexing {
        if field.sensitive {
            return Indexing::Never;
        }
        let indexing = indexing_for(field.name, field.value);
        #[cfg(test)]
        if self.index_everything {
            return Indexing::Incremental;
        }
        indexing
    }

    /// Writes a string literal, Huffman-coded when that is shorter.
    fn encode_string(&self, value: &[u8], dst: &mut BytesMut) {
        let huffman_len = huffman::encoded_len(value);
        let use_huffman = huffman_len < value.len();
        #[cfg(test)]
        let use_huffman = self.huffman.unwrap_or(use_huffman);
        if use_huffman {
            integer::encode(huffman_len, 7, 0x80, dst);
            dst.reserve(huffman_len);
            huffman::encode(value, dst);
        } else {
            integer::encode(value.len(), 7, 0x00, dst);
            dst.put_slice(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::http2::hpack::decoder::tests::{
        hex, Step, C3_REQUESTS, C4_REQUESTS, C5_RESPONSES, C6_RESPONSES,
    };
    use crate::transport::http2::hpack::decoder::Decoder;

    fn fields<'a>(list: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = EncodeField<'a>> {
        list.iter()
            .map(|&(name, value)| EncodeField::new(name.as_bytes(), value.as_bytes()))
    }

    /// Encodes each step's headers and checks the bytes are the RFC's, and the table too.
    fn check_series(mut encoder: Encoder, steps: &[Step]) {
        for (i, step) in steps.iter().enumerate() {
            let mut block = BytesMut::new();
            encoder.encode(fields(step.headers), &mut block);
            assert_eq!(block[..], hex(step.block)[..], "block {i}");
            assert_eq!(
                encoder.table().size(),
                step.size,
                "table size after block {i}"
            );
            let names: Vec<_> = encoder.table().iter().map(|e| e.name.clone()).collect();
            let expected: Vec<_> = step.table.iter().map(|(n, _)| n.as_bytes()).collect();
            assert_eq!(names, expected, "table after block {i}");
        }
    }

    fn encode_one(encoder: &mut Encoder, field: EncodeField<'_>) -> Vec<u8> {
        let mut block = BytesMut::new();
        encoder.encode([field], &mut block);
        block.to_vec()
    }

    /// C.2.1: literal with indexing, new name.
    #[test]
    fn c_2_1_literal_with_indexing() {
        let mut encoder = Encoder::rfc_examples(4096, false);
        let field = EncodeField::new(b"custom-key", b"custom-header");
        let expected = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        assert_eq!(encode_one(&mut encoder, field), expected);
        assert_eq!(encoder.table().size(), 55);
    }

    /// C.2.2: the RFC sends `:path` without indexing; gRPC's choice indexes it (one entry per
    /// method), so the bytes differ by the representation's pattern only.
    #[test]
    fn c_2_2_path_is_indexed_where_the_rfc_does_not() {
        let mut encoder = Encoder::new();
        encoder.huffman = Some(false);
        let block = encode_one(&mut encoder, EncodeField::new(b":path", b"/sample/path"));
        let rfc = hex("040c 2f73 616d 706c 652f 7061 7468");
        assert_eq!(block[0], 0x44);
        assert_eq!(block[1..], rfc[1..]);
        // Per-call values are what gRPC sends without indexing, exactly as C.2.2 does.
        let block = encode_one(&mut encoder, EncodeField::new(b"grpc-timeout", b"1S"));
        assert_eq!(
            block,
            [&[0x00, 0x0c][..], b"grpc-timeout", &[0x02], b"1S"].concat()
        );
    }

    /// C.2.3: literal never indexed, for a field the caller marks sensitive.
    #[test]
    fn c_2_3_literal_never_indexed() {
        let mut encoder = Encoder::new();
        encoder.huffman = Some(false);
        let field = EncodeField {
            sensitive: true,
            ..EncodeField::new(b"password", b"secret")
        };
        let expected = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
        assert_eq!(encode_one(&mut encoder, field), expected);
        assert_eq!(encoder.table().len(), 0);
    }

    /// C.2.4: indexed field from the static table.
    #[test]
    fn c_2_4_indexed_field() {
        let block = encode_one(&mut Encoder::new(), EncodeField::new(b":method", b"GET"));
        assert_eq!(block, [0x82]);
    }

    #[test]
    fn c_3_requests_without_huffman_byte_for_byte() {
        check_series(Encoder::rfc_examples(4096, false), C3_REQUESTS);
    }

    #[test]
    fn c_4_requests_with_huffman_byte_for_byte() {
        check_series(Encoder::rfc_examples(4096, true), C4_REQUESTS);
    }

    #[test]
    fn c_5_responses_without_huffman_byte_for_byte() {
        check_series(Encoder::rfc_examples(256, false), C5_RESPONSES);
    }

    #[test]
    fn c_6_responses_with_huffman_byte_for_byte() {
        check_series(Encoder::rfc_examples(256, true), C6_RESPONSES);
    }

    /// gRPC's own choices differ from the RFC's: decode what they make and compare.
    #[test]
    fn appendix_c_lists_round_trip_with_grpc_choices() {
        for (size, steps) in [(4096, C4_REQUESTS), (256, C6_RESPONSES)] {
            let mut encoder = Encoder::rfc_examples(size, true);
            encoder.index_everything = false;
            encoder.huffman = None;
            let mut decoder = Decoder::with_table_size(size);
            for step in steps {
                let mut block = BytesMut::new();
                encoder.encode(fields(step.headers), &mut block);
                let mut decoded = Vec::new();
                decoder
                    .decode(&block, usize::MAX, |f| decoded.push(f))
                    .unwrap();
                let decoded: Vec<_> = decoded.iter().map(|f| (f.name(), f.value())).collect();
                let expected: Vec<_> = step
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                    .collect();
                assert_eq!(decoded, expected);
                assert_eq!(encoder.table().size(), decoder.table().size());
            }
        }
    }

    const REQUEST: &[(&str, &str)] = &[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/helloworld.Greeter/SayHello"),
        (":authority", "localhost:50051"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("grpc-accept-encoding", "identity,deflate,gzip"),
        ("user-agent", "tern/0.1.0"),
        ("grpc-timeout", "1000m"),
    ];

    #[test]
    fn a_repeated_grpc_request_is_indices_after_the_first() {
        let mut encoder = Encoder::new();
        let mut first = BytesMut::new();
        encoder.encode(fields(REQUEST), &mut first);
        let mut second = BytesMut::new();
        encoder.encode(fields(REQUEST), &mut second);
        // :method POST and :scheme http are static; the next six are dynamic indices; the
        // timeout is a literal without indexing, its name a literal too.
        assert_eq!(second[0], 0x80 | 3);
        assert_eq!(second[1], 0x80 | 6);
        assert!(second[2..8].iter().all(|&b| b & 0x80 != 0 && b > 0x80 | 61));
        assert_eq!(second[8], 0x00);
        // Eight index bytes, then the timeout: 1 + (1 + 9) name + (1 + 4) value.
        assert_eq!(second.len(), 24, "{second:02x?}");
        assert!(first.len() > 80);
        // A different per-call value changes nothing in the table.
        let before = encoder.table().len();
        let mut third = BytesMut::new();
        let with_other_timeout = fields(REQUEST).map(|f| match f.name {
            b"grpc-timeout" => EncodeField::new(f.name, b"250m"),
            _ => f,
        });
        encoder.encode(with_other_timeout, &mut third);
        assert_eq!(encoder.table().len(), before);
        let mut decoder = Decoder::new();
        for block in [&first, &second, &third] {
            let mut count = 0;
            decoder.decode(block, usize::MAX, |_| count += 1).unwrap();
            assert_eq!(count, REQUEST.len());
        }
    }

    #[test]
    fn grpc_responses_index_status_and_content_type() {
        let headers: &[(&str, &str)] = &[(":status", "200"), ("content-type", "application/grpc")];
        let trailers: &[(&str, &str)] = &[("grpc-status", "0")];
        let mut encoder = Encoder::new();
        let mut block = BytesMut::new();
        encoder.encode(fields(headers), &mut block);
        encoder.encode(fields(trailers), &mut block);
        let mut again = BytesMut::new();
        encoder.encode(fields(headers), &mut again);
        encoder.encode(fields(trailers), &mut again);
        // :status 200 is static 8; content-type and grpc-status are dynamic entries.
        assert_eq!(again[..], [0x88, 0xbf, 0xbe]);
    }

    #[test]
    fn secrets_are_never_indexed_and_messages_never_enter_the_table() {
        let mut encoder = Encoder::new();
        let mut block = BytesMut::new();
        let list = [
            EncodeField::new(b"authorization", b"Bearer abc"),
            EncodeField::new(b"cookie", b"a=b"),
            EncodeField::new(b"proxy-authorization", b"Basic xyz"),
            EncodeField {
                sensitive: true,
                ..EncodeField::new(b"x-api-key", b"k")
            },
            EncodeField::new(b"grpc-message", b"not found"),
            EncodeField::new(b"trace-bin", b"\x00\x01\x02"),
        ];
        encoder.encode(list, &mut block);
        encoder.encode(list, &mut block);
        assert_eq!(encoder.table().len(), 0);
        let mut decoder = Decoder::new();
        let mut decoded = Vec::new();
        decoder
            .decode(&block, usize::MAX, |f| decoded.push(f))
            .unwrap();
        let sensitive: Vec<bool> = decoded.iter().map(|f| f.is_sensitive()).collect();
        let once = [true, true, true, true, false, false];
        assert_eq!(sensitive, [once, once].concat());
        // authorization: never indexed, static name 23 in a 4-bit prefix (15 + 8).
        assert_eq!(block[..2], [0x1f, 0x08]);
    }

    #[test]
    fn table_size_changes_are_signalled_at_the_next_block() {
        let mut encoder = Encoder::new();
        let mut block = BytesMut::new();
        encoder.encode(fields(REQUEST), &mut block);
        assert!(encoder.table().len() > 0);
        // The peer allows more: the encoder stays at 4 KiB and says nothing.
        encoder.set_max_table_size(1 << 16);
        let mut next = BytesMut::new();
        encoder.encode([EncodeField::new(b":method", b"POST")], &mut next);
        assert_eq!(next[..], [0x83]);
        // Down to 0 and back up to 100 before the next block: both are signalled.
        encoder.set_max_table_size(0);
        encoder.set_max_table_size(100);
        assert_eq!(encoder.table().len(), 0);
        let mut next = BytesMut::new();
        encoder.encode([], &mut next);
        assert_eq!(next[..], [0x20, 0x3f, 0x45]);
        // Only once.
        let mut next = BytesMut::new();
        encoder.encode([], &mut next);
        assert!(next.is_empty());
        // A lone decrease is one update.
        encoder.set_max_table_size(50);
        let mut next = BytesMut::new();
        encoder.encode([], &mut next);
        assert_eq!(next[..], [0x3f, 0x13]);
    }

    #[test]
    fn literals_are_huffman_coded_only_when_shorter() {
        let mut encoder = Encoder::new();
        let mut block = BytesMut::new();
        encoder.encode([EncodeField::new(b"x-bin", b"\xff\xfe\xfd")], &mut block);
        // Without indexing, literal name "x-bin" (Huffman, 4 bytes), then the value raw.
        assert_eq!(block[0], 0x00);
        assert_eq!(block[1], 0x80 | 4);
        assert_eq!(block[6..], [0x03, 0xff, 0xfe, 0xfd]);
    }
}
