//! HTTPS for the fake org: a throwaway certificate authority made at start,
//! a server certificate it signs for `127.0.0.1` and `localhost`, and the
//! rustls configuration that serves it.
//!
//! Clients trust the fake by trusting the authority's PEM (sfsync's
//! `ca_file`, Python's `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`). A separate
//! authority, rather than one self-signed server certificate, is what every
//! verifier accepts: rustls refuses a CA certificate as a server's, and
//! strict OpenSSL settings want a proper issuer.

use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The names the server certificate is valid for.
const SERVER_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// What a TLS fake org needs: the acceptor for connections and the
/// authority's certificate for clients to trust.
#[derive(Clone)]
pub(crate) struct Tls {
    pub acceptor: TlsAcceptor,
    pub ca_pem: String,
}

impl Tls {
    /// Makes a new authority and server certificate; nothing is reused
    /// between runs, so nothing needs keeping secret.
    pub fn generate() -> anyhow::Result<Tls> {
        let ca_key = KeyPair::generate().context("making the CA key")?;
        let ca_params = authority_params()?;
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .context("self-signing the CA certificate")?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().context("making the server key")?;
        let server_cert = server_params()?
            .signed_by(&server_key, &issuer)
            .context("signing the server certificate")?;

        let chain = vec![server_cert.der().clone(), ca_cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let config = server_config(chain, key)?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_pem: ca_cert.pem(),
        })
    }
}

fn authority_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "fake-org throwaway CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn server_params() -> anyhow::Result<CertificateParams> {
    let names: Vec<String> = SERVER_NAMES.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).context("naming the server certificate")?;
    params
        .distinguished_name
        .push(DnType::CommonName, "fake-org on loopback");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

/// HTTP/1.1 over TLS 1.2 or 1.3, with aws-lc-rs named explicitly because
/// the workspace builds rustls with more than one crypto provider.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> anyhow::Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("loading the server certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
