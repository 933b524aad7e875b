//! The README's "Messages that survive the process" example (`examples/readme_durable.rs`;
//! `tests/readme.rs` checks the README shows it verbatim) runs against mosquitto: twice with the same session file, and the job it
//! publishes reaches it (and is acknowledged) each time.

use mqtt_test_broker::{Broker, BrokerConfig};

mod durable {
    include!("../examples/readme_durable.rs");

    pub(super) fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

#[test]
fn the_durable_example_runs_twice_on_one_session_file() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto");
    let dir = tempfile::tempdir().expect("temporary folder");
    // The only test of this binary that sets them: the example's session file goes here.
    std::env::set_var("TMPDIR", dir.path());
    std::env::set_var("MQTT_PORT", broker.port().to_string());
    for run in 0..2 {
        if let Err(e) = durable::run() {
            panic!(
                "run {run} of the durable example failed: {e}\n{}",
                broker.log()
            );
        }
        let file = dir.path().join("readme-durable.session");
        assert!(file.exists(), "run {run} left no session file");
    }
}
