//! rustls's errors in words a person can act on: which certificate, what is wrong with it, and
//! what to change — for the client's errors and the server's log alike.

use rustls::{AlertDescription, CertificateError, Error as TlsError};

/// Who is at the other end of the connection whose handshake failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Remote {
    /// This side is the client.
    Server,
    /// This side is the server.
    Client,
}

/// Says what went wrong in a handshake with `remote`.
pub(crate) fn explain(e: &TlsError, remote: Remote) -> String {
    let theirs = match remote {
        Remote::Server => "the server's certificate",
        Remote::Client => "the client's certificate",
    };
    match e {
        TlsError::InvalidCertificate(cert) => certificate(cert, theirs),
        TlsError::NoCertificatesPresented => match remote {
            Remote::Client => "the client presented no certificate, and one is required".into(),
            Remote::Server => "the server presented no certificate".into(),
        },
        TlsError::AlertReceived(alert) => alert_received(*alert, remote),
        TlsError::InvalidMessage(_) | TlsError::InappropriateMessage { .. } => match remote {
            Remote::Server => "the server did not answer in TLS (a cleartext port? use an \
                               http:// target)"
                .into(),
            Remote::Client => "the client did not speak TLS".into(),
        },
        TlsError::NoApplicationProtocol => match remote {
            Remote::Client => "the client offered no ALPN protocol this server speaks (gRPC \
                               needs \"h2\")"
                .into(),
            Remote::Server => "the server does not offer HTTP/2 over TLS (ALPN \"h2\")".into(),
        },
        TlsError::PeerIncompatible(why) => {
            format!("no TLS version or cipher suite in common ({why:?})")
        }
        other => other.to_string(),
    }
}

/// The same for an IO error from a TLS stream, which wraps the rustls error when there is one.
pub(crate) fn explain_io(e: &std::io::Error, remote: Remote) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
    {
        Some(tls) => explain(tls, remote),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => match remote {
            Remote::Server => "the server closed the connection during the TLS handshake (a \
                               cleartext port? use an http:// target)"
                .into(),
            Remote::Client => "the client closed the connection during the TLS handshake".into(),
        },
        None => e.to_string(),
    }
}

fn certificate(e: &CertificateError, theirs: &str) -> String {
    match e {
        CertificateError::UnknownIssuer => format!(
            "{theirs} was issued by an authority this side does not trust (unknown issuer): \
             give its CA certificate as a trusted root"
        ),
        CertificateError::Expired => format!("{theirs} has expired"),
        CertificateError::ExpiredContext { time, not_after } => format!(
            "{theirs} has expired: valid until {}, and it is now {}",
            unix_date(not_after.as_secs()),
            unix_date(time.as_secs())
        ),
        CertificateError::NotValidYet => format!("{theirs} is not valid yet"),
        CertificateError::NotValidYetContext { time, not_before } => format!(
            "{theirs} is not valid yet: valid from {}, and it is now {}",
            unix_date(not_before.as_secs()),
            unix_date(time.as_secs())
        ),
        CertificateError::NotValidForName => format!("{theirs} is not valid for the name asked"),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "{theirs} is not valid for {:?}: it names {} (set the name to check with an \
             authority override, or connect by a name the certificate has)",
            expected.to_str(),
            if presented.is_empty() {
                "nothing".to_owned()
            } else {
                presented
                    .iter()
                    .map(|name| presented_name(name))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
        CertificateError::BadSignature => format!("{theirs} has a bad signature"),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("{theirs} is not for this use (its extended key usage does not allow it)")
        }
        other => format!("{theirs} is invalid: {other:?}"),
    }
}

/// A name as webpki presents it (`DnsName("api.example.com")`, `IpAddress(..)`), as a person
/// would write it.
fn presented_name(name: &str) -> &str {
    match (name.find('"'), name.rfind('"')) {
        (Some(start), Some(end)) if end > start => &name[start + 1..end],
        _ => name,
    }
}

fn alert_received(alert: AlertDescription, remote: Remote) -> String {
    let name = format!("{alert:?}");
    match (remote, alert) {
        (Remote::Server, AlertDescription::CertificateRequired) => {
            "the server requires a client certificate, and none was given".into()
        }
        (
            Remote::Server,
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate,
        ) => format!("the server refused this client's certificate (alert {name})"),
        (Remote::Server, AlertDescription::NoApplicationProtocol) => {
            "the server does not offer HTTP/2 over TLS (ALPN \"h2\")".into()
        }
        (
            Remote::Client,
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown,
        ) => format!("the client refused this server's certificate (alert {name})"),
        (_, alert) => format!("the peer ended the handshake (alert {alert:?})"),
    }
}

/// A Unix time as a UTC date and time, for certificate validity in messages.
fn unix_date(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm), for dates after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_dates() {
        assert_eq!(unix_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(unix_date(1_900_000_000), "2030-03-17 17:46:40 UTC");
        assert_eq!(unix_date(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn a_missing_client_certificate_is_named_from_both_sides() {
        let required = TlsError::AlertReceived(AlertDescription::CertificateRequired);
        assert_eq!(
            explain(&required, Remote::Server),
            "the server requires a client certificate, and none was given"
        );
        assert!(explain(&TlsError::NoCertificatesPresented, Remote::Client)
            .contains("presented no certificate"));
    }
}
