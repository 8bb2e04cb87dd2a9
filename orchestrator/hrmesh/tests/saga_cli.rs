//! `hrmesh saga` against a real mesh: the exit code says how a followed saga ended, `-o json`
//! prints canonical proto3 JSON, `list` pages and filters by time, and a refused call prints its
//! details (the fields of a BadRequest, the reason and metadata of an ErrorInfo).

use std::process::Output;

use hrmesh_mesh::testing::Backend;
use hrmesh_testkit::{Mesh, Options, process};

/// A token minted by `hrmesh token` with the tests' development key.
fn token(subject: &str, actor: &str, permissions: &[&str]) -> String {
    let mut command = process::command(env!("CARGO_BIN_EXE_hrmesh"));
    command
        .args(["token", "--key-file"])
        .arg(hrmesh_mesh::testing::dev_key_file())
        .args(["--subject", subject, "--actor", actor]);
    for permission in permissions {
        command.args(["--permission", permission]);
    }
    let output = command.output().expect("run hrmesh token");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn admin() -> String {
    token("admin", "admin", &["all"])
}

/// `hrmesh saga <args>` against `mesh`'s orchestrator, calling with `token`.
fn saga(mesh: &Mesh, token: &str, args: &[&str]) -> Output {
    process::command(env!("CARGO_BIN_EXE_hrmesh"))
        .arg("saga")
        .args(["--orchestrator", &mesh.orchestrator.server.uri()])
        .args(["--token", token])
        .args(args)
        .output()
        .expect("run hrmesh saga")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{line}: {err}")))
        .collect()
}

fn complete_review<'a>(review_id: &'a str, employee: &'a str) -> Vec<&'a str> {
    vec![
        "start",
        "complete-review",
        "--review-id",
        review_id,
        "--employee-id",
        employee,
        "--rating",
        "outstanding",
        "--section",
        "Delivery=Shipped the payroll migration",
        "--bonus-policy",
        "pto",
    ]
}

fn time_off<'a>(employee: &'a str, from: &'a str, to: &'a str) -> Vec<&'a str> {
    vec![
        "start",
        "request-time-off",
        "--employee-id",
        employee,
        "--manager-id",
        "m-1",
        "--policy-id",
        "pto",
        "--from",
        from,
        "--to",
        to,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_saga_sets_the_exit_code_and_json_is_proto3() {
    let mut mesh = Mesh::start(Backend::Sqlite).await;
    mesh.pto("e-1", "10").await;
    let review_id = mesh.review_in_manager_review("e-1").await;
    let admin = admin();

    let completed = saga(&mesh, &admin, &complete_review(&review_id, "e-1"));
    assert_eq!(completed.status.code(), Some(0), "{completed:?}");
    let text = stdout(&completed);
    assert!(text.contains("COMPLETED"), "{text}");
    // Times carry their zone.
    assert!(
        text.lines()
            .any(|line| line.starts_with("saga ") && line.ends_with('Z')),
        "{text}"
    );

    // Past the balance: refused by the ledger, compensated, exit 3.
    let compensated = saga(&mesh, &admin, &time_off("e-1", "2026-09-01", "2026-09-30"));
    assert_eq!(compensated.status.code(), Some(3), "{compensated:?}");
    assert!(stdout(&compensated).contains("COMPENSATED"));

    // JSON: one update per line while following, then the saga.
    let mut args = vec!["-o", "json"];
    args.extend(time_off("e-1", "2026-08-03", "2026-08-04"));
    let followed = saga(&mesh, &admin, &args);
    assert_eq!(followed.status.code(), Some(0), "{followed:?}");
    let lines = json_lines(&followed);
    let last = lines.last().expect("the saga");
    assert_eq!(last["state"], "SAGA_STATE_COMPLETED", "{last}");
    assert_eq!(last["type"], "SAGA_TYPE_REQUEST_TIME_OFF");
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|update| update["event"].is_object())
    );
    let saga_id = last["sagaId"].as_str().expect("sagaId").to_owned();
    let got = saga(&mesh, &admin, &["get", &saga_id, "-o", "json"]);
    assert_eq!(json_lines(&got), vec![last.clone()]);
    let watched = saga(&mesh, &admin, &["watch", &saga_id]);
    assert_eq!(watched.status.code(), Some(0), "{watched:?}");
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_saga_exits_4() {
    let mut mesh = Mesh::start_tuned(
        Backend::Sqlite,
        Options {
            notification_up: false,
            ..Options::default()
        },
        |config| {
            config.after_pivot_rounds = 3;
            config.resilience.breaker_min_calls = 1_000;
        },
    )
    .await;
    mesh.pto("e-1", "10").await;
    let review_id = mesh.review_in_manager_review("e-1").await;
    let stuck = saga(&mesh, &admin(), &complete_review(&review_id, "e-1"));
    assert_eq!(stuck.status.code(), Some(4), "{stuck:?}");
    assert!(stdout(&stuck).contains("STUCK"));
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_and_filters_by_type_state_and_time() {
    let mut mesh = Mesh::start(Backend::Sqlite).await;
    mesh.pto("e-1", "10").await;
    let admin = admin();
    for (from, to) in [("2026-08-03", "2026-08-03"), ("2026-08-10", "2026-08-10")] {
        let mut args = vec!["start", "--detach"];
        args.extend(time_off("e-1", from, to).into_iter().skip(1));
        let started = saga(&mesh, &admin, &args);
        assert_eq!(started.status.code(), Some(0), "{started:?}");
    }
    let first = saga(&mesh, &admin, &["list", "--page-size", "1"]);
    let text = stdout(&first);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let page_token = lines[1]
        .strip_prefix("more: --page-token ")
        .unwrap_or_else(|| panic!("{text}"));
    let second = saga(
        &mesh,
        &admin,
        &["list", "--page-size", "1", "--page-token", page_token],
    );
    let second_text = stdout(&second);
    assert!(
        second_text
            .lines()
            .next()
            .is_some_and(|line| line != lines[0]),
        "{second_text}"
    );
    let all = saga(
        &mesh,
        &admin,
        &[
            "list",
            "--all",
            "--page-size",
            "1",
            "-o",
            "json",
            "--type",
            "request-time-off",
            "--since",
            "1d",
        ],
    );
    let sagas = json_lines(&all);
    assert_eq!(sagas.len(), 2, "{all:?}");
    assert!(
        sagas
            .iter()
            .all(|s| s["type"] == "SAGA_TYPE_REQUEST_TIME_OFF")
    );
    let none = saga(
        &mesh,
        &admin,
        &["list", "--until", "2000-01-01", "-o", "json"],
    );
    assert_eq!(json_lines(&none), vec![serde_json::json!({})]);
    let stuck = saga(&mesh, &admin, &["list", "--state", "stuck"]);
    assert_eq!(stdout(&stuck), "");
    // A state that does not exist is refused by the command line, with the choices.
    let wrong = saga(&mesh, &admin, &["list", "--state", "lost"]);
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");
    assert!(stderr(&wrong).contains("compensated"), "{}", stderr(&wrong));
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_prints_its_details_and_exits_1() {
    let mut mesh = Mesh::start(Backend::Sqlite).await;
    mesh.pto("e-1", "10").await;
    let review_id = mesh.review_in_manager_review("e-1").await;
    let before = mesh.review_state(&review_id).await.state;
    let invalid = saga(
        &mesh,
        &admin(),
        &time_off("e-1", "2026-13-01", "2026-08-01"),
    );
    assert_eq!(invalid.status.code(), Some(1), "{invalid:?}");
    let text = stderr(&invalid);
    assert!(text.contains("InvalidArgument"), "{text}");
    assert!(
        text.contains("field "),
        "the violated field is named: {text}"
    );
    // Someone who does not manage e-1 may not complete their review.
    let stranger = token("e-9", "employee", &["saga.create", "saga.read"]);
    let refused = saga(&mesh, &stranger, &complete_review(&review_id, "e-1"));
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let text = stderr(&refused);
    assert!(text.contains("PermissionDenied"), "{text}");
    assert!(text.contains("reason NOT_MANAGER"), "{text}");
    assert_eq!(
        mesh.review_state(&review_id).await.state,
        before,
        "nothing was done"
    );
    mesh.stop().await;
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let output = process::command(env!("CARGO_BIN_EXE_hrmesh"))
            .args(["completions", shell])
            .output()
            .expect("run hrmesh completions");
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains("saga"), "{shell}: {script}");
    }
}
