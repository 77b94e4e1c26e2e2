//! Cluster and producer settings: the properties from `-F`, `-X` and the
//! subcommands' own options, and the cluster they connect to (`-b`, or an
//! embedded mock).

use std::path::PathBuf;
use std::time::Duration;

use clap::ArgMatches;
use kafka_sync::mock::MockCluster;
use kafka_sync::{Producer, ProducerConfig, ProducerConfigBuilder};

use crate::Failure;

/// Partitions of the topic created in the embedded mock cluster.
const EMBEDDED_PARTITIONS: i32 = 3;

/// The producer properties of `produce` and `perf`, in the order they apply:
/// the config file, then `-X` (and `--producer-props`), then `-z`.
pub(crate) struct Settings {
    properties: Vec<(String, String)>,
    /// `--spool DIR` (`produce`): applied after the properties.
    spool_flag: Option<PathBuf>,
    pub(crate) bootstrap: Option<String>,
    /// The spool directory in effect (`--spool`, or `spool.dir` from `-X`
    /// or `-F`), if any.
    pub(crate) spool: Option<PathBuf>,
    /// `delivery.timeout.ms` in effect.
    pub(crate) delivery_timeout: Duration,
}

impl Settings {
    /// Reads and checks the settings: any error is a usage error, found
    /// before anything starts.
    pub(crate) fn from_matches(m: &ArgMatches, client_id: &str) -> Result<Self, Failure> {
        let mut properties = vec![("client.id".to_owned(), client_id.to_owned())];
        if let Ok(Some(path)) = m.try_get_one::<PathBuf>("config_file") {
            properties.extend(read_properties_file(path)?);
        }
        for id in ["property", "producer_props"] {
            if let Ok(Some(values)) = m.try_get_many::<(String, String)>(id) {
                properties.extend(values.cloned());
            }
        }
        if let Ok(Some(codec)) = m.try_get_one::<String>("compression") {
            properties.push(("compression.type".into(), codec.clone()));
        }
        let bootstrap = m.get_one::<String>("bootstrap").cloned().or_else(|| {
            properties
                .iter()
                .rev()
                .find(|(k, _)| k == "bootstrap.servers" || k == "metadata.broker.list")
                .map(|(_, v)| v.clone())
        });
        let spool_flag = m.try_get_one::<PathBuf>("spool").ok().flatten().cloned();
        let mut settings =
            Self { properties, spool_flag, bootstrap, spool: None, delivery_timeout: Duration::ZERO };
        // Range and consistency checks happen in `build`: run them now, with
        // a stand-in address if the embedded cluster will provide the real one.
        let checked = settings.config(settings.bootstrap.as_deref().unwrap_or("127.0.0.1:9092"))?;
        settings.spool = checked.spool_dir().map(PathBuf::from);
        settings.delivery_timeout = checked.delivery_timeout();
        Ok(settings)
    }

    pub(crate) fn config(&self, bootstrap: &str) -> Result<ProducerConfig, Failure> {
        self.config_with(bootstrap, |b| b)
    }

    /// [`Self::config`], with `more` applied to the builder last.
    fn config_with(
        &self,
        bootstrap: &str,
        more: impl FnOnce(ProducerConfigBuilder) -> ProducerConfigBuilder,
    ) -> Result<ProducerConfig, Failure> {
        let mut builder = ProducerConfig::builder()
            .set_all(self.properties.iter().map(|(k, v)| (k, v)))
            .bootstrap_servers(bootstrap);
        if let Some(dir) = &self.spool_flag {
            builder = builder.spool_dir(dir);
        }
        more(builder).build().map_err(|e| Failure::Usage(format!("invalid producer configuration: {e}")))
    }

    pub(crate) fn producer(&self, cluster: &Cluster) -> Result<Producer, Failure> {
        self.producer_with(cluster, |b| b)
    }

    /// [`Self::producer`], with `more` applied to its configuration last.
    pub(crate) fn producer_with(
        &self,
        cluster: &Cluster,
        more: impl FnOnce(ProducerConfigBuilder) -> ProducerConfigBuilder,
    ) -> Result<Producer, Failure> {
        let config = self.config_with(&cluster.bootstrap, more)?;
        Producer::new(config).map_err(|e| Failure::Runtime(format!("cannot start the producer: {e}")))
    }
}

/// Java-style properties: `KEY=VALUE` (or `KEY: VALUE`) lines; `#` and `!`
/// start comments.
fn read_properties_file(path: &PathBuf) -> Result<Vec<(String, String)>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (k, v) = line.split_once(['=', ':']).ok_or_else(|| {
            Failure::Usage(format!("{}:{}: expected KEY=VALUE, found {line:?}", path.display(), n + 1))
        })?;
        let (k, v) = (k.trim(), v.trim());
        ProducerConfig::builder()
            .try_set(k, v)
            .map_err(|e| Failure::Usage(format!("{}:{}: {e}", path.display(), n + 1)))?;
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

/// The cluster to talk to: the one named by `-b`, or an embedded mock that
/// lives as long as this value.
pub(crate) struct Cluster {
    pub(crate) bootstrap: String,
    pub(crate) embedded: Option<MockCluster>,
}

impl Cluster {
    /// Uses `bootstrap`, or starts an embedded mock cluster (and creates
    /// `topic` in it) if there is none.
    pub(crate) fn connect(bootstrap: Option<&str>, topic: Option<&str>) -> Result<Self, Failure> {
        if let Some(b) = bootstrap {
            return Ok(Self { bootstrap: b.to_owned(), embedded: None });
        }
        let mock = MockCluster::start(1)
            .map_err(|e| Failure::Runtime(format!("cannot start the embedded mock cluster: {e}")))?;
        if let Some(t) = topic {
            mock.create_topic(t, EMBEDDED_PARTITIONS, 1)
                .map_err(|e| Failure::Runtime(format!("cannot create topic {t:?}: {e}")))?;
        }
        let bootstrap = mock.bootstrap_servers();
        eprintln!(
            "kafka-sync: no -b given: using an embedded mock cluster at {bootstrap} (data is not persisted)"
        );
        Ok(Self { bootstrap, embedded: Some(mock) })
    }
}

/// A `&'static str` for the topic, so that every `Record::new` is free.
pub(crate) fn leak_topic(m: &ArgMatches) -> &'static str {
    Box::leak(m.get_one::<String>("topic").expect("required").clone().into_boxed_str())
}
