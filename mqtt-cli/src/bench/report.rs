//! The summary of a bench run: a table for people, a JSON object for scripts, and the exit
//! status (a broken QoS guarantee fails the run).

use std::fmt::Write as _;
use std::time::Duration;

use mqtt_sansio_mio::QoS;
use serde_json::{json, Value};

use super::stats::Histogram;
use crate::conn::{qos_number, Version};
use crate::error::CliError;

/// What a run measured.
pub(crate) struct Summary {
    pub(crate) publishers: u32,
    pub(crate) subscribers: u32,
    pub(crate) count: u64,
    pub(crate) size: usize,
    pub(crate) qos: QoS,
    pub(crate) version: Version,
    pub(crate) rate: f64,
    pub(crate) published: u64,
    /// From the start until the last publisher had every message acknowledged.
    pub(crate) publish_elapsed: Duration,
    /// Deliveries, duplicates included, summed over the subscribers.
    pub(crate) received: u64,
    /// From the start until the last delivery.
    pub(crate) receive_elapsed: Duration,
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
    pub(crate) foreign: u64,
    pub(crate) latency: Histogram,
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

fn millis(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

impl Summary {
    fn version_name(&self) -> &'static str {
        match self.version {
            Version::V311 => "3.1.1",
            Version::V5 => "5.0",
        }
    }

    fn rate_text(&self) -> String {
        if self.rate > 0.0 {
            format!("{} msg/s per publisher", self.rate)
        } else {
            "unlimited rate".into()
        }
    }

    /// The table: a heading line, the throughput rows and the latency percentiles.
    pub(crate) fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "mqtt bench: {} publishers x {} messages, {} subscribers, QoS {}, {} B payloads, MQTT {}, {}",
            self.publishers,
            self.count,
            self.subscribers,
            qos_number(self.qos),
            self.size,
            self.version_name(),
            self.rate_text()
        );
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<10} {:>10} {:>10} {:>12} {:>9} {:>8} {:>10}",
            "", "messages", "seconds", "msg/s", "MB/s", "lost", "duplicated"
        );
        let rows = [
            ("published", self.published, self.publish_elapsed, None),
            (
                "received",
                self.received,
                self.receive_elapsed,
                Some((self.lost, self.duplicated)),
            ),
        ];
        for (name, n, elapsed, losses) in rows {
            let rate = per_second(n, elapsed);
            let (lost, dup) = match losses {
                Some((l, d)) => (l.to_string(), d.to_string()),
                None => ("-".into(), "-".into()),
            };
            let _ = writeln!(
                t,
                "{:<10} {:>10} {:>10.3} {:>12.1} {:>9.3} {:>8} {:>10}",
                name,
                n,
                elapsed.as_secs_f64(),
                rate,
                rate * self.size as f64 / 1e6,
                lost,
                dup
            );
        }
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:<10} {:>10} {:>10} {:>10} {:>10}",
            "latency", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        let p = |q: f64| {
            self.latency
                .percentile(q)
                .map_or("-".to_string(), |v| format!("{:.3}", millis(v)))
        };
        let max = if self.latency.len() == 0 {
            "-".to_string()
        } else {
            format!("{:.3}", millis(self.latency.max()))
        };
        let _ = writeln!(
            t,
            "{:<10} {:>10} {:>10} {:>10} {:>10}",
            "",
            p(50.0),
            p(90.0),
            p(99.0),
            max
        );
        if self.foreign > 0 {
            let _ = writeln!(
                t,
                "\n{} messages on the bench topics were not from this run (ignored)",
                self.foreign
            );
        }
        t
    }

    /// The same figures as one JSON object.
    pub(crate) fn json(&self) -> Value {
        let latency = |q: f64| self.latency.percentile(q).map(millis);
        json!({
            "publishers": self.publishers,
            "subscribers": self.subscribers,
            "count": self.count,
            "size": self.size,
            "qos": qos_number(self.qos),
            "protocol": self.version_name(),
            "rate": self.rate,
            "published": {
                "messages": self.published,
                "seconds": self.publish_elapsed.as_secs_f64(),
                "msg_per_s": per_second(self.published, self.publish_elapsed),
            },
            "received": {
                "messages": self.received,
                "seconds": self.receive_elapsed.as_secs_f64(),
                "msg_per_s": per_second(self.received, self.receive_elapsed),
                "lost": self.lost,
                "duplicated": self.duplicated,
                "foreign": self.foreign,
            },
            "latency_ms": {
                "p50": latency(50.0),
                "p90": latency(90.0),
                "p99": latency(99.0),
                "max": (self.latency.len() > 0).then(|| millis(self.latency.max())),
            },
        })
    }

    /// A QoS 1/2 message lost, or a QoS 2 message delivered twice, fails the run: that is
    /// a broken guarantee, not a slow broker.
    pub(crate) fn verdict(&self) -> Result<(), CliError> {
        if self.qos != QoS::AtMostOnce && self.lost > 0 {
            return Err(CliError::Failed(format!(
                "{} QoS {} messages were lost",
                self.lost,
                qos_number(self.qos)
            )));
        }
        if self.qos == QoS::ExactlyOnce && self.duplicated > 0 {
            return Err(CliError::Failed(format!(
                "{} QoS 2 messages were delivered twice",
                self.duplicated
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(qos: QoS, lost: u64, duplicated: u64) -> Summary {
        let mut latency = Histogram::default();
        for v in [1_000_000, 2_000_000, 3_000_000] {
            latency.record(v);
        }
        Summary {
            publishers: 2,
            subscribers: 1,
            count: 10,
            size: 1000,
            qos,
            version: Version::V5,
            rate: 0.0,
            published: 20,
            publish_elapsed: Duration::from_secs(2),
            received: 20 - lost + duplicated,
            receive_elapsed: Duration::from_secs(4),
            lost,
            duplicated,
            foreign: 0,
            latency,
        }
    }

    #[test]
    fn the_table_has_its_rows_and_figures() {
        let table = summary(QoS::AtLeastOnce, 0, 0).table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].contains("2 publishers x 10 messages, 1 subscribers, QoS 1"),
            "{table}"
        );
        let published: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(
            published,
            ["published", "20", "2.000", "10.0", "0.010", "-", "-"]
        );
        let received: Vec<&str> = lines[4].split_whitespace().collect();
        assert_eq!(
            received,
            ["received", "20", "4.000", "5.0", "0.005", "0", "0"]
        );
        let latency: Vec<&str> = lines[7].split_whitespace().collect();
        assert_eq!(latency.len(), 4);
        assert_eq!(latency[3], "3.000");
    }

    #[test]
    fn broken_guarantees_fail_the_run() {
        assert!(summary(QoS::AtMostOnce, 3, 1).verdict().is_ok());
        assert!(summary(QoS::AtLeastOnce, 0, 2).verdict().is_ok());
        assert!(summary(QoS::AtLeastOnce, 1, 0).verdict().is_err());
        assert!(summary(QoS::ExactlyOnce, 0, 1).verdict().is_err());
        let v = summary(QoS::ExactlyOnce, 0, 0).json();
        assert_eq!(v["received"]["lost"], 0);
        assert_eq!(v["latency_ms"]["max"], 3.0);
    }
}
