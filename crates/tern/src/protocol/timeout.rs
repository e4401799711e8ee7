//! `grpc-timeout`: how long the caller will wait, as at most eight ASCII digits and a unit
//! (`H` hours, `M` minutes, `S` seconds, `m` milliseconds, `u` microseconds, `n` nanoseconds).

use std::fmt;
use std::time::Duration;

/// Why a `grpc-timeout` value could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidTimeout {
    value: String,
}

impl fmt::Display for InvalidTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid grpc-timeout {:?}: expected 1 to 8 digits and a unit of H, M, S, m, u or n",
            self.value
        )
    }
}

impl std::error::Error for InvalidTimeout {}

const MAX_DIGITS: usize = 8;
const MAX_VALUE: u64 = 99_999_999;

/// Reads a `grpc-timeout` header value.
pub fn parse(value: &[u8]) -> Result<Duration, InvalidTimeout> {
    let err = || InvalidTimeout {
        value: String::from_utf8_lossy(value).into_owned(),
    };
    let (unit, digits) = value.split_last().ok_or_else(err)?;
    if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return Err(err());
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Ok(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return Err(err()),
    })
}

/// Writes a duration as a `grpc-timeout` value, in the finest unit that fits in eight digits,
/// rounding up so that the peer never sees a shorter deadline than the caller set.
pub fn format(timeout: Duration) -> String {
    let nanos = timeout.as_nanos();
    const UNITS: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    for (scale, unit) in UNITS {
        let value = nanos.div_ceil(scale);
        if value <= u128::from(MAX_VALUE) {
            return format!("{value}{unit}");
        }
    }
    format!("{MAX_VALUE}H")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse(b"2H"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse(b"3M"), Ok(Duration::from_secs(180)));
        assert_eq!(parse(b"10S"), Ok(Duration::from_secs(10)));
        assert_eq!(parse(b"250m"), Ok(Duration::from_millis(250)));
        assert_eq!(parse(b"7u"), Ok(Duration::from_micros(7)));
        assert_eq!(parse(b"99999999n"), Ok(Duration::from_nanos(99_999_999)));
        assert_eq!(parse(b"0m"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            &b""[..],
            b"S",
            b"1",
            b"123456789S",
            b"1x",
            b"-1S",
            b"1.5S",
            b" 1S",
            b"1s",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn formats_in_the_finest_unit_that_fits() {
        assert_eq!(format(Duration::from_nanos(5)), "5n");
        assert_eq!(format(Duration::from_millis(100)), "100000u");
        assert_eq!(format(Duration::from_secs(1)), "1000000u");
        assert_eq!(format(Duration::from_secs(100)), "100000m");
        assert_eq!(format(Duration::from_secs(1_000_000)), "1000000S");
        assert_eq!(format(Duration::from_secs(u64::MAX)), "99999999H");
        // Rounded up, never down.
        assert_eq!(format(Duration::from_nanos(100_000_001)), "100001u");
    }

    #[test]
    fn format_then_parse_never_shortens() {
        for nanos in [1u64, 999, 1_000_001, 123_456_789_123, 5_000_000_000_000] {
            let d = Duration::from_nanos(nanos);
            assert!(parse(format(d).as_bytes()).unwrap() >= d);
        }
    }
}

#[cfg(test)]
mod randomized {
    use super::*;

    #[test]
    fn arbitrary_values_never_panic() {
        let alphabet = b"0123456789HMSmunx -";
        let mut state = 7u64;
        for _ in 0..5_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (state >> 60) as usize;
            let value: Vec<u8> = (0..len)
                .map(|i| alphabet[((state >> (i * 4)) % alphabet.len() as u64) as usize])
                .collect();
            if let Ok(d) = parse(&value) {
                assert!(d <= Duration::from_secs(99_999_999 * 3600));
            }
        }
    }
}
