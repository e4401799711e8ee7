//! HPACK's Huffman code (RFC 7541 §5.2 and Appendix B), both ways.
//!
//! Decoding walks a 4-bit-at-a-time state machine: the states are the inner nodes of the code's
//! tree (256 of them), and each (state, nibble) step says where the walk goes and which symbol,
//! if any, it completed. No code is shorter than 5 bits, so a nibble completes at most one
//! symbol. The table (12 KiB) is built from [`CODES`] once per process. Encoding packs codes into
//! a 64-bit accumulator and pads the last byte with ones, as the RFC requires.

use std::sync::OnceLock;

use bytes::{BufMut, BytesMut};

use super::HpackError;

/// The EOS symbol's number in [`CODES`]: never sent; its prefix is the padding.
const EOS: usize = 256;

/// RFC 7541 Appendix B: for each symbol (the byte value, then EOS as 256), its code in the low
/// bits and the code's length in bits.
#[rustfmt::skip]
const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13), // 0
    (0x7fffd8, 23), // 1
    (0xfffffe2, 28), // 2
    (0xfffffe3, 28), // 3
    (0xfffffe4, 28), // 4
    (0xfffffe5, 28), // 5
    (0xfffffe6, 28), // 6
    (0xfffffe7, 28), // 7
    (0xfffffe8, 28), // 8
    (0xffffea, 24), // 9
    (0x3ffffffc, 30), // 10
    (0xfffffe9, 28), // 11
    (0xfffffea, 28), // 12
    (0x3ffffffd, 30), // 13
    (0xfffffeb, 28), // 14
    (0xfffffec, 28), // 15
    (0xfffffed, 28), // 16
    (0xfffffee, 28), // 17
    (0xfffffef, 28), // 18
    (0xffffff0, 28), // 19
    (0xffffff1, 28), // 20
    (0xffffff2, 28), // 21
    (0x3ffffffe, 30), // 22
    (0xffffff3, 28), // 23
    (0xffffff4, 28), // 24
    (0xffffff5, 28), // 25
    (0xffffff6, 28), // 26
    (0xffffff7, 28), // 27
    (0xffffff8, 28), // 28
    (0xffffff9, 28), // 29
    (0xffffffa, 28), // 30
    (0xffffffb, 28), // 31
    (0x14, 6), // 32 ' '
    (0x3f8, 10), // 33 '!'
    (0x3f9, 10), // 34 '"'
    (0xffa, 12), // 35 '#'
    (0x1ff9, 13), // 36 '$'
    (0x15, 6), // 37 '%'
    (0xf8, 8), // 38 '&'
    (0x7fa, 11), // 39 "'"
    (0x3fa, 10), // 40 '('
    (0x3fb, 10), // 41 ')'
    (0xf9, 8), // 42 '*'
    (0x7fb, 11), // 43 '+'
    (0xfa, 8), // 44 ','
    (0x16, 6), // 45 '-'
    (0x17, 6), // 46 '.'
    (0x18, 6), // 47 '/'
    (0x0, 5), // 48 '0'
    (0x1, 5), // 49 '1'
    (0x2, 5), // 50 '2'
    (0x19, 6), // 51 '3'
    (0x1a, 6), // 52 '4'
    (0x1b, 6), // 53 '5'
    (0x1c, 6), // 54 '6'
    (0x1d, 6), // 55 '7'
    (0x1e, 6), // 56 '8'
    (0x1f, 6), // 57 '9'
    (0x5c, 7), // 58 ':'
    (0xfb, 8), // 59 ';'
    (0x7ffc, 15), // 60 '<'
    (0x20, 6), // 61 '='
    (0xffb, 12), // 62 '>'
    (0x3fc, 10), // 63 '?'
    (0x1ffa, 13), // 64 '@'
    (0x21, 6), // 65 'A'
    (0x5d, 7), // 66 'B'
    (0x5e, 7), // 67 'C'
    (0x5f, 7), // 68 'D'
    (0x60, 7), // 69 'E'
    (0x61, 7), // 70 'F'
    (0x62, 7), // 71 'G'
    (0x63, 7), // 72 'H'
    (0x64, 7), // 73 'I'
    (0x65, 7), // 74 'J'
    (0x66, 7), // 75 'K'
    (0x67, 7), // 76 'L'
    (0x68, 7), // 77 'M'
    (0x69, 7), // 78 'N'
    (0x6a, 7), // 79 'O'
    (0x6b, 7), // 80 'P'
    (0x6c, 7), // 81 'Q'
    (0x6d, 7), // 82 'R'
    (0x6e, 7), // 83 'S'
    (0x6f, 7), // 84 'T'
    (0x70, 7), // 85 'U'
    (0x71, 7), // 86 'V'
    (0x72, 7), // 87 'W'
    (0xfc, 8), // 88 'X'
    (0x73, 7), // 89 'Y'
    (0xfd, 8), // 90 'Z'
    (0x1ffb, 13), // 91 '['
    (0x7fff0, 19), // 92 '\\'
    (0x1ffc, 13), // 93 ']'
    (0x3ffc, 14), // 94 '^'
    (0x22, 6), // 95 '_'
    (0x7ffd, 15), // 96 '`'
    (0x3, 5), // 97 'a'
    (0x23, 6), // 98 'b'
    (0x4, 5), // 99 'c'
    (0x24, 6), // 100 'd'
    (0x5, 5), // 101 'e'
    (0x25, 6), // 102 'f'
    (0x26, 6), // 103 'g'
    (0x27, 6), // 104 'h'
    (0x6, 5), // 105 'i'
    (0x74, 7), // 106 'j'
    (0x75, 7), // 107 'k'
    (0x28, 6), // 108 'l'
    (0x29, 6), // 109 'm'
    (0x2a, 6), // 110 'n'
    (0x7, 5), // 111 'o'
    (0x2b, 6), // 112 'p'
    (0x76, 7), // 113 'q'
    (0x2c, 6), // 114 'r'
    (0x8, 5), // 115 's'
    (0x9, 5), // 116 't'
    (0x2d, 6), // 117 'u'
    (0x77, 7), // 118 'v'
    (0x78, 7), // 119 'w'
    (0x79, 7), // 120 'x'
    (0x7a, 7), // 121 'y'
    (0x7b, 7), // 122 'z'
    (0x7ffe, 15), // 123 '{'
    (0x7fc, 11), // 124 '|'
    (0x3ffd, 14), // 125 '}'
    (0x1ffd, 13), // 126 '~'
    (0xffffffc, 28), // 127
    (0xfffe6, 20), // 128
    (0x3fffd2, 22), // 129
    (0xfffe7, 20), // 130
    (0xfffe8, 20), // 131
    (0x3fffd3, 22), // 132
    (0x3fffd4, 22), // 133
    (0x3fffd5, 22), // 134
    (0x7fffd9, 23), // 135
    (0x3fffd6, 22), // 136
    (0x7fffda, 23), // 137
    (0x7fffdb, 23), // 138
    (0x7fffdc, 23), // 139
    (0x7fffdd, 23), // 140
    (0x7fffde, 23), // 141
    (0xffffeb, 24), // 142
    (0x7fffdf, 23), // 143
    (0xffffec, 24), // 144
    (0xffffed, 24), // 145
    (0x3fffd7, 22), // 146
    (0x7fffe0, 23), // 147
    (0xffffee, 24), // 148
    (0x7fffe1, 23), // 149
    (0x7fffe2, 23), // 150
    (0x7fffe3, 23), // 151
    (0x7fffe4, 23), // 152
    (0x1fffdc, 21), // 153
    (0x3fffd8, 22), // 154
    (0x7fffe5, 23), // 155
    (0x3fffd9, 22), // 156
    (0x7fffe6, 23), // 157
    (0x7fffe7, 23), // 158
    (0xffffef, 24), // 159
    (0x3fffda, 22), // 160
    (0x1fffdd, 21), // 161
    (0xfffe9, 20), // 162
    (0x3fffdb, 22), // 163
    (0x3fffdc, 22), // 164
    (0x7fffe8, 23), // 165
    (0x7fffe9, 23), // 166
    (0x1fffde, 21), // 167
    (0x7fffea, 23), // 168
    (0x3fffdd, 22), // 169
    (0x3fffde, 22), // 170
    (0xfffff0, 24), // 171
    (0x1fffdf, 21), // 172
    (0x3fffdf, 22), // 173
    (0x7fffeb, 23), // 174
    (0x7fffec, 23), // 175
    (0x1fffe0, 21), // 176
    (0x1fffe1, 21), // 177
    (0x3fffe0, 22), // 178
    (0x1fffe2, 21), // 179
    (0x7fffed, 23), // 180
    (0x3fffe1, 22), // 181
    (0x7fffee, 23), // 182
    (0x7fffef, 23), // 183
    (0xfffea, 20), // 184
    (0x3fffe2, 22), // 185
    (0x3fffe3, 22), // 186
    (0x3fffe4, 22), // 187
    (0x7ffff0, 23), // 188
    (0x3fffe5, 22), // 189
    (0x3fffe6, 22), // 190
    (0x7ffff1, 23), // 191
    (0x3ffffe0, 26), // 192
    (0x3ffffe1, 26), // 193
    (0xfffeb, 20), // 194
    (0x7fff1, 19), // 195
    (0x3fffe7, 22), // 196
    (0x7ffff2, 23), // 197
    (0x3fffe8, 22), // 198
    (0x1ffffec, 25), // 199
    (0x3ffffe2, 26), // 200
    (0x3ffffe3, 26), // 201
    (0x3ffffe4, 26), // 202
    (0x7ffffde, 27), // 203
    (0x7ffffdf, 27), // 204
    (0x3ffffe5, 26), // 205
    (0xfffff1, 24), // 206
    (0x1ffffed, 25), // 207
    (0x7fff2, 19), // 208
    (0x1fffe3, 21), // 209
    (0x3ffffe6, 26), // 210
    (0x7ffffe0, 27), // 211
    (0x7ffffe1, 27), // 212
    (0x3ffffe7, 26), // 213
    (0x7ffffe2, 27), // 214
    (0xfffff2, 24), // 215
    (0x1fffe4, 21), // 216
    (0x1fffe5, 21), // 217
    (0x3ffffe8, 26), // 218
    (0x3ffffe9, 26), // 219
    (0xffffffd, 28), // 220
    (0x7ffffe3, 27), // 221
    (0x7ffffe4, 27), // 222
    (0x7ffffe5, 27), // 223
    (0xfffec, 20), // 224
    (0xfffff3, 24), // 225
    (0xfffed, 20), // 226
    (0x1fffe6, 21), // 227
    (0x3fffe9, 22), // 228
    (0x1fffe7, 21), // 229
    (0x1fffe8, 21), // 230
    (0x7ffff3, 23), // 231
    (0x3fffea, 22), // 232
    (0x3fffeb, 22), // 233
    (0x1ffffee, 25), // 234
    (0x1ffffef, 25), // 235
    (0xfffff4, 24), // 236
    (0xfffff5, 24), // 237
    (0x3ffffea, 26), // 238
    (0x7ffff4, 23), // 239
    (0x3ffffeb, 26), // 240
    (0x7ffffe6, 27), // 241
    (0x3ffffec, 26), // 242
    (0x3ffffed, 26), // 243
    (0x7ffffe7, 27), // 244
    (0x7ffffe8, 27), // 245
    (0x7ffffe9, 27), // 246
    (0x7ffffea, 27), // 247
    (0x7ffffeb, 27), // 248
    (0xffffffe, 28), // 249
    (0x7ffffec, 27), // 250
    (0x7ffffed, 27), // 251
    (0x7ffffee, 27), // 252
    (0x7ffffef, 27), // 253
    (0x7fffff0, 27), // 254
    (0x3ffffee, 26), // 255
    (0x3fffffff, 30), // 256 EOS
];

/// One step of the decoder: from a state, on one nibble.
#[derive(Clone, Copy, Debug, Default)]
struct Step {
    /// The state the walk is in after the nibble (an inner node of the code tree; 0 is the root).
    next: u8,
    /// The symbol completed on the way, valid when `flags` has [`EMITS`].
    symbol: u8,
    flags: u8,
}

/// The step completed a symbol.
const EMITS: u8 = 1;
/// The step completed EOS: the string is malformed.
const FAILS: u8 = 2;

/// The decoder's tables, built by [`decode_table`].
#[derive(Debug)]
struct DecodeTable {
    steps: [[Step; 16]; 256],
    /// Whether input may end in each state: the bits since the last symbol are a prefix of EOS
    /// (all ones) no longer than 7 bits.
    accepting: [bool; 256],
}

/// A child in the code tree while it is built: an inner node or a symbol.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Child {
    Missing,
    Node(u8),
    Symbol(u16),
}

fn decode_table() -> &'static DecodeTable {
    static TABLE: OnceLock<Box<DecodeTable>> = OnceLock::new();
    TABLE.get_or_init(build_decode_table)
}

/// Builds the code tree from [`CODES`], then the 4-bit steps from every inner node.
fn build_decode_table() -> Box<DecodeTable> {
    // 257 symbols in a complete prefix code make exactly 256 inner nodes, so a node number
    // fits a byte; the tests check the code is complete.
    let mut children: Vec<[Child; 2]> = vec![[Child::Missing; 2]];
    let mut depth: Vec<u8> = vec![0];
    let mut all_ones: Vec<bool> = vec![true];
    for (symbol, &(code, len)) in CODES.iter().enumerate() {
        let mut node = 0usize;
        for bit_index in (0..len).rev() {
            let bit = ((code >> bit_index) & 1) as usize;
            if bit_index == 0 {
                children[node][bit] = Child::Symbol(symbol as u16);
                break;
            }
            node = match children[node][bit] {
                Child::Node(next) => usize::from(next),
                _ => {
                    let next = children.len();
                    children.push([Child::Missing; 2]);
                    depth.push(depth[node] + 1);
                    all_ones.push(all_ones[node] && bit == 1);
                    children[node][bit] = Child::Node(next as u8);
                    next
                }
            };
        }
    }
    let mut table = Box::new(DecodeTable {
        steps: [[Step::default(); 16]; 256],
        accepting: [false; 256],
    });
    for state in 0..children.len().min(256) {
        table.accepting[state] = all_ones[state] && depth[state] <= 7;
        for nibble in 0..16u8 {
            let mut step = Step::default();
            let mut node = state;
            for bit_index in (0..4).rev() {
                let bit = usize::from((nibble >> bit_index) & 1);
                match children[node][bit] {
                    Child::Node(next) => node = usize::from(next),
                    Child::Symbol(symbol) if usize::from(symbol) == EOS => {
                        step.flags = FAILS;
                        break;
                    }
                    Child::Symbol(symbol) => {
                        step.symbol = symbol as u8;
                        step.flags = EMITS;
                        node = 0;
                    }
                    // Only a broken CODES table leaves a gap; the tests rule that out.
                    Child::Missing => {
                        step.flags = FAILS;
                        break;
                    }
                }
            }
            step.next = node as u8;
            table.steps[state][usize::from(nibble)] = step;
        }
    }
    table
}

/// Walks `src` through the state machine, handing each decoded byte to `emit`.
fn decode_with(src: &[u8], mut emit: impl FnMut(u8)) -> Result<(), HpackError> {
    let table = decode_table();
    let mut state = 0usize;
    for &byte in src {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = table.steps[state][usize::from(nibble)];
            if step.flags & FAILS != 0 {
                return Err(HpackError::HuffmanEos);
            }
            if step.flags & EMITS != 0 {
                emit(step.symbol);
            }
            state = usize::from(step.next);
        }
    }
    if table.accepting[state] {
        Ok(())
    } else {
        Err(HpackError::HuffmanPadding)
    }
}

/// Decodes a Huffman-coded string, appending it to `dst`.
pub(crate) fn decode(src: &[u8], dst: &mut BytesMut) -> Result<(), HpackError> {
    // The shortest code is 5 bits, so a byte of input makes at most 8/5 bytes of output:
    // reserve once and never grow inside the loop.
    dst.reserve(src.len() / 5 * 8 + 8);
    decode_with(src, |byte| dst.put_u8(byte))
}

/// Checks a Huffman-coded string without keeping what it decodes to: for the fields of a block
/// that is past the header list limit, which must still be well-formed.
pub(crate) fn validate(src: &[u8]) -> Result<(), HpackError> {
    decode_with(src, |_| {})
}

/// How many bytes `src` takes Huffman-coded.
pub(crate) fn encoded_len(src: &[u8]) -> usize {
    let bits: u64 = src
        .iter()
        .map(|&byte| u64::from(CODES[usize::from(byte)].1))
        .sum();
    // At most 30 bits a byte: the byte count of any string in memory fits a usize.
    bits.div_ceil(8) as usize
}

/// Appends `src` Huffman-coded to `dst`, the last byte padded with ones (EOS's prefix).
pub(crate) fn encode(src: &[u8], dst: &mut impl BufMut) {
    // `pending` holds fewer than 8 bits between symbols, and a code has at most 30, so the
    // accumulator never needs more than 37 of its 64 bits.
    let mut accumulator: u64 = 0;
    let mut pending: u32 = 0;
    for &byte in src {
        let (code, len) = CODES[usize::from(byte)];
        accumulator = (accumulator << len) | u64::from(code);
        pending += u32::from(len);
        while pending >= 8 {
            pending -= 8;
            dst.put_u8((accumulator >> pending) as u8);
        }
        accumulator &= (1 << pending) - 1;
    }
    if pending > 0 {
        let padding = 8 - pending;
        dst.put_u8(((accumulator << padding) | ((1 << padding) - 1)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    fn decoded(src: &[u8]) -> Result<Vec<u8>, HpackError> {
        let mut out = BytesMut::new();
        decode(src, &mut out).map(|()| out.to_vec())
    }

    fn encoded(src: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(src, &mut out);
        assert_eq!(out.len(), encoded_len(src));
        out
    }

    #[test]
    fn the_code_is_prefix_free_and_complete() {
        // Kraft equality: the code tree has no gap, so every bit string decodes to something.
        let kraft: u64 = CODES.iter().map(|&(_, len)| 1u64 << (30 - len)).sum();
        assert_eq!(kraft, 1 << 30);
        for (i, &(code, len)) in CODES.iter().enumerate() {
            assert!((5..=30).contains(&len), "symbol {i} has length {len}");
            assert!(
                code < (1 << len),
                "symbol {i}'s code is wider than {len} bits"
            );
            for (j, &(other, other_len)) in CODES.iter().enumerate() {
                if i != j && other_len >= len {
                    assert_ne!(other >> (other_len - len), code, "{i} is a prefix of {j}");
                }
            }
        }
        // EOS is thirty ones, which is what makes all-ones padding a prefix of it.
        assert_eq!(CODES[EOS], (0x3fff_ffff, 30));
    }

    #[test]
    fn only_a_completed_eos_fails() {
        let table = decode_table();
        // From the root no nibble can reach EOS's 30 bits, and the root is a valid end.
        assert!(table.steps[0].iter().all(|step| step.flags & FAILS == 0));
        assert!(table.accepting[0]);
        // The all-ones nodes 26 to 29 bits deep complete EOS on the nibbles that start with 4,
        // 3, 2 or 1 ones: 1 + 2 + 4 + 8 steps. Any other count means a gap or a stray code.
        let failing = table
            .steps
            .iter()
            .flatten()
            .filter(|step| step.flags & FAILS != 0)
            .count();
        assert_eq!(failing, 15);
    }

    /// Every Huffman-coded literal in RFC 7541 Appendix C (C.4 and C.6).
    const APPENDIX_C: &[(&str, &str)] = &[
        ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
        ("no-cache", "a8eb 1064 9cbf"),
        ("custom-key", "25a8 49e9 5ba9 7d7f"),
        ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
        ("302", "6402"),
        ("private", "aec3 771a 4b"),
        (
            "Mon, 21 Oct 2013 20:13:21 GMT",
            "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
        ),
        (
            "https://www.example.com",
            "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
        ),
        ("307", "640e ff"),
        (
            "Mon, 21 Oct 2013 20:13:22 GMT",
            "d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff",
        ),
        ("gzip", "9bd9 ab"),
        (
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ),
    ];

    #[test]
    fn appendix_c_strings_round_trip() {
        for &(text, coded) in APPENDIX_C {
            let coded = hex(coded);
            assert_eq!(encoded(text.as_bytes()), coded, "encoding {text:?}");
            assert_eq!(
                decoded(&coded).as_deref(),
                Ok(text.as_bytes()),
                "decoding {text:?}"
            );
        }
    }

    #[test]
    fn every_byte_value_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decoded(&encoded(&all)), Ok(all.clone()));
        for byte in 0..=255u8 {
            let one = [byte, byte, byte];
            assert_eq!(decoded(&encoded(&one)).as_deref(), Ok(&one[..]));
        }
        assert_eq!(decoded(&[]), Ok(Vec::new()));
    }

    #[test]
    fn padding_must_be_short_and_all_ones() {
        // '0' is 00000: with three ones of padding it is one byte.
        assert_eq!(decoded(&[0b0000_0111]), Ok(b"0".to_vec()));
        // Padding that is not all ones.
        assert_eq!(decoded(&[0b0000_0101]), Err(HpackError::HuffmanPadding));
        // Eight bits of padding: a whole byte of ones after a symbol that ends on a boundary.
        // 'a' (00011) + '0' (00000) + "111111" ends at 16 bits; add 0xff.
        let mut src = encoded(b"a0");
        assert_eq!(decoded(&src), Ok(b"a0".to_vec()));
        src.push(0xff);
        assert_eq!(decoded(&src), Err(HpackError::HuffmanPadding));
        // A lone 0xff is also eight bits of padding with no symbol.
        assert_eq!(decoded(&[0xff]), Err(HpackError::HuffmanPadding));
        // A string cut inside a long code: '\\' is 1111111 11111111 1110000, so its first byte
        // ends in a zero and cannot be padding.
        let long = encoded(b"\\");
        assert_eq!(long.len(), 3);
        assert_eq!(decoded(&long[..1]), Err(HpackError::HuffmanPadding));
        assert_eq!(validate(&[0b0000_0101]), Err(HpackError::HuffmanPadding));
    }

    #[test]
    fn eos_inside_a_string_is_rejected() {
        // EOS is 30 ones: four bytes of ones hold it whole.
        assert_eq!(
            decoded(&[0xff, 0xff, 0xff, 0xff]),
            Err(HpackError::HuffmanEos)
        );
        // After a symbol, too.
        let mut src = vec![0b0000_0111, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(decoded(&src), Err(HpackError::HuffmanEos));
        src.truncate(1);
        assert_eq!(validate(&src), Ok(()));
        assert_eq!(
            validate(&[0xff, 0xff, 0xff, 0xfc]),
            Err(HpackError::HuffmanEos)
        );
    }

    #[test]
    fn huffman_is_shorter_for_typical_grpc_values() {
        for value in [
            "application/grpc",
            "trailers",
            "identity,deflate,gzip",
            "/pkg.Svc/Method",
        ] {
            assert!(encoded_len(value.as_bytes()) < value.len(), "{value}");
        }
        // Binary data is longer coded: the encoder sends it raw.
        assert!(encoded_len(&[0u8, 1, 2, 200, 255]) > 5);
    }
}
