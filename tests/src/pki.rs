//! A certificate authority made up for one test run (rcgen): its root, server and client
//! certificates, and the broken ones the error tests need (expired, for another name, from
//! another authority). Nothing here is checked in; every run makes its own keys.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The names a test server's certificate holds: loopback, and the host name the gRPC interop
/// clients check by default (`--server_host_override=foo.test.google.fr`).
pub const SERVER_NAMES: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "::1",
    "foo.test.google.fr",
    "*.test.google.fr",
];

/// A certificate and its private key, in PEM.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

impl Leaf {
    /// As a Tern identity.
    pub fn identity(&self) -> tern::tls::Identity {
        tern::tls::Identity::from_pem(&self.cert_pem, &self.key_pem).expect("test identity")
    }

    /// Writes `NAME.pem` and `NAME.key` into `dir`, returning their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert_pem).expect("write certificate");
        std::fs::write(&key, &self.key_pem).expect("write key");
        (cert, key)
    }
}

/// A test certificate authority.
#[derive(Debug)]
pub struct TestPki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl TestPki {
    /// A new authority named `name`.
    pub fn new(name: &str) -> TestPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        TestPki {
            ca: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// The root certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The root as Tern's trusted certificate.
    pub fn ca(&self) -> tern::tls::Certificate {
        tern::tls::Certificate::from_pem(self.ca_pem()).expect("test CA")
    }

    /// A server certificate for `names`.
    pub fn server(&self, names: &[&str]) -> Leaf {
        self.leaf(names, ExtendedKeyUsagePurpose::ServerAuth, |_| {})
    }

    /// A client certificate with the common name `name`.
    pub fn client(&self, name: &str) -> Leaf {
        self.leaf(&[], ExtendedKeyUsagePurpose::ClientAuth, |params| {
            params.distinguished_name.push(DnType::CommonName, name);
        })
    }

    /// A server certificate for `names` that expired in 2020.
    pub fn expired_server(&self, names: &[&str]) -> Leaf {
        self.leaf(names, ExtendedKeyUsagePurpose::ServerAuth, |params| {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        })
    }

    fn leaf(
        &self,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        adjust(&mut params);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.ca).expect("leaf certificate");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes `ca.pem`, `server.pem`/`.key` (for [`SERVER_NAMES`]) and `client.pem`/`.key` into
    /// `dir`, for programs in other languages.
    pub fn write_standard_set(&self, dir: &Path) {
        std::fs::create_dir_all(dir).expect("create certificate directory");
        std::fs::write(dir.join("ca.pem"), self.ca_pem()).expect("write CA");
        self.server(SERVER_NAMES).write(dir, "server");
        self.client("tern-test-client").write(dir, "client");
    }
}
