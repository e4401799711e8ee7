//! HPACK's prefix integers (RFC 7541 §5.1): a value in the low N bits of a representation's
//! first byte, continued in 7-bit groups, least significant first, when it does not fit.

use bytes::BufMut;

use super::HpackError;

/// The largest value accepted. Every HPACK integer is an index, a string length or a table
/// size, and none of those is meaningful past 32 bits; rejecting earlier keeps the arithmetic
/// on 64 bits free of overflow on every platform.
const MAX_VALUE: u64 = u32::MAX as u64;

/// Reads an integer whose prefix is the low `prefix_bits` bits of `block[*pos]`, and moves
/// `pos` past it. The caller has read the first byte's high bits already (they say what the
/// representation is) and must have checked that `*pos` is inside `block`.
pub(crate) fn decode(block: &[u8], pos: &mut usize, prefix_bits: u8) -> Result<usize, HpackError> {
    debug_assert!((1..=8).contains(&prefix_bits));
    let max_prefix = ((1u16 << prefix_bits) - 1) as u8;
    let first = *block.get(*pos).ok_or(HpackError::Truncated)? & max_prefix;
    *pos += 1;
    if first < max_prefix {
        return Ok(usize::from(first));
    }
    let mut value = u64::from(max_prefix);
    let mut shift = 0u32;
    loop {
        let byte = *block.get(*pos).ok_or(HpackError::Truncated)?;
        *pos += 1;
        // Five continuation bytes carry 35 bits, already more than MAX_VALUE needs; a sixth
        // can only be a zero-padded or oversized encoding, and stopping here bounds the work.
        if shift > 28 {
            return Err(HpackError::IntegerOverflow);
        }
        value += u64::from(byte & 0x7f) << shift;
        if value > MAX_VALUE {
            return Err(HpackError::IntegerOverflow);
        }
        if byte & 0x80 == 0 {
            // MAX_VALUE is u32::MAX, which fits a usize on every target Tern builds for.
            return usize::try_from(value).map_err(|_| HpackError::IntegerOverflow);
        }
        shift += 7;
    }
}

/// Writes `value` with a `prefix_bits`-bit prefix; `flags` are the first byte's high bits (the
/// representation's pattern), which must leave the prefix bits clear.
pub(crate) fn encode(value: usize, prefix_bits: u8, flags: u8, dst: &mut impl BufMut) {
    debug_assert!((1..=8).contains(&prefix_bits));
    let max_prefix = (1usize << prefix_bits) - 1;
    debug_assert_eq!(usize::from(flags) & max_prefix, 0);
    if value < max_prefix {
        dst.put_u8(flags | value as u8);
        return;
    }
    dst.put_u8(flags | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        dst.put_u8((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    dst.put_u8(rest as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: usize, prefix_bits: u8, flags: u8) -> Vec<u8> {
        let mut out = Vec::new();
        encode(value, prefix_bits, flags, &mut out);
        out
    }

    fn decoded(bytes: &[u8], prefix_bits: u8) -> Result<(usize, usize), HpackError> {
        let mut pos = 0;
        decode(bytes, &mut pos, prefix_bits).map(|value| (value, pos))
    }

    /// RFC 7541 C.1.1: 10 with a 5-bit prefix.
    #[test]
    fn c_1_1_small_value_fits_the_prefix() {
        assert_eq!(encoded(10, 5, 0), [0b0000_1010]);
        assert_eq!(decoded(&[0b0000_1010], 5), Ok((10, 1)));
    }

    /// RFC 7541 C.1.2: 1337 with a 5-bit prefix.
    #[test]
    fn c_1_2_value_continues_past_the_prefix() {
        assert_eq!(encoded(1337, 5, 0), [0b0001_1111, 0b1001_1010, 0b0000_1010]);
        assert_eq!(decoded(&[0x1f, 0x9a, 0x0a], 5), Ok((1337, 3)));
    }

    /// RFC 7541 C.1.3: 42 at an octet boundary (8-bit prefix).
    #[test]
    fn c_1_3_eight_bit_prefix() {
        assert_eq!(encoded(42, 8, 0), [42]);
        assert_eq!(decoded(&[42], 8), Ok((42, 1)));
    }

    #[test]
    fn high_bits_of_the_first_byte_are_not_part_of_the_value() {
        assert_eq!(encoded(5, 7, 0x80), [0x85]);
        assert_eq!(decoded(&[0x85], 7), Ok((5, 1)));
        assert_eq!(decoded(&[0xff, 0x00], 7), Ok((127, 2)));
    }

    #[test]
    fn round_trips_at_every_prefix_and_boundary() {
        let values = [
            0usize,
            1,
            30,
            31,
            32,
            126,
            127,
            128,
            254,
            255,
            256,
            16_383,
            16_384,
            1 << 21,
            (1 << 28) + 5,
            u32::MAX as usize,
        ];
        for prefix_bits in 1..=8 {
            for &value in &values {
                let bytes = encoded(value, prefix_bits, 0);
                assert_eq!(
                    decoded(&bytes, prefix_bits),
                    Ok((value, bytes.len())),
                    "{value} with a {prefix_bits}-bit prefix"
                );
            }
        }
    }

    #[test]
    fn truncated_integers_are_reported() {
        assert_eq!(decoded(&[], 5), Err(HpackError::Truncated));
        assert_eq!(decoded(&[0x1f], 5), Err(HpackError::Truncated));
        assert_eq!(decoded(&[0x1f, 0x9a], 5), Err(HpackError::Truncated));
        assert_eq!(decoded(&[0x1f, 0xff, 0xff], 5), Err(HpackError::Truncated));
    }

    #[test]
    fn values_past_u32_are_rejected() {
        // u32::MAX + 1 = 2^32, with a 8-bit prefix: 255 then 2^32 - 255 in 7-bit groups.
        let bytes = encoded(u32::MAX as usize + 1, 8, 0);
        assert_eq!(decoded(&bytes, 8), Err(HpackError::IntegerOverflow));
        // Ten continuation bytes, the classic overflow probe.
        let mut ten = vec![0xff];
        ten.extend_from_slice(&[0xff; 9]);
        ten.push(0x01);
        assert_eq!(decoded(&ten, 8), Err(HpackError::IntegerOverflow));
        // Zero-padded continuations are cut off after the five a 32-bit value can need.
        let padded = [0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(decoded(&padded, 5), Err(HpackError::IntegerOverflow));
    }
}
