//! `zk-client` with its `tls` feature against the real ZooKeeper 3.8.0 server's
//! `secureClientPort` (Netty, PKCS12 keystore made with `openssl`).
//!
//! Real server only: `zk-server-mini` has no TLS listener yet, so unlike `client_ops` and
//! `client_faults` this does not run on `zk_integration_tests::backend`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use zk_client::rustls;
use zk_client::rustls::pki_types::CertificateDer;
use zk_client::rustls::pki_types::pem::PemObject;
use zk_client::{Client, CreateOptions, Error, SessionState};
use zk_integration_tests::{RealZk, ZkOptions, require, require_real_zk, reserve_port};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1, the latter as a PKCS12 keystore.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=zk-test-ca",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext.cnf");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-in",
            "server.pem",
            "-inkey",
            "server.key",
            "-out",
            "server.p12",
            "-passout",
            "pass:secret",
            "-name",
            "server",
        ],
    );
}

fn client_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("read ca.pem") {
        roots.add(cert.expect("a certificate")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_the_secure_client_port() {
    require_real_zk!();
    require!(
        "openssl",
        Command::new("openssl")
            .arg("version")
            .output()
            .map_err(|e| e.to_string())
    );
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let secure = reserve_port().unwrap();
    let keystore = certs.path().join("server.p12");
    let opts = ZkOptions::default()
        .netty(true)
        .config("secureClientPort", &secure.port().to_string())
        .jvm_property(
            "zookeeper.ssl.keyStore.location",
            &keystore.display().to_string(),
        )
        .jvm_property("zookeeper.ssl.keyStore.password", "secret")
        .jvm_property("zookeeper.ssl.keyStore.type", "PKCS12")
        .jvm_property("zookeeper.ssl.clientAuth", "none");
    let zk = RealZk::start_standalone(opts)
        .await
        .expect("start the reference server");
    let config = client_config(&certs.path().join("ca.pem"));
    let secure_addr = format!("127.0.0.1:{}", secure.port());

    let c = tokio::time::timeout(
        Duration::from_secs(60),
        Client::builder(&secure_addr)
            .tls(Arc::clone(&config))
            .initial_connect_timeout(Duration::from_secs(30))
            .connect(),
    )
    .await
    .expect("bounded")
    .expect("TLS session");
    assert_eq!(c.state(), SessionState::Connected);
    c.create("/tls", b"secret data", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(&c.get_data("/tls").await.unwrap().0[..], b"secret data");
    // Pipelined requests over TLS.
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { c.set_data("/tls", format!("{i}"), None).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let plain = Client::connect(&zk.connect_string()).await.unwrap();
    assert_eq!(plain.get_data("/tls").await.unwrap().1.version, 200);
    c.close().await;
    plain.close().await;

    // A client that does not trust the server's CA never gets a session.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let untrusting = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    );
    let err = Client::builder(&secure_addr)
        .tls(untrusting)
        .initial_connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
}
