//! The README's walkthrough, run as it stands: its `hrmesh up` is started here (in a fresh
//! directory, on ports below the kernel's ephemeral range, which servers on port 0 elsewhere in
//! the suite never take; the commands find them through their environment variables), every
//! other line runs in one bash session with `hrmesh` being
//! this build's binary, and each must exit as its comment says (`exit N`, else 0). Then the
//! console's address that `hrmesh up` printed serves the page.

use std::process::{Command, Stdio};

use hrmesh_testkit::http_get;
use hrmesh_testkit::process::wait_for_line;

const MARKER: &str = "<!-- walkthrough:";

/// One command of the block, its continuation lines joined, and the exit code it must end with.
#[derive(Debug)]
struct Step {
    command: String,
    exit: i32,
}

/// The commands of the README's walkthrough block.
fn walkthrough() -> Vec<Step> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let after = readme
        .split_once(MARKER)
        .map(|(_, rest)| rest)
        .expect("the README marks its walkthrough");
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(block, _)| block)
        .expect("a sh block after the marker");
    let mut steps = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        let (code, comment) = line.split_once("  #").unwrap_or((line, ""));
        let code = code.trim_end();
        if let Some(head) = code.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(code);
        let exit = comment
            .split_once("exit ")
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
            .map_or(0, |digits| digits.parse().expect("an exit code"));
        steps.push(Step {
            command: std::mem::take(&mut pending).trim().to_owned(),
            exit,
        });
    }
    steps
}

#[test]
fn the_readme_walkthrough_runs_as_written_on_a_fresh_mesh() {
    let steps = walkthrough();
    let (up, rest) = steps.split_first().expect("steps");
    assert_eq!(up.command, "hrmesh up", "the walkthrough starts the mesh");
    assert!(rest.len() >= 4, "{steps:?}");

    let dir = tempfile::tempdir().expect("a fresh directory");
    let binary = env!("CARGO_BIN_EXE_hrmesh");
    let base = four_free_ports();
    let url = |offset: u16| format!("http://127.0.0.1:{}", base + offset);
    let mut mesh = Up(hrmesh_testkit::process::command(binary)
        .arg("up")
        .env("HRMESH_UP_BASE_PORT", base.to_string())
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start hrmesh up"));
    let console = wait_for_line(&mut mesh.0, "/console/#token=");

    let mut script = String::from("set -u\nhrmesh() { \"$HRMESH_BIN\" \"$@\"; }\n");
    for step in rest {
        script.push_str(&format!(
            "{command}\nrc=$?\nif [ \"$rc\" -ne {exit} ]; then echo \"walkthrough: {quoted} exited \
             $rc, the README says {exit}\" >&2; exit 1; fi\n",
            command = step.command,
            exit = step.exit,
            quoted = step.command.replace(['"', '$', '`', '\\'], "'"),
        ));
    }
    let run = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("HRMESH_BIN", binary)
        .env("HRMESH_ORCHESTRATOR_URL", url(0))
        .env("HRMESH_DEMO_LEDGER_URL", url(1))
        .env("HRMESH_DEMO_PERFORMANCE_URL", url(2))
        .env_remove("HRMESH_TOKEN")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}\n{stdout}");
    // The last command lists both sagas the walkthrough ran, as they ended.
    let listed: Vec<&str> = stdout.lines().rev().take(3).collect();
    for state in ["COMPLETED", "COMPENSATED"] {
        assert!(
            listed.iter().any(|line| line.contains(state)),
            "no {state} saga listed:\n{stdout}"
        );
    }

    // The console's address serves the page; the page's configuration names every service.
    let address = console.trim();
    let rest = address.strip_prefix("http://").expect("an http address");
    let (authority, path) = rest.split_once('/').expect("a path");
    let path = format!("/{}", path.split('#').next().unwrap_or_default());
    let (status, _, page) = http_get(authority, &path);
    assert!(status.contains(" 200 "), "{status}");
    assert!(page.contains("app.js"), "{page}");
    let (status, _, config) = http_get(authority, "/console/config.json");
    assert!(status.contains(" 200 "), "{status}");
    for offset in 1..=3 {
        assert!(config.contains(&url(offset)), "{config}");
    }

    Command::new("kill")
        .args(["-TERM", &mesh.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(mesh.0.wait().expect("hrmesh up ends").success());
}

/// Four consecutive ports, free now, between 20000 and 32767: below Linux's ephemeral range
/// (32768 and up), so no server bound to port 0 takes them meanwhile.
fn four_free_ports() -> u16 {
    let start = 20_000 + (std::process::id() % 3_000) as u16 * 4;
    (0..500)
        .map(|n| 20_000 + (start - 20_000 + n * 4) % 12_760)
        .find(|base| {
            (0..4).all(|offset| std::net::TcpListener::bind(("127.0.0.1", base + offset)).is_ok())
        })
        .expect("four free ports below the ephemeral range")
}

/// `hrmesh up`, killed if the test fails before stopping it.
struct Up(std::process::Child);

impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
