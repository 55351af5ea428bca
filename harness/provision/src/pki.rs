//! Certificates made per test run (never committed): an authority, and
//! certificates it signs for servers and clients. etcd's client-certificate
//! auth takes a client certificate's common name for its RBAC user, so a
//! cluster's identity is a certificate with the cluster's user as its name.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A certificate authority.
pub struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert: String,
    /// Its private key.
    pub key: String,
}

/// The files of a certificate written to disk.
#[derive(Debug, Clone)]
pub struct Files {
    /// The certificate.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

impl Authority {
    /// A new authority named `name`.
    pub fn new(name: &str) -> Authority {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        Authority {
            issuer: CertifiedIssuer::self_signed(p, key).expect("CA certificate"),
        }
    }

    /// The authority's own certificate.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate named `cn`, for `names` (DNS names or IP addresses),
    /// good for both a server and a client.
    pub fn issue(&self, cn: &str, names: &[&str]) -> Issued {
        let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(sans).expect("certificate params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().expect("key");
        let cert = p.signed_by(&key, &self.issuer).expect("signed certificate");
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// Writes the authority's certificate as `<dir>/<name>.pem`.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(format!("{name}.pem"));
        std::fs::write(&p, self.pem()).expect("write CA");
        p
    }
}

impl Issued {
    /// Writes `<dir>/<name>.pem` and `<dir>/<name>-key.pem`.
    pub fn write(&self, dir: &Path, name: &str) -> Files {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}-key.pem"));
        std::fs::write(&cert, &self.cert).expect("write certificate");
        std::fs::write(&key, &self.key).expect("write key");
        Files { cert, key }
    }
}

/// Turns a TLS etcd's RBAC on: a `root` user (the certificate `root`,
/// which the caller connects with), and for each `(user, prefix)` a user
/// whose role may read and write only keys under `prefix`. Users have no
/// password: a client is its certificate's common name. `server_name`
/// overrides the name the store's certificate is checked against (when
/// the endpoints are addresses).
pub async fn enable_rbac(
    endpoints: &[String],
    ca: &Authority,
    root: &Issued,
    server_name: Option<&str>,
    users: &[(&str, &str)],
) -> Result<(), String> {
    use etcd_client::{
        Certificate, ConnectOptions, Identity, Permission, TlsOptions, UserAddOptions,
    };
    let mut tls = TlsOptions::new()
        .ca_certificate(Certificate::from_pem(ca.pem()))
        .identity(Identity::from_pem(&root.cert, &root.key));
    if let Some(n) = server_name {
        tls = tls.domain_name(n);
    }
    let e = |what: &'static str| move |err: etcd_client::Error| format!("RBAC: {what}: {err}");
    let mut c = etcd_client::Client::connect(endpoints, Some(ConnectOptions::new().with_tls(tls)))
        .await
        .map_err(e("connect as root"))?;
    let no_pwd = || Some(UserAddOptions::new().with_no_pwd());
    c.user_add("root", "", no_pwd())
        .await
        .map_err(e("user root"))?;
    let _ = c.role_add("root").await; // built in on some releases
    c.user_grant_role("root", "root")
        .await
        .map_err(e("root role"))?;
    for (user, prefix) in users {
        c.role_add(*user).await.map_err(e("role"))?;
        c.role_grant_permission(*user, Permission::read_write(*prefix).with_prefix())
            .await
            .map_err(e("grant"))?;
        c.user_add(*user, "", no_pwd()).await.map_err(e("user"))?;
        c.user_grant_role(*user, *user)
            .await
            .map_err(e("user's role"))?;
    }
    c.auth_enable().await.map_err(e("enable"))?;
    Ok(())
}
