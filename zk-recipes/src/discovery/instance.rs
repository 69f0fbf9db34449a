//! `ServiceInstance`, in the JSON that Curator's `JsonInstanceSerializer` writes and reads.

use serde::{Deserialize, Serialize};

/// How an instance is registered (Curator's `ServiceType`).
///
/// ```
/// use zk_recipes::discovery::{ServiceInstance, ServiceType};
/// let mut i = ServiceInstance::new("web", "i-1", "h", 80);
/// i.service_type = ServiceType::Static; // a persistent registration
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceType {
    /// An ephemeral node: gone with the session, re-registered on the next one.
    Dynamic,
    /// An ephemeral sequential node (Curator's `DYNAMIC_SEQUENTIAL`).
    DynamicSequential,
    /// A persistent node.
    Static,
    /// A persistent node (Curator treats it like `STATIC`).
    Permanent,
}

/// One instance of a service: `base/<name>/<id>` holds it as JSON.
///
/// The field names and types are Curator's, so Java `ServiceDiscovery` instances read what
/// this crate writes and the other way round. `payload` and `uri_spec` are kept as raw JSON.
///
/// ```
/// use zk_recipes::discovery::ServiceInstance;
///
/// let instance = ServiceInstance::new("web", "i-1", "10.0.0.7", 8080);
/// let json = instance.to_json();
/// assert_eq!(ServiceInstance::from_json(&json).unwrap(), instance);
/// assert!(ServiceInstance::from_json(b"not json").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInstance {
    /// The service's name.
    pub name: String,
    /// The instance's id (the node's name).
    pub id: String,
    /// Host name or address.
    pub address: Option<String>,
    /// Port.
    pub port: Option<i32>,
    /// TLS port.
    pub ssl_port: Option<i32>,
    /// Any JSON the application attaches.
    pub payload: Option<serde_json::Value>,
    /// Registration time, milliseconds since the Unix epoch (UTC).
    #[serde(rename = "registrationTimeUTC")]
    pub registration_time_utc: i64,
    /// How the instance is registered.
    pub service_type: ServiceType,
    /// Curator's `UriSpec`, as JSON.
    pub uri_spec: Option<serde_json::Value>,
    /// Whether clients should use this instance (absent in old Curator JSON: true).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

impl ServiceInstance {
    /// A `DYNAMIC` instance registered now, enabled, without payload.
    ///
    /// ```
    /// let i = zk_recipes::discovery::ServiceInstance::new("web", "i-1", "10.0.0.7", 8080);
    /// assert_eq!(i.port, Some(8080));
    /// ```
    pub fn new(name: &str, id: &str, address: &str, port: u16) -> ServiceInstance {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        ServiceInstance {
            name: name.to_owned(),
            id: id.to_owned(),
            address: Some(address.to_owned()),
            port: Some(i32::from(port)),
            ssl_port: None,
            payload: None,
            registration_time_utc: now,
            service_type: ServiceType::Dynamic,
            uri_spec: None,
            enabled: true,
        }
    }

    /// The JSON bytes stored in the instance's node.
    ///
    /// ```
    /// let i = zk_recipes::discovery::ServiceInstance::new("web", "i-1", "h", 1);
    /// assert!(String::from_utf8(i.to_json()).unwrap().contains("\"serviceType\":\"DYNAMIC\""));
    /// ```
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings, numbers and `Value`s cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses an instance node's bytes.
    ///
    /// ```
    /// let bytes = br#"{"name":"s","id":"1","address":"h","port":5,"sslPort":null,
    ///   "payload":null,"registrationTimeUTC":0,"serviceType":"STATIC","uriSpec":null}"#;
    /// let i = zk_recipes::discovery::ServiceInstance::from_json(bytes).unwrap();
    /// assert!(i.enabled);
    /// ```
    ///
    /// # Errors
    /// The JSON error when the bytes are not a `ServiceInstance`.
    pub fn from_json(data: &[u8]) -> Result<ServiceInstance, serde_json::Error> {
        serde_json::from_slice(data)
    }
}
