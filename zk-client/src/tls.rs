//! TLS (rustls) to a server's `secureClientPort`, behind the `tls` feature.

use std::io;
use std::sync::Arc;

use rustls::pki_types::ServerName;

use crate::driver::{BoxTransport, Connector};

/// A connector that opens TCP, then TLS with `config`, checking the certificate against the
/// host name of the connect string (an IP address is checked against the certificate's IP SANs).
pub(crate) fn tls_connector(config: Arc<rustls::ClientConfig>) -> Connector {
    let connector = tokio_rustls::TlsConnector::from(config);
    Arc::new(move |host: String, port: u16| {
        let connector = connector.clone();
        Box::pin(async move {
            let name = ServerName::try_from(host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(name, tcp).await?;
            Ok(Box::new(tls) as BoxTransport)
        })
    })
}
