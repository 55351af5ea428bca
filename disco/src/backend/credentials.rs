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
