//! Percent-encoding of `grpc-message`, as the spec defines it: bytes outside printable ASCII
//! (0x20..=0x7E) and `%` itself become `%XX` of the message's UTF-8 bytes. Decoding is lenient:
//! a malformed escape is kept as it was, never an error, since the message is for people.

use std::borrow::Cow;

fn is_unreserved(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) && b != b'%'
}

/// Encodes a status message for the `grpc-message` header.
pub fn encode(message: &str) -> Cow<'_, str> {
    if message.bytes().all(is_unreserved) {
        return Cow::Borrowed(message);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(message.len() * 3);
    for b in message.bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
    Cow::Owned(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a received `grpc-message`; invalid UTF-8 after decoding is replaced, not rejected.
pub fn decode(encoded: &[u8]) -> String {
    let mut out = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        let b = encoded[i];
        if b == b'%' && i + 2 < encoded.len() {
            if let (Some(hi), Some(lo)) = (hex_value(encoded[i + 1]), hex_value(encoded[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_is_left_alone() {
        assert!(matches!(encode("no such user: ada"), Cow::Borrowed(_)));
    }

    #[test]
    fn non_ascii_percent_and_controls_are_escaped() {
        assert_eq!(encode("caf\u{e9} 100%\n"), "caf%C3%A9 100%25%0A");
        assert_eq!(decode(b"caf%C3%A9 100%25%0A"), "caf\u{e9} 100%\n");
    }

    #[test]
    fn round_trips_any_text() {
        for s in [
            "",
            "\t\ntest with whitespace\r\nand Unicode BMP \u{263a} and non-BMP \u{1f608}\t\n",
            "%%%",
            "\u{0}",
        ] {
            assert_eq!(decode(encode(s).as_bytes()), s);
        }
    }

    #[test]
    fn malformed_escapes_are_kept() {
        assert_eq!(decode(b"50%"), "50%");
        assert_eq!(decode(b"%zz%4"), "%zz%4");
        assert_eq!(decode(b"%FF"), "\u{fffd}");
    }
}

#[cfg(test)]
mod randomized {
    use super::*;

    #[test]
    fn every_byte_sequence_decodes_without_panic_and_text_round_trips() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2_000 {
            let len = (next() % 24) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = decode(&bytes);
            let text = String::from_utf8_lossy(&bytes).into_owned();
            assert_eq!(decode(encode(&text).as_bytes()), text);
        }
    }
}
