//! `kafka-sync topic`: create, list and delete topics.

use std::process::ExitCode;

use clap::ArgMatches;
use kafka_sync::admin::Admin;

use crate::settings::{Cluster, Settings};
use crate::{print_line, Failure};

pub(crate) fn topic(m: &ArgMatches) -> Result<ExitCode, Failure> {
    let (action, sub) = m.subcommand().expect("a topic subcommand is required");
    // The connection settings (security.protocol, ssl.*, sasl.*) come from
    // -X and -F (alias --command-config, as kafka-topics.sh names it).
    let settings = Settings::from_matches(sub, "kafka-sync-admin")?;
    let cluster = Cluster::connect(settings.bootstrap.as_deref(), None)?;
    let admin = Admin::from_config(&settings.config(&cluster.bootstrap)?);
    match action {
        "create" => {
            let name = sub.get_one::<String>("name").expect("required");
            let partitions = sub.get_one::<i32>("partitions").copied().unwrap_or(-1);
            let replication = sub.get_one::<i16>("replication").copied().unwrap_or(-1);
            admin
                .create_topic(name, partitions, replication)
                .map_err(|e| Failure::Runtime(format!("cannot create topic {name:?}: {e}")))?;
            print_line(&format!("Created topic {name}."));
        }
        "list" => {
            let topics =
                admin.list_topics().map_err(|e| Failure::Runtime(format!("cannot list topics: {e}")))?;
            let long = sub.get_flag("long");
            for t in topics {
                if long {
                    let internal = if t.internal { "\tinternal" } else { "" };
                    print_line(&format!("{}\t{} partitions{internal}", t.name, t.partitions));
                } else {
                    print_line(&t.name);
                }
            }
        }
        "delete" => {
            let name = sub.get_one::<String>("name").expect("required");
            admin
                .delete_topic(name)
                .map_err(|e| Failure::Runtime(format!("cannot delete topic {name:?}: {e}")))?;
            print_line(&format!("Deleted topic {name}."));
        }
        _ => unreachable!("clap only accepts known subcommands"),
    }
    drop(cluster);
    Ok(ExitCode::SUCCESS)
}
