//! Which certificates the client trusts, and how a certificate it refuses is recognised. Banks
//! inspect TLS with an internal CA: the operating system's store (or `SSL_CERT_FILE` and
//! `SSL_CERT_DIR`, as curl reads them) and `--ca-cert` are trusted beside the bundled web roots.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The certificates trusted beside the bundled web roots (Mozilla's, built in).
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    /// From `--ca-cert`, `SSL_CERT_FILE` and `SSL_CERT_DIR`.
    roots: Vec<CertificateDer<'static>>,
    /// The operating system's store; left out when `SSL_CERT_FILE` or `SSL_CERT_DIR` names the
    /// certificates in its place, as they do for OpenSSL and curl.
    os_store: bool,
}

impl Default for Trust {
    fn default() -> Trust {
        Trust {
            roots: Vec::new(),
            os_store: true,
        }
    }
}

/// A certificate file or directory that cannot serve as trusted roots.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TrustError {
    #[error("cannot read {from} {path}: {error}")]
    Unreadable {
        from: &'static str,
        path: String,
        error: std::io::Error,
    },
    #[error("{from} {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty { from: &'static str, path: String },
    #[error("{from} {path} is not a valid PEM certificate file: {why}")]
    Invalid {
        from: &'static str,
        path: String,
        why: String,
    },
}

impl Trust {
    /// Reads `--ca-cert` and the variables `env` gives for `SSL_CERT_FILE` and `SSL_CERT_DIR`
    /// (a list separated by `:`, as OpenSSL reads it). Every certificate must parse: a broken
    /// file is found now, before any call, rather than as an untrusted server later.
    pub(crate) fn load(
        ca_cert: Option<&Path>,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Trust, TrustError> {
        let mut trust = Trust::default();
        if let Some(path) = ca_cert {
            trust.roots.extend(read_pem_file("--ca-cert", path)?);
        }
        if let Some(file) = env("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
            trust.os_store = false;
            trust
                .roots
                .extend(read_pem_file("SSL_CERT_FILE", Path::new(&file))?);
        }
        if let Some(dirs) = env("SSL_CERT_DIR").filter(|d| !d.is_empty()) {
            trust.os_store = false;
            for dir in dirs.split(':').filter(|d| !d.is_empty()) {
                trust.roots.extend(read_pem_dir(Path::new(dir))?);
            }
        }
        Ok(trust)
    }

    /// The trusted roots set on a client under construction.
    pub(crate) fn apply(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, reqwest::Error> {
        let mut builder = builder
            .tls_built_in_webpki_certs(true)
            .tls_built_in_native_certs(self.os_store);
        for root in &self.roots {
            builder = builder.add_root_certificate(reqwest::Certificate::from_der(root)?);
        }
        Ok(builder)
    }
}

/// Every certificate in a PEM file; at least one, and each a certificate rustls accepts as a
/// trust anchor.
fn read_pem_file(
    from: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let shown = || path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| TrustError::Unreadable {
        from,
        path: shown(),
        error,
    })?;
    let certificates = parse_pem(&bytes).map_err(|why| TrustError::Invalid {
        from,
        path: shown(),
        why,
    })?;
    if certificates.is_empty() {
        return Err(TrustError::Empty {
            from,
            path: shown(),
        });
    }
    Ok(certificates)
}

/// The certificates of a directory such as `/etc/ssl/certs`: its files that hold PEM
/// certificates (others, such as revocation lists or keys, are passed over), at least one.
fn read_pem_dir(dir: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    const FROM: &str = "SSL_CERT_DIR";
    let unreadable = |error| TrustError::Unreadable {
        from: FROM,
        path: dir.display().to_string(),
        error,
    };
    let mut certificates = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        // A file that cannot be read, or is no certificate, is not one to trust.
        if let Ok(parsed) = std::fs::read(&path).map(|bytes| parse_pem(&bytes)) {
            certificates.extend(parsed.unwrap_or_default());
        }
    }
    if certificates.is_empty() {
        return Err(TrustError::Empty {
            from: FROM,
            path: dir.display().to_string(),
        });
    }
    Ok(certificates)
}

/// The certificates of PEM text, each checked to be one rustls can use as a root.
fn parse_pem(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut store = rustls::RootCertStore::empty();
    for certificate in &certificates {
        store
            .add(certificate.clone())
            .map_err(|e| format!("a certificate does not parse ({e})"))?;
    }
    Ok(certificates)
}

/// Why the server's certificate was refused, when that is why the call failed: rustls says so
/// somewhere down the chain of sources, wrapped in an `io::Error` by the TLS stream.
pub(crate) fn untrusted_certificate(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(rustls::Error::InvalidCertificate(why)) = error.downcast_ref::<rustls::Error>()
        {
            return Some(describe(why));
        }
        // `io::Error::source` skips the error it wraps; look at that one too.
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            if let Some(why) = untrusted_certificate(inner) {
                return Some(why);
            }
        }
        next = error.source();
    }
    None
}

fn describe(why: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match why {
        E::UnknownIssuer => "issued by an authority not among the trusted roots".to_string(),
        E::Expired | E::ExpiredContext { .. } => "expired".to_string(),
        E::NotValidYet | E::NotValidYetContext { .. } => "not valid yet".to_string(),
        E::Revoked => "revoked".to_string(),
        E::BadSignature => "badly signed".to_string(),
        E::Other(other) => other.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'static str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn ca_cert_and_ssl_cert_file_add_roots_and_the_variables_replace_the_os_store() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle.pem");
        std::fs::write(&bundle, format!("{}{}", ca_pem(), ca_pem())).unwrap();
        let trust = Trust::load(Some(&bundle), &env(&[])).unwrap();
        assert_eq!(trust.roots.len(), 2);
        assert!(trust.os_store);

        let file = dir.path().join("one.pem");
        std::fs::write(&file, ca_pem()).unwrap();
        let vars = [("SSL_CERT_FILE", file.display().to_string())];
        let trust = Trust::load(Some(&bundle), &env(&vars)).unwrap();
        assert_eq!(trust.roots.len(), 3);
        assert!(!trust.os_store);
    }

    #[test]
    fn ssl_cert_dir_reads_the_certificates_among_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).unwrap();
        std::fs::write(certs.join("a.pem"), ca_pem()).unwrap();
        std::fs::write(certs.join("README"), "not a certificate").unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let vars = [("SSL_CERT_DIR", format!(":{}", certs.display()))];
        let trust = Trust::load(None, &env(&vars)).unwrap();
        assert_eq!(trust.roots.len(), 1);
        assert!(!trust.os_store);
        let vars = [("SSL_CERT_DIR", empty.display().to_string())];
        let err = Trust::load(None, &env(&vars)).unwrap_err().to_string();
        assert!(
            err.contains("SSL_CERT_DIR") && err.contains("no PEM"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_certificate_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let text = dir.path().join("text.pem");
        std::fs::write(&text, "hello\n").unwrap();
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        for (path, expected) in [
            (&missing, "cannot read"),
            (&text, "no PEM certificate"),
            (&broken, "not a valid PEM"),
        ] {
            let err = Trust::load(Some(path), &env(&[])).unwrap_err().to_string();
            assert!(
                err.contains("--ca-cert") && err.contains(&*path.display().to_string()),
                "{err}"
            );
            assert!(err.contains(expected), "{err}");
        }
        let vars = [("SSL_CERT_FILE", missing.display().to_string())];
        let err = Trust::load(None, &env(&vars)).unwrap_err().to_string();
        assert!(err.contains("SSL_CERT_FILE"), "{err}");
    }

    #[test]
    fn a_refused_certificate_is_found_inside_an_io_error() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = std::io::Error::new(std::io::ErrorKind::InvalidData, refused);
        #[derive(Debug, thiserror::Error)]
        #[error("connect failed")]
        struct Outer(#[source] std::io::Error);
        let outer = Outer(wrapped);
        let why = untrusted_certificate(&outer);
        assert!(why.is_some_and(|w| w.contains("authority")));
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(untrusted_certificate(&Outer(other)), None);
    }
}
