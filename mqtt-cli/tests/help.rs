//! `--help` on the tool and on every subcommand: exits 0 and documents the options.

mod support;

use support::{assert_success, mqtt, run, with_args};

#[test]
fn every_subcommand_has_help() {
    let top = run(with_args(mqtt(), ["--help"]));
    assert_success(&top);
    for sub in ["pub", "sub", "bench"] {
        assert!(top.stdout.contains(sub), "{}", top.stdout);
    }
    let cases: [(&str, &[&str]); 3] = [
        (
            "pub",
            &[
                "--topic",
                "--message",
                "--qos",
                "--retain",
                "--stdin-line",
                "--will-topic",
                "--protocol-version",
                "--user-property",
                "--correlation-data",
                "--cafile",
                "--insecure",
                "--url",
                "--proxy",
                // The rule for a URL's path, per scheme.
                "the path is the default topic",
                "HTTP path of the WebSocket upgrade",
                "Examples:",
            ],
        ),
        (
            "sub",
            &[
                "--topic",
                "--count",
                "--timeout",
                "--format",
                "--verbose",
                "--no-local",
                "--retain-as-published",
                "--retain-handling",
                "--disable-clean-session",
                "--session-expiry",
                "--cafile",
                "--proxy",
                "Examples:",
            ],
        ),
        (
            "bench",
            &[
                "--publishers",
                "--subscribers",
                "--qos",
                "--size",
                "--rate",
                "--count",
                "--json",
                "--url",
                "--proxy",
                "Examples:",
            ],
        ),
    ];
    for (sub, options) in cases {
        let out = run(with_args(mqtt(), [sub, "--help"]));
        assert_success(&out);
        // Phrases may be wrapped over lines.
        let flat = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        for option in options {
            assert!(
                flat.contains(option),
                "mqtt {sub} --help lacks {option}:\n{}",
                out.stdout
            );
        }
        // `mqtt help SUB` says the same.
        let again = run(with_args(mqtt(), ["help", sub]));
        assert_success(&again);
        assert_eq!(again.stdout, out.stdout);
    }
}

#[test]
fn dash_h_is_the_host_as_in_mosquitto_clients() {
    // -h takes a value: without one it is a usage error, not the help text.
    let out = run(with_args(mqtt(), ["pub", "-h"]));
    assert_eq!(out.code, Some(2), "{out:?}");
    let out = run(with_args(mqtt(), ["--version"]));
    assert_success(&out);
    assert!(out.stdout.starts_with("mqtt "), "{}", out.stdout);
}
