//! A throw-away consortium CA for devnets and testnets: made on the spot,
//! it issues each node's server certificate and each caller's client
//! certificate. A production consortium brings its own CA; the nodes only
//! ever see PEM files either way.
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::error::TlsError;

/// A certificate and its private key, PEM.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Issued {
    /// Write `<stem>.crt` and `<stem>.key` (the key readable by the owner only).
    pub fn write(&self, dir: &Path, stem: &str) -> Result<(), TlsError> {
        std::fs::create_dir_all(dir).map_err(|e| TlsError::file("directory", dir, e))?;
        let crt = dir.join(format!("{stem}.crt"));
        std::fs::write(&crt, &self.cert_pem).map_err(|e| TlsError::file("certificate", &crt, e))?;
        write_private(&dir.join(format!("{stem}.key")), &self.key_pem)
    }
}

fn write_private(path: &Path, pem: &str) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| TlsError::file("private key", path, e))?;
    f.write_all(pem.as_bytes()).map_err(|e| TlsError::file("private key", path, e))
}

/// The CA: its certificate and key.
pub struct DevCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn issue_err(e: rcgen::Error) -> TlsError {
    TlsError::Issue(e.to_string())
}

fn ca_params(name: &str, now: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(3650);
    p
}

impl DevCa {
    /// A new CA whose certificate names `name` (e.g. "kawase devnet CA").
    pub fn create(name: &str) -> Result<DevCa, TlsError> {
        let key = KeyPair::generate().map_err(issue_err)?;
        let cert = ca_params(name, OffsetDateTime::now_utc()).self_signed(&key).map_err(issue_err)?;
        Ok(DevCa { cert, key })
    }

    /// The CA written by [`DevCa::write`], to issue more certificates (a
    /// new bank's client certificate, say). Certificates it issues verify
    /// against the CA certificate on disk: same subject, same key.
    pub fn load(dir: &Path) -> Result<DevCa, TlsError> {
        let crt = dir.join("ca.crt");
        let key_path = dir.join("ca.key");
        let der = crate::server::read_certs("CA certificate", &crt)?.remove(0);
        let name = crate::server::ClientId::from_der(&der)
            .common_name
            .ok_or_else(|| TlsError::file("CA certificate", &crt, "no subject common name"))?;
        let pem = std::fs::read_to_string(&key_path).map_err(|e| TlsError::file("CA key", &key_path, e))?;
        let key = KeyPair::from_pem(&pem).map_err(|e| TlsError::file("CA key", &key_path, e))?;
        let cert = ca_params(&name, OffsetDateTime::now_utc()).self_signed(&key).map_err(issue_err)?;
        Ok(DevCa { cert, key })
    }

    /// Write `ca.crt` (give it to every client and node) and `ca.key`
    /// (keep it; it issues certificates).
    pub fn write(&self, dir: &Path) -> Result<(), TlsError> {
        Issued { cert_pem: self.cert.pem(), key_pem: self.key.serialize_pem() }.write(dir, "ca")
    }

    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for a node reachable at `hosts` (IP addresses
    /// or DNS names; all go into the subject alternative names).
    pub fn issue_server(&self, hosts: &[String]) -> Result<Issued, TlsError> {
        let mut p = leaf_params(hosts.first().map(String::as_str).unwrap_or("kawase node"));
        for h in hosts {
            p.subject_alt_names.push(match h.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(h.clone().try_into().map_err(issue_err)?),
            });
        }
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(p)
    }

    /// A client certificate naming `name` (its subject common name), for
    /// mutual TLS.
    pub fn issue_client(&self, name: &str) -> Result<Issued, TlsError> {
        let mut p = leaf_params(name);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(p)
    }

    fn sign(&self, p: CertificateParams) -> Result<Issued, TlsError> {
        let key = KeyPair::generate().map_err(issue_err)?;
        let cert = p.signed_by(&key, &self.cert, &self.key).map_err(issue_err)?;
        Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

fn leaf_params(common_name: &str) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    p.distinguished_name = dn;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.use_authority_key_identifier_extension = true;
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(825);
    p
}
