//! The `hrmesh` binary as a child process: its command, and what it logs on stdout.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};

/// A command running `binary` (the test's `env!("CARGO_BIN_EXE_hrmesh")`) with the default log
/// level and without colours, whatever the caller's environment says.
pub fn command(binary: &str) -> Command {
    let mut command = Command::new(binary);
    command.env_remove("RUST_LOG").env("NO_COLOR", "1");
    command
}

/// Reads the child's stdout (piped) until a line contains `marker`; returns that line.
pub fn wait_for_line(child: &mut Child, marker: &str) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .by_ref()
        .map(|line| line.expect("read a line"))
        .find(|line| line.contains(marker))
        .unwrap_or_else(|| panic!("the process ended without printing {marker:?}"));
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    line
}

/// The address in a server's "serving" line (its `addr=` field).
pub fn logged_addr(line: &str) -> String {
    line.split("addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no addr field in {line:?}"))
        .to_owned()
}
