//! Certificates and private keys as users hold them: PEM files or bytes, parsed with
//! `rustls-pki-types`, with errors that name the file and what was wrong with it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, ErrorKind};

/// One or more certificates: the CA roots to trust (a client's view of servers, or a server's
/// of clients' certificates).
#[derive(Clone)]
pub struct Certificate {
    pub(crate) ders: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("count", &self.ders.len())
            .finish()
    }
}

impl Certificate {
    /// Every certificate in PEM text (`-----BEGIN CERTIFICATE-----` blocks).
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Certificate, Error> {
        certificates(pem.as_ref(), "the PEM text").map(|ders| Certificate { ders })
    }

    /// Every certificate in a PEM file.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Certificate, Error> {
        let path = path.as_ref();
        certificates(&read(path)?, &path.display().to_string()).map(|ders| Certificate { ders })
    }

    /// One certificate in DER.
    pub fn from_der(der: impl Into<Vec<u8>>) -> Certificate {
        Certificate {
            ders: vec![CertificateDer::from(der.into())],
        }
    }
}

/// A certificate chain and its private key: who a server (or, with mTLS, a client) is.
#[derive(Clone)]
pub struct Identity {
    pub(crate) key: Arc<CertifiedKey>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("chain", &self.key.cert.len())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A chain (leaf first) and its key, both PEM text. The key may be PKCS#8, PKCS#1 (RSA) or
    /// SEC1 (EC); it must match the leaf certificate.
    pub fn from_pem(cert: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Result<Identity, Error> {
        identity(
            cert.as_ref(),
            "the certificate PEM",
            key.as_ref(),
            "the key PEM",
        )
    }

    /// A chain and its key from PEM files.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Identity, Error> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        identity(
            &read(cert)?,
            &cert.display().to_string(),
            &read(key)?,
            &key.display().to_string(),
        )
    }

    /// The certificate chain, leaf first.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.key.cert
    }
}

fn tls_error(what: String) -> Error {
    Error::msg(ErrorKind::Tls, what)
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path)
        .map_err(|e| Error::new(ErrorKind::Tls, format!("cannot read {}", path.display()), e))
}

fn pem_problem(e: pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a PEM section is not closed (no {:?})",
            String::from_utf8_lossy(&end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed PEM line {:?}", String::from_utf8_lossy(&line))
        }
        pem::Error::Base64Decode(why) => format!("bad base64 in a PEM section: {why}"),
        other => other.to_string(),
    }
}

fn certificates(pem: &[u8], source: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let ders = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(format!("{source}: {}", pem_problem(e))))?;
    if ders.is_empty() {
        return Err(tls_error(format!(
            "{source}: no certificate found (expected -----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(ders)
}

fn identity(
    cert_pem: &[u8],
    cert_source: &str,
    key_pem: &[u8],
    key_source: &str,
) -> Result<Identity, Error> {
    let chain = certificates(cert_pem, cert_source)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => tls_error(format!(
            "{key_source}: no private key found (expected -----BEGIN PRIVATE KEY-----, \
             RSA PRIVATE KEY or EC PRIVATE KEY)"
        )),
        e => tls_error(format!("{key_source}: {}", pem_problem(e))),
    })?;
    let key = CertifiedKey::from_der(chain, key, &super::provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => tls_error(format!(
            "the private key in {key_source} does not belong to the certificate in {cert_source}"
        )),
        e => tls_error(format!("{key_source}: the private key cannot be used: {e}")),
    })?;
    Ok(Identity { key: Arc::new(key) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> rcgen::CertifiedKey<rcgen::KeyPair> {
        rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap()
    }

    #[test]
    fn an_identity_loads_from_pem_and_its_key_must_match() {
        let a = self_signed("a.test");
        let b = self_signed("b.test");
        let ok = Identity::from_pem(a.cert.pem(), a.signing_key.serialize_pem()).unwrap();
        assert_eq!(ok.certificates().len(), 1);
        let err = Identity::from_pem(a.cert.pem(), b.signing_key.serialize_pem()).unwrap_err();
        assert!(
            err.to_string()
                .contains("does not belong to the certificate"),
            "{err}"
        );
        assert_eq!(err.kind(), ErrorKind::Tls);
    }

    #[test]
    fn bad_pem_says_what_is_wrong() {
        let a = self_signed("a.test");
        let no_key = Identity::from_pem(a.cert.pem(), a.cert.pem()).unwrap_err();
        assert!(
            no_key.to_string().contains("no private key found"),
            "{no_key}"
        );
        let no_cert = Certificate::from_pem("hello").unwrap_err();
        assert!(
            no_cert.to_string().contains("no certificate found"),
            "{no_cert}"
        );
        let truncated = a.cert.pem().replace("-----END CERTIFICATE-----", "");
        let err = Certificate::from_pem(truncated).unwrap_err();
        assert!(err.to_string().contains("not closed"), "{err}");
        let missing = Certificate::from_pem_file("/nonexistent/ca.pem").unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("cannot read /nonexistent/ca.pem"),
            "{missing}"
        );
    }
}
