//! A CA of the test's own and a server certificate it signs.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::error::TestServerError;

/// The PEM files written for one server.
#[derive(Debug)]
pub(crate) struct Certificates {
    pub(crate) ca_cert: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
}

/// Writes `ca.pem`, `server-cert.pem` and `server-key.pem` into `dir`. The server
/// certificate names `localhost` and `127.0.0.1`, so a client verifying against `ca.pem` accepts
/// either address.
pub(crate) fn write(dir: &Path) -> Result<Certificates, TestServerError> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "playhouse-nats test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let server_key = KeyPair::generate()?;
    let mut server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    let server_cert = server.signed_by(&server_key, &issuer)?;

    let certificates = Certificates {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server-cert.pem"),
        server_key: dir.join("server-key.pem"),
    };
    for (path, pem) in [
        (&certificates.ca_cert, ca_cert.pem()),
        (&certificates.server_cert, server_cert.pem()),
        (&certificates.server_key, server_key.serialize_pem()),
    ] {
        fs::write(path, pem)
            .map_err(|error| TestServerError::io(format!("writing {}", path.display()), error))?;
    }
    Ok(certificates)
}
