//! Produce a few records and print where they were written.
//!
//! ```text
//! cargo run --example quickstart --features mock                                 # embedded mock cluster
//! KAFKA_BOOTSTRAP=127.0.0.1:9092 cargo run --example quickstart --features mock  # a real cluster
//! ```
//!
//! On a real cluster, the topic `quickstart` must exist (or the broker must
//! auto-create topics): `kafka-sync topic create quickstart --partitions 3`.

use std::time::Duration;

use kafka_sync::{Producer, ProducerConfig, Record};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A real cluster if KAFKA_BOOTSTRAP is set, else an in-process mock one.
    let mut _mock = None;
    let bootstrap = match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(servers) => servers,
        Err(_) => {
            let cluster = kafka_sync::mock::MockCluster::start(1)?;
            cluster.create_topic("quickstart", 3, 1)?;
            let servers = cluster.bootstrap_servers();
            _mock = Some(cluster);
            servers
        }
    };

    let config = ProducerConfig::builder()
        .bootstrap_servers(&bootstrap)
        .set("linger.ms", "5") // Kafka's property names work too
        .build()?;
    let producer = Producer::new(config)?;

    // `send` returns at once with a handle; keep them to wait for the outcomes.
    let mut handles = Vec::new();
    // Records with the same key go to the same partition, in order.
    for (user, event) in [("alice", "login"), ("dave", "login"), ("carol", "checkout"), ("alice", "logout")] {
        let record = Record::new("quickstart").key(user).value(event).header("source", "quickstart");
        handles.push(producer.send(record)?);
    }

    for handle in handles {
        let meta = handle.wait()?; // blocks until the broker acknowledged the record
        let offset = meta.offset().map_or("unknown (acks=0)".to_owned(), |o| o.to_string());
        println!("written to {}-{} at offset {offset}", meta.topic(), meta.partition());
    }

    producer.close(Duration::from_secs(10))?;
    Ok(())
}
