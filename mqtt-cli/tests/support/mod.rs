//! Child processes for the `mqtt` tool's tests: `mqtt` itself and mosquitto's clients,
//! each bounded in time and killed when the test ends, whatever the outcome.

#![allow(dead_code)] // each test file uses its own part of this module

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

/// How long any one child may run before the test gives up on it.
pub(crate) const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// The `mqtt` binary under test.
pub(crate) fn mqtt() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mqtt"));
    // A password in the caller's environment must not leak into the tests.
    c.env_remove("MQTT_PASSWORD");
    c
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .chain([PathBuf::from("/usr/bin").join(name)])
        .find(|p| p.is_file())
}

/// A mosquitto client program (`mosquitto_pub`, `mosquitto_sub`), found on PATH or in
/// /usr/bin. Its standard output is line-buffered (coreutils' `stdbuf`): into a pipe, C's
/// stdio would hold mosquitto_sub's lines until it exits, and the tests wait for them.
pub(crate) fn mosquitto_client(name: &str) -> Command {
    let path = find_program(name).unwrap_or_else(|| {
        panic!("{name} not found: install Debian's mosquitto-clients (scripts/test does)")
    });
    match find_program("stdbuf") {
        Some(stdbuf) => {
            let mut c = Command::new(stdbuf);
            c.arg("-oL").arg(path);
            c
        }
        None => Command::new(path),
    }
}

/// A running child whose output is collected as it comes.
pub(crate) struct Proc {
    name: String,
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

/// What a finished child left.
#[derive(Debug)]
pub(crate) struct Output {
    /// Exit code (`None`: killed by a signal).
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

impl Proc {
    /// Starts `cmd` with piped standard streams (standard input closed unless `stdin`).
    pub(crate) fn spawn(mut cmd: Command, stdin: Option<&[u8]>) -> Self {
        let name = format!("{cmd:?}");
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(data)
                .expect("write the child's standard input");
            // Dropped here: the child sees the end of its input.
        }
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped"), stdout.clone()),
            collect(child.stderr.take().expect("piped"), stderr.clone()),
        ];
        Self {
            name,
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// Sends the child SIGINT (Ctrl-C), through the shell's own `kill` (a builtin, so no
    /// package is needed for it).
    pub(crate) fn interrupt(&self) {
        let status = Command::new("sh")
            .args(["-c", &format!("kill -INT {}", self.child.id())])
            .status()
            .expect("run sh");
        assert!(status.success(), "kill -INT {}", self.child.id());
    }

    /// The standard output so far.
    pub(crate) fn stdout_now(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// The standard error so far.
    pub(crate) fn stderr_now(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits (bounded) until standard output or error contains `text`; panics with what the
    /// child printed otherwise.
    pub(crate) fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.stdout_now().contains(text) || self.stderr_now().contains(text) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // It may have printed the text just before exiting.
                self.join_readers();
                if self.stdout_now().contains(text) || self.stderr_now().contains(text) {
                    return;
                }
                panic!(
                    "{} exited ({status}) before printing {text:?}\nstdout: {}\nstderr: {}",
                    self.name,
                    self.stdout_now(),
                    self.stderr_now()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "{} did not print {text:?} within 10 s\nstdout: {}\nstderr: {}",
            self.name,
            self.stdout_now(),
            self.stderr_now()
        );
    }

    fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    /// Waits up to `limit` for the child to exit; kills it and panics if it does not.
    pub(crate) fn finish(mut self, limit: Duration) -> Output {
        match self.child.wait_timeout(limit) {
            Ok(Some(status)) => {
                self.join_readers();
                Output {
                    code: status.code(),
                    stdout: self.stdout_now(),
                    stderr: self.stderr_now(),
                }
            }
            _ => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.join_readers();
                panic!(
                    "{} still running after {limit:?}; killed\nstdout: {}\nstderr: {}",
                    self.name,
                    self.stdout_now(),
                    self.stderr_now()
                );
            }
        }
    }

    /// Kills the child at once (SIGKILL), as a crash would end it.
    pub(crate) fn kill(mut self) -> Output {
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        self.join_readers();
        Output {
            code: status.and_then(|s| s.code()),
            stdout: self.stdout_now(),
            stderr: self.stderr_now(),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A failing test must not leave a child behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to the end (bounded by [`CHILD_LIMIT`]).
pub(crate) fn run(cmd: Command) -> Output {
    Proc::spawn(cmd, None).finish(CHILD_LIMIT)
}

/// Runs `cmd` with `input` on its standard input.
pub(crate) fn run_with_input(cmd: Command, input: &[u8]) -> Output {
    Proc::spawn(cmd, Some(input)).finish(CHILD_LIMIT)
}

/// Asserts the child exited with 0, showing its output otherwise.
#[track_caller]
pub(crate) fn assert_success(out: &Output) {
    assert_eq!(
        out.code,
        Some(0),
        "exit code\nstdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
}

/// Adds the arguments to a command, for brevity.
pub(crate) fn with_args<I, S>(mut cmd: Command, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    cmd.args(args);
    cmd
}
