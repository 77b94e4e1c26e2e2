//! Temporary smoke test against a broker given in KAFKA_BOOTSTRAP.
use kafka_sync::{Producer, ProducerConfig, Record};
use std::time::{Duration, Instant};

fn main() {
    env_logger_lite();
    let bootstrap = std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(1000);
    let cfg = ProducerConfig::builder().bootstrap_servers(&bootstrap).build().unwrap();
    let p = Producer::new(cfg).unwrap();
    let t = Instant::now();
    let mut hs = Vec::with_capacity(n);
    for i in 0..n {
        let r = Record::new("smoke").key(&format!("k{}", i % 10)).value(&vec![b'x'; 100]);
        hs.push(p.send(r).unwrap());
    }
    let mut ok = 0;
    let mut last = None;
    for h in hs {
        match h.wait() {
            Ok(m) => {
                ok += 1;
                last = Some(m);
            }
            Err(e) => {
                eprintln!("error: {e}");
            }
        }
    }
    let el = t.elapsed();
    println!("{ok}/{n} ok in {el:?} ({:.0} rec/s); last {last:?}", n as f64 / el.as_secs_f64());
    println!("{:#?}", p.metrics());
    p.close(Duration::from_secs(5)).unwrap();
}

fn env_logger_lite() {
    struct L;
    impl log::Log for L {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Info
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("[{}] {}", r.level(), r.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: L = L;
    let _ = log::set_logger(&LOGGER).map(|()| log::set_max_level(log::LevelFilter::Info));
}
