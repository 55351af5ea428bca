//! What a client shows a secured store. etcd: a CA to trust its TLS, and a
//! client certificate whose common name is the RBAC user (etcd's
//! `--client-cert-auth`). Consul: a CA, and an ACL token. Read once at
//! start, so a missing or unreadable file is named before anything runs.

use std::path::{Path, PathBuf};

use crate::RegistryError;

/// PEM text of the files given, and the token.
#[derive(Clone, Default)]
pub struct Credentials {
    /// The CA that signed the store's certificate (`None`: plain HTTP).
    pub ca: Option<Vec<u8>>,
    /// The client's certificate and key.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// A Consul ACL token.
    pub token: Option<String>,
    /// The name the store's certificate is checked against, when the
    /// endpoints are addresses its certificate does not name.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a key or a token.
        f.debug_struct("Credentials")
            .field("ca", &self.ca.is_some())
            .field("identity", &self.identity.is_some())
            .field("token", &self.token.is_some())
            .finish()
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, RegistryError> {
    let text = std::fs::read(path).map_err(|e| RegistryError::Config {
        what,
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    if !text.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(RegistryError::Config {
            what,
            reason: format!("{} holds no PEM block", path.display()),
        });
    }
    Ok(text)
}

impl Credentials {
    /// None: a plain, open store.
    pub fn none() -> Credentials {
        Credentials::default()
    }

    /// Reads the files; each missing, unreadable or non-PEM file is named.
    /// A certificate needs its key and the key its certificate.
    pub fn from_files(
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
        token: Option<String>,
    ) -> Result<Credentials, RegistryError> {
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((read("certificate", c)?, read("key", k)?)),
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return Err(RegistryError::Config {
                    what: "credentials",
                    reason: "a client certificate needs its key, and a key its certificate: pass both --cert and --key".into(),
                })
            }
        };
        Ok(Credentials {
            ca: ca.map(|p| read("CA", p)).transpose()?,
            identity,
            token: token.filter(|t| !t.is_empty()),
            server_name: None,
        })
    }

    /// Whether the store is reached over TLS.
    pub fn tls(&self) -> bool {
        self.ca.is_some()
    }

    /// Checks that each of `addresses` (`what` to the user) has the scheme
    /// these credentials reach: `https://` with a CA, `http://` without.
    pub fn check_scheme<'a>(
        &self,
        what: &'static str,
        addresses: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), RegistryError> {
        let scheme = if self.tls() { "https://" } else { "http://" };
        match addresses.into_iter().find(|a| !a.starts_with(scheme)) {
            None => Ok(()),
            Some(bad) => Err(RegistryError::Config {
                what,
                reason: format!(
                    "{bad:?} must start with {scheme} ({})",
                    if self.tls() {
                        "a CA was given: the store is reached over TLS"
                    } else {
                        "no CA was given: pass one to reach a TLS store"
                    }
                ),
            }),
        }
    }
}

/// The files of a [`Credentials`], as a user names them.
#[derive(Debug, Clone, Default)]
pub struct CredentialFiles {
    /// The CA file.
    pub ca: Option<PathBuf>,
    /// The client certificate file.
    pub cert: Option<PathBuf>,
    /// Its key.
    pub key: Option<PathBuf>,
    /// The token.
    pub token: Option<String>,
}

impl CredentialFiles {
    /// Reads them.
    pub fn load(&self) -> Result<Credentials, RegistryError> {
        Credentials::from_files(
            self.ca.as_deref(),
            self.cert.as_deref(),
            self.key.as_deref(),
            self.token.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        f
    }

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    /// A file that holds no PEM block (the wrong path, a DER file) is named
    /// at start, not met later as a failed TLS handshake. Found by mutation
    /// testing: no test gave a non-PEM file.
    #[test]
    fn a_file_without_a_pem_block_is_named() {
        let not_pem = file("not a certificate\n");
        let err = Credentials::from_files(Some(not_pem.path()), None, None, None).unwrap_err();
        let text = err.to_string();
        let path = not_pem.path().to_string_lossy();
        assert!(
            text.contains("holds no PEM block") && text.contains(&*path),
            "{text}"
        );
        let pem = file(PEM);
        let read = Credentials::from_files(Some(pem.path()), None, None, None).unwrap();
        assert!(read.tls());
    }

    /// A token is kept; an empty one (`DISCO_TOKEN=` in an environment
    /// file) is no token at all. Found by mutation testing: disco's tests
    /// built their credentials by hand, so dropping every token passed.
    #[test]
    fn an_empty_token_is_no_token() {
        let with = |t: &str| Credentials::from_files(None, None, None, Some(t.into())).unwrap();
        assert_eq!(with("s3cret").token.as_deref(), Some("s3cret"));
        assert_eq!(with("").token, None);
    }

    /// A TLS store behind an `http://` address (or the reverse) is refused
    /// at start with the fix, not met as a hung or garbled connection.
    #[test]
    fn an_address_with_the_wrong_scheme_is_refused() {
        let at = |a: &str| vec![a.to_string()];
        let plain = Credentials::none();
        assert!(plain
            .check_scheme("endpoint", &at("http://s1:2379"))
            .is_ok());
        let err = plain.check_scheme("endpoint", &at("https://s1:2379"));
        assert!(
            err.as_ref()
                .is_err_and(|e| e.to_string().contains("pass one to reach a TLS store")),
            "{err:?}"
        );
        let ca = file(PEM);
        let tls = Credentials::from_files(Some(ca.path()), None, None, None).unwrap();
        assert!(tls.check_scheme("endpoint", &at("https://s1:2379")).is_ok());
        let err = tls.check_scheme("endpoint", &at("http://s1:2379"));
        assert!(
            err.as_ref()
                .is_err_and(|e| e.to_string().contains("must start with https://")),
            "{err:?}"
        );
    }

    /// The files a user names are what the client shows.
    #[test]
    fn credential_files_are_read() {
        let ca = file(PEM);
        let files = CredentialFiles {
            ca: Some(ca.path().into()),
            token: Some("s3cret".into()),
            ..CredentialFiles::default()
        };
        let read = files.load().unwrap();
        assert!(read.tls() && read.identity.is_none());
        assert_eq!(read.token.as_deref(), Some("s3cret"));
    }
}
