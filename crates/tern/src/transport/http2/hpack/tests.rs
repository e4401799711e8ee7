//! Randomized tests of the encoder and decoder together: round trips over random header lists
//! and table size changes, and malformed input that must give an error, never a panic.
//!
//! The generator is a hand-rolled xorshift so that a failure prints a seed that reproduces it,
//! with no dependency.

use bytes::BytesMut;

use super::decoder::{Decoder, HeaderField};
use super::encoder::{EncodeField, Encoder};
use super::HpackError;

/// xorshift64* (Vigna): small, fast, and good enough to pick test inputs.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Zero is xorshift's one fixed point.
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, len: usize, alphabet: Option<&[u8]>) -> Vec<u8> {
        (0..len)
            .map(|_| match alphabet {
                Some(alphabet) => *self.pick(alphabet),
                None => self.next() as u8,
            })
            .collect()
    }
}

/// Names a gRPC connection sees, static-table names, and the secrets.
const NAMES: &[&str] = &[
    ":method",
    ":scheme",
    ":path",
    ":authority",
    ":status",
    "content-type",
    "te",
    "grpc-status",
    "grpc-message",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
    "user-agent",
    "accept-encoding",
    "authorization",
    "cookie",
    "proxy-authorization",
    "set-cookie",
    "cache-control",
    "date",
    "trace-bin",
    "x-request-id",
];

const VALUES: &[&str] = &[
    "",
    "POST",
    "GET",
    "http",
    "https",
    "200",
    "404",
    "/",
    "/helloworld.Greeter/SayHello",
    "/grpc.testing.TestService/UnaryCall",
    "application/grpc",
    "application/grpc+proto",
    "trailers",
    "0",
    "14",
    "identity,deflate,gzip",
    "gzip",
    "tern/0.1.0",
    "localhost:50051",
    "gzip, deflate",
];

const NAME_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_";

/// One random field: mostly the names and values gRPC repeats, sometimes random ones, binary
/// values and long values.
fn random_field(rng: &mut Rng) -> (Vec<u8>, Vec<u8>, bool) {
    let name = if rng.chance(4) {
        let len = 1 + rng.below(20);
        rng.bytes(len, Some(NAME_ALPHABET))
    } else {
        rng.pick(NAMES).as_bytes().to_vec()
    };
    let value = match rng.below(6) {
        0 => {
            let len = rng.below(40);
            rng.bytes(len, None)
        }
        1 => {
            let max = if rng.chance(20) { 3000 } else { 60 };
            let len = rng.below(max);
            rng.bytes(
                len,
                Some(b"abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789/=;,.-"),
            )
        }
        _ => rng.pick(VALUES).as_bytes().to_vec(),
    };
    let sensitive = rng.chance(25);
    (name, value, sensitive)
}

fn decode_block(
    decoder: &mut Decoder,
    block: &[u8],
    limit: usize,
) -> Result<Vec<HeaderField>, HpackError> {
    let mut fields = Vec::new();
    decoder
        .decode(block, limit, |field| fields.push(field))
        .map(|()| fields)
}

/// Whether the encoder sends this field never-indexed.
fn sent_sensitive(name: &[u8], sensitive: bool) -> bool {
    sensitive
        || matches!(
            name,
            b"authorization" | b"proxy-authorization" | b"cookie" | b"set-cookie"
        )
}

fn round_trip_many_blocks(seed: u64, blocks: usize) {
    let mut rng = Rng::new(seed);
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new();
    let mut dst = BytesMut::new();
    for block_number in 0..blocks {
        let context = format!("seed {seed}, block {block_number}");
        if rng.chance(12) {
            // New SETTINGS_HEADER_TABLE_SIZE from the decoder's side: the encoder applies it
            // when the SETTINGS arrive, the decoder when they are acknowledged; in one
            // in-memory pair both happen before the next block.
            let limit = *rng.pick(&[0usize, 1, 32, 64, 100, 256, 1000, 4096, 8192, 65536]);
            encoder.set_max_table_size(limit);
            decoder.set_max_table_size(limit);
        }
        let count = rng.below(16);
        let list: Vec<_> = (0..count).map(|_| random_field(&mut rng)).collect();
        let fields = list.iter().map(|(name, value, sensitive)| EncodeField {
            name,
            value,
            sensitive: *sensitive,
        });
        dst.clear();
        encoder.encode(fields, &mut dst);
        let decoded = decode_block(&mut decoder, &dst, usize::MAX)
            .unwrap_or_else(|e| panic!("{context}: {e} decoding {:02x?}", &dst[..]));
        assert_eq!(decoded.len(), list.len(), "{context}");
        for (field, (name, value, sensitive)) in decoded.iter().zip(&list) {
            assert_eq!(field.name(), &name[..], "{context}");
            assert_eq!(field.value(), &value[..], "{context}");
            assert_eq!(
                field.is_sensitive(),
                sent_sensitive(name, *sensitive),
                "{context}"
            );
        }
        let (sent, received) = (encoder.table(), decoder.table());
        assert_eq!(sent.size(), received.size(), "{context}");
        assert_eq!(sent.max_size(), received.max_size(), "{context}");
        assert!(sent.size() <= sent.max_size(), "{context}");
        assert!(sent.iter().eq(received.iter()), "{context}");
    }
}

#[test]
fn random_header_lists_round_trip_over_many_blocks() {
    for seed in 1..=20 {
        round_trip_many_blocks(seed, 500);
    }
}

#[test]
fn the_grpc_headers_end_up_indexed() {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new();
    let request = [
        EncodeField::new(b":method", b"POST"),
        EncodeField::new(b":scheme", b"https"),
        EncodeField::new(b":path", b"/grpc.testing.TestService/UnaryCall"),
        EncodeField::new(b":authority", b"example.com"),
        EncodeField::new(b"content-type", b"application/grpc"),
        EncodeField::new(b"te", b"trailers"),
        EncodeField::new(b"user-agent", b"grpc-go/1.70.0"),
    ];
    let mut sizes = Vec::new();
    for _ in 0..100 {
        let mut dst = BytesMut::new();
        encoder.encode(request, &mut dst);
        sizes.push(dst.len());
        let fields = decode_block(&mut decoder, &dst, usize::MAX).unwrap();
        assert_eq!(fields.len(), request.len());
    }
    // One byte per field from the second call on, and the table never grows past the first.
    assert!(sizes[1..].iter().all(|&size| size == request.len()));
    assert_eq!(decoder.table().len(), 5);
}

/// How many random cases to run: `default` in the test command, or `TERN_HPACK_CASES` for a
/// long run on demand (the issue asks for 10^7:
/// `TERN_HPACK_CASES=10000000 cargo test --release -p tern --lib hpack::tests -- --ignored`).
fn cases(default: usize) -> usize {
    std::env::var("TERN_HPACK_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

/// Random bytes: whatever the result, no panic, and the table stays within its bounds.
#[test]
fn random_bytes_never_panic_the_decoder() {
    random_bytes_into_one_decoder(7, 100_000);
}

/// The same, as long as `TERN_HPACK_CASES` says.
#[test]
#[ignore = "long run on demand: set TERN_HPACK_CASES"]
fn random_bytes_long_run() {
    random_bytes_into_one_decoder(8, cases(10_000_000));
}

fn random_bytes_into_one_decoder(seed: u64, cases: usize) {
    let mut rng = Rng::new(seed);
    let mut decoder = Decoder::new();
    for _ in 0..cases {
        let len = rng.below(48);
        let mut block = rng.bytes(len, None);
        // Bias half the cases towards plausible representations: small indices and lengths.
        if rng.chance(2) {
            for byte in block.iter_mut().step_by(3) {
                *byte &= 0x8f;
            }
        }
        let limit = if rng.chance(4) { 64 } else { 16 * 1024 };
        if decode_block(&mut decoder, &block, limit).is_err() {
            decoder = Decoder::new();
        }
        assert!(decoder.table().size() <= decoder.table().max_size());
    }
}

/// Valid blocks with bytes changed, inserted or cut: the decoder must never panic.
#[test]
fn mutated_blocks_never_panic_the_decoder() {
    let mut rng = Rng::new(11);
    let mut encoder = Encoder::new();
    for case in 0..20_000 {
        let count = 1 + rng.below(8);
        let list: Vec<_> = (0..count).map(|_| random_field(&mut rng)).collect();
        let mut block = BytesMut::new();
        encoder.encode(
            list.iter().map(|(n, v, s)| EncodeField {
                name: n,
                value: v,
                sensitive: *s,
            }),
            &mut block,
        );
        let mut block = block.to_vec();
        match rng.below(3) {
            0 if !block.is_empty() => {
                let at = rng.below(block.len());
                block[at] ^= 1 << rng.below(8);
            }
            1 => {
                let at = rng.below(block.len() + 1);
                block.insert(at, rng.next() as u8);
            }
            _ => {
                let len = rng.below(block.len() + 1);
                block.truncate(len);
            }
        }
        // A fresh decoder: the encoder's table is not the one the mutated block was made for,
        // which is one more kind of wrong input.
        let mut decoder = Decoder::new();
        let _ = decode_block(&mut decoder, &block, 4096);
        if case % 1000 == 0 {
            encoder = Encoder::new();
        }
    }
}

/// Every prefix of a valid block either ends at a field boundary or inside a field, and the
/// decoder says which: never another error.
#[test]
fn every_truncation_is_ok_or_truncated() {
    let mut rng = Rng::new(3);
    for _ in 0..200 {
        let count = 1 + rng.below(10);
        let list: Vec<_> = (0..count).map(|_| random_field(&mut rng)).collect();
        let mut block = BytesMut::new();
        Encoder::new().encode(
            list.iter().map(|(n, v, s)| EncodeField {
                name: n,
                value: v,
                sensitive: *s,
            }),
            &mut block,
        );
        for len in 0..block.len() {
            let result = decode_block(&mut Decoder::new(), &block[..len], usize::MAX);
            assert!(
                matches!(result, Ok(_) | Err(HpackError::Truncated)),
                "prefix of {len}: {result:?}"
            );
        }
    }
}

/// A block that decodes to far more than the limit: refused with the list error, no more
/// than the limit handed out, and the tables still agree afterwards.
#[test]
fn oversized_lists_are_refused_and_the_tables_stay_in_step() {
    let mut rng = Rng::new(5);
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new();
    let limit = 1024;
    for _ in 0..300 {
        let count = rng.below(40);
        let list: Vec<_> = (0..count).map(|_| random_field(&mut rng)).collect();
        let total: usize = list.iter().map(|(n, v, _)| n.len() + v.len() + 32).sum();
        let mut block = BytesMut::new();
        encoder.encode(
            list.iter().map(|(n, v, s)| EncodeField {
                name: n,
                value: v,
                sensitive: *s,
            }),
            &mut block,
        );
        let mut handed_out = 0;
        let result = decoder.decode(&block, limit, |field| handed_out += field.size());
        if total > limit {
            assert_eq!(result, Err(HpackError::HeaderListTooLarge { limit }));
        } else {
            assert_eq!(result, Ok(()));
        }
        assert!(handed_out <= limit);
        assert_eq!(encoder.table().size(), decoder.table().size());
        assert!(encoder.table().iter().eq(decoder.table().iter()));
    }
}
