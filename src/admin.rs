//! [`Admin`]: create, delete and list topics.
//!
//! A small synchronous admin client for tools and tests: each call opens a
//! connection to a bootstrap broker (and to the controller for creates and
//! deletes, as brokers before KRaft require), sends one request, and waits
//! for its answer within the request timeout.

use std::fmt;
use std::time::Duration;

use crate::engine::connection::{ConnError, ConnectOptions, Connection};
use crate::error::KafkaCode;
use crate::protocol::messages::create_topics::{CreatableTopic, CreateTopicsRequest};
use crate::protocol::messages::delete_topics::DeleteTopicsRequest;
use crate::protocol::messages::metadata::{MetadataRequest, MetadataResponse};
use crate::protocol::Request;

/// An admin operation's failure.
#[derive(Debug)]
#[non_exhaustive]
pub enum AdminError {
    /// No bootstrap broker could be reached (the last connection error).
    Unreachable(String),
    /// The broker answered with an error code.
    Broker {
        /// The error code.
        code: KafkaCode,
        /// The broker's message, if any.
        message: Option<String>,
    },
    /// A connection or protocol failure during the request.
    Protocol(String),
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(e) => write!(f, "no broker reachable: {e}"),
            Self::Broker { code, message: Some(m) } => write!(f, "{code}: {m}"),
            Self::Broker { code, message: None } => write!(f, "{code}"),
            Self::Protocol(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<ConnError> for AdminError {
    fn from(e: ConnError) -> Self {
        Self::Protocol(e.to_string())
    }
}

/// A topic as [`Admin::list_topics`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicListing {
    /// The topic name.
    pub name: String,
    /// Its partition count.
    pub partitions: usize,
    /// Whether it is an internal topic (e.g. `__consumer_offsets`).
    pub internal: bool,
}

/// A synchronous admin client.
///
/// ```no_run
/// use kafka_sync::admin::Admin;
/// let admin = Admin::new("127.0.0.1:9092");
/// admin.create_topic("orders", 3, 1)?;
/// for t in admin.list_topics()? {
///     println!("{} ({} partitions)", t.name, t.partitions);
/// }
/// # Ok::<(), kafka_sync::admin::AdminError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Admin {
    bootstrap: Vec<(String, u16)>,
    opts: ConnectOptions,
}

impl Admin {
    /// An admin client for the cluster at `bootstrap` (`host:port[,host:port...]`);
    /// malformed entries are ignored. Connects lazily, per call.
    pub fn new(bootstrap: &str) -> Self {
        let bootstrap = bootstrap
            .split(',')
            .filter_map(|s| {
                let s = s.trim();
                let (h, p) = s.rsplit_once(':')?;
                Some((h.trim_start_matches('[').trim_end_matches(']').to_owned(), p.parse().ok()?))
            })
            .collect();
        Self {
            bootstrap,
            opts: ConnectOptions::new(
                "kafka-sync-admin".into(),
                Duration::from_secs(10),
                Duration::from_secs(30),
            ),
        }
    }

    /// An admin client with a producer configuration's bootstrap servers,
    /// client id, timeouts and security settings (TLS, SASL).
    pub fn from_config(config: &crate::ProducerConfig) -> Self {
        let opts = ConnectOptions::new(
            config.client_id().to_owned(),
            config.socket_connection_setup_timeout(),
            config.request_timeout(),
        )
        .secured(config.security());
        Self { bootstrap: config.bootstrap_servers().to_vec(), opts }
    }

    /// Sets the per-request timeout (also sent to the broker as the operation
    /// timeout). Defaults to 30 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.opts.request_timeout = timeout;
        self
    }

    fn connect_any(&self) -> Result<Connection, AdminError> {
        let mut last = String::from("no bootstrap server given");
        for (h, p) in &self.bootstrap {
            match Connection::connect(h, *p, &self.opts) {
                Ok(c) => return Ok(c),
                Err(e) => last = format!("{h}:{p}: {e}"),
            }
        }
        Err(AdminError::Unreachable(last))
    }

    fn metadata(conn: &mut Connection, topics: Option<Vec<String>>) -> Result<MetadataResponse, AdminError> {
        let v = version_of::<MetadataRequest>(conn)?;
        let mut req = match topics {
            Some(t) => MetadataRequest::for_topics(t),
            None => MetadataRequest::all_topics(),
        };
        req.allow_auto_topic_creation = false;
        Ok(conn.round_trip(&req, v)?)
    }

    /// A connection to the controller (or to any broker if none is named).
    fn connect_controller(&self) -> Result<Connection, AdminError> {
        let mut conn = self.connect_any()?;
        let meta = Self::metadata(&mut conn, Some(Vec::new()))?;
        if let Some(b) = meta.brokers.iter().find(|b| b.node_id == meta.controller_id) {
            if let Ok(port) = u16::try_from(b.port) {
                if let Ok(c) = Connection::connect(&b.host, port, &self.opts) {
                    return Ok(c);
                }
            }
        }
        Ok(conn)
    }

    fn timeout_ms(&self) -> i32 {
        self.opts.request_timeout.as_millis().min(i32::MAX as u128) as i32
    }

    /// Creates `name` with `partitions` partitions and replication factor
    /// `replication`. Fails with `TOPIC_ALREADY_EXISTS` if it exists.
    pub fn create_topic(&self, name: &str, partitions: i32, replication: i16) -> Result<(), AdminError> {
        let mut conn = self.connect_controller()?;
        let v = version_of::<CreateTopicsRequest>(&mut conn)?;
        let req = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: name.to_owned(),
                num_partitions: partitions,
                replication_factor: replication,
                ..Default::default()
            }],
            timeout_ms: self.timeout_ms(),
            ..Default::default()
        };
        let resp = conn.round_trip(&req, v)?;
        match resp.topics.iter().find(|t| t.name == name) {
            Some(t) if t.error_code == 0 => Ok(()),
            Some(t) => {
                Err(AdminError::Broker { code: KafkaCode(t.error_code), message: t.error_message.clone() })
            }
            None => Err(AdminError::Protocol(format!("CreateTopics response did not mention {name}"))),
        }
    }

    /// Deletes `name`.
    pub fn delete_topic(&self, name: &str) -> Result<(), AdminError> {
        let mut conn = self.connect_controller()?;
        let v = version_of::<DeleteTopicsRequest>(&mut conn)?;
        let req = DeleteTopicsRequest::for_names([name.to_owned()], self.timeout_ms(), v);
        let resp = conn.round_trip(&req, v)?;
        match resp.responses.iter().find(|t| t.name.as_deref() == Some(name)).or(resp.responses.first()) {
            Some(t) if t.error_code == 0 => Ok(()),
            Some(t) => {
                Err(AdminError::Broker { code: KafkaCode(t.error_code), message: t.error_message.clone() })
            }
            None => Err(AdminError::Protocol(format!("DeleteTopics response did not mention {name}"))),
        }
    }

    /// Every topic in the cluster, sorted by name.
    pub fn list_topics(&self) -> Result<Vec<TopicListing>, AdminError> {
        let mut conn = self.connect_any()?;
        let meta = Self::metadata(&mut conn, None)?;
        let mut v: Vec<TopicListing> = meta
            .topics
            .iter()
            .filter(|t| t.error_code == 0)
            .filter_map(|t| {
                Some(TopicListing {
                    name: t.name.clone()?,
                    partitions: t.partitions.len(),
                    internal: t.is_internal,
                })
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }
}

fn version_of<R: Request>(conn: &mut Connection) -> Result<i16, AdminError> {
    conn.versions().version_of::<R>().ok_or_else(|| {
        AdminError::Protocol(format!(
            "the broker supports no version of API {} that this client implements",
            R::API_KEY
        ))
    })
}
