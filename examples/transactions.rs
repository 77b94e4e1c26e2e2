//! Write records and consumer offsets atomically: the README's
//! "Transactions" example, runnable.
//!
//! ```text
//! cargo run --example transactions --features mock                                 # embedded mock cluster
//! KAFKA_BOOTSTRAP=127.0.0.1:9092 cargo run --example transactions --features mock  # a real cluster
//! ```
//!
//! Against the embedded mock it also shows what a `read_committed` reader
//! sees: the committed transaction, not the aborted one.

use std::time::Duration;

use kafka_sync::{
    ConsumerGroupMetadata, OffsetAndMetadata, Producer, ProducerConfig, Record, TransactionError,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut mock = None;
    let bootstrap = match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(servers) => servers,
        Err(_) => {
            let cluster = kafka_sync::mock::MockCluster::start(1)?;
            cluster.create_topic("orders", 3, 1)?;
            cluster.create_topic("raw-orders", 1, 1)?;
            let servers = cluster.bootstrap_servers();
            mock = Some(cluster);
            servers
        }
    };
    let producer = Producer::new(
        ProducerConfig::builder()
            .bootstrap_servers(&bootstrap)
            .transactional_id("orders-loader") // names this producer across restarts
            .build()?,
    )?;
    let t = Duration::from_secs(60);
    producer.init_transactions(t)?; // fences older instances, aborts what they left open

    // A transaction that is rolled back: none of it becomes visible.
    producer.begin_transaction()?;
    producer.send(Record::new("orders").value("never seen"))?.wait()?;
    producer.abort_transaction(t)?;

    // A read-process-write step: output and input offsets commit together.
    producer.begin_transaction()?;
    for line in ["a", "b", "c"] {
        producer.send(Record::new("orders").value(line))?;
    }
    let group = ConsumerGroupMetadata::new("order-readers").with_member(7, "member-1");
    producer.send_offsets_to_transaction(&[OffsetAndMetadata::new("raw-orders", 0, 1234)], &group)?;
    match producer.commit_transaction(t) {
        Ok(()) => println!("committed 3 records and offset 1234 of raw-orders-0"),
        Err(TransactionError::Abortable(why)) => {
            eprintln!("rolled back: {why}"); // e.g. a record was rejected
            producer.abort_transaction(t)?;
        }
        Err(fatal) => return Err(fatal.into()), // fenced by a newer instance, unauthorized, ...
    }
    producer.close(t)?;

    if let Some(cluster) = mock {
        let visible: Vec<String> = (0..3)
            .flat_map(|p| cluster.records_read_committed("orders", p))
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
            .collect();
        println!("a read_committed reader sees: {visible:?}");
        println!("committed offsets of order-readers: {:?}", cluster.committed_offsets("order-readers"));
    }
    Ok(())
}
