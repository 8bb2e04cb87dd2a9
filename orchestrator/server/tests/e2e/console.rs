//! The operator console in a real headless Chromium (Debian's chromium, driven over WebDriver by
//! chromedriver and fantoccini), served by the orchestrator of a real mesh and calling every
//! service over grpc-web: sagas appear in the list and the stuck view, a stuck saga's timeline
//! goes on live while an operator retries it from the page, and the action is in its history and
//! the orchestrator's audit trail. Each view's screenshot is written under the build's tmp
//! directory (console-screenshots/), not committed.

use std::path::PathBuf;
use std::process::Stdio;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

use super::*;

/// How long the page may take to show what a step waits for.
const PAGE_WAIT: Duration = Duration::from_secs(20);
/// How long chromedriver may take to listen.
const DRIVER_START: Duration = Duration::from_secs(20);

/// A chromedriver process and one headless Chromium session through it; both end on drop.
struct Browser {
    client: Client,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Self {
        use std::io::BufRead;
        let chromium =
            std::env::var("HRMESH_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let chromedriver =
            std::env::var("HRMESH_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = free_port();
        let mut driver = std::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "starting {chromedriver}: {error}; the browser tests need Debian's chromium \
                     and chromium-driver (bash .ci/run installs them)"
                )
            });
        // chromedriver says when it listens; its output is read to the end, so it never blocks
        // on a full pipe.
        let output = driver.stdout.take().expect("stdout");
        let (listening, started) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut listening = Some(listening);
            for line in std::io::BufReader::new(output).lines() {
                let Ok(line) = line else { break };
                if line.contains("started successfully")
                    && let Some(listening) = listening.take()
                {
                    let _ = listening.send(());
                }
            }
        });
        tokio::time::timeout(DRIVER_START, started)
            .await
            .unwrap_or_else(|_| panic!("{chromedriver} did not start within {DRIVER_START:?}"))
            .unwrap_or_else(|_| panic!("{chromedriver} ended before it listened"));
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-quic",
                    "--no-first-run",
                    "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|error| panic!("no WebDriver session from {chromedriver}: {error}"));
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    /// The first element `locator` finds, once the page shows it.
    async fn wait_for(&self, locator: Locator<'_>, what: &str) -> Element {
        self.client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(locator)
            .await
            .unwrap_or_else(|error| panic!("{what} never appeared: {error}"))
    }

    /// The element `css` selects, once the page shows it.
    async fn find(&self, css: &str) -> Element {
        self.wait_for(Locator::Css(css), css).await
    }

    /// Waits until the element with data-testid `test_id` reads `text`.
    async fn text_becomes(&self, test_id: &str, text: &str) {
        let xpath = format!("//*[@data-testid='{test_id}' and normalize-space()='{text}']");
        self.wait_for(Locator::XPath(&xpath), &xpath).await;
    }

    /// Clicks the element `css` selects. The page re-renders when its data arrives, which can
    /// replace a found element before the click lands: then the click goes to its replacement,
    /// at most a few times.
    async fn click(&self, css: &str) {
        for _ in 0..5 {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(fantoccini::error::CmdError::Standard(error))
                    if error.error == fantoccini::error::ErrorStatus::StaleElementReference => {}
                Err(error) => panic!("click {css}: {error:?}"),
            }
        }
        panic!("{css} was replaced before every one of 5 clicks");
    }

    async fn screenshot(&self, view: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(dir.join(format!("{view}.png")), png).expect("write the screenshot");
    }

    async fn close(self) {
        self.client
            .clone()
            .close()
            .await
            .expect("close the session");
    }
}

fn operator_token(subject: &str) -> String {
    let bearer = testing::mint(&testing::claims(subject, ActorType::Admin, ALL_PERMISSIONS))
        .bearer()
        .expect("a token");
    bearer.trim_start_matches("Bearer ").to_owned()
}

#[tokio::test]
async fn an_operator_unsticks_a_saga_from_the_console_and_finds_it_in_the_audit_trail() {
    let mut mesh = Mesh::start_tuned(
        Backend::Sqlite,
        Options {
            notification_up: false,
            console: true,
            ..Options::default()
        },
        |config| {
            config.after_pivot_rounds = 3;
            config.resilience.breaker_min_calls = 1_000;
        },
    )
    .await;
    mesh.pto("e-7", "10").await;
    let review_id = mesh.review_in_manager_review("e-7").await;
    let stuck = mesh
        .run_saga(
            "console-stuck",
            complete_review(&review_id, "e-7", ppb::Rating::Outstanding, "pto"),
        )
        .await
        .expect("saga");
    assert_eq!(stuck.state, SagaState::Stuck as i32, "{stuck:?}");

    let browser = Browser::start().await;
    let console = format!("{}/console/", mesh.orchestrator.server.uri());
    browser
        .client
        .goto(&format!("{console}#token={}", operator_token("ops-anna")))
        .await
        .expect("open the console");

    // Signed in from the address's fragment, which is then gone from the address bar.
    browser.text_becomes("signed-in-as", "ops-anna").await;
    let address = browser.client.current_url().await.expect("url");
    assert!(!address.as_str().contains("token"), "{address}");
    let row = format!("[data-testid=saga-row][data-saga-id='{}']", stuck.saga_id);
    browser.find(&row).await;
    // The first load's cost, from navigation to the saga list on screen (the page marks it):
    // printed for the record (`--no-capture`), never asserted.
    let first_view = browser
        .client
        .execute(
            "const mark = performance.getEntriesByName('hrmesh:first-view')[0]; \
             return mark ? mark.startTime : null;",
            vec![],
        )
        .await
        .expect("read the mark");
    assert!(
        first_view.is_number(),
        "the page marks its first view: {first_view}"
    );
    eprintln!("console first view: {first_view} ms after navigation");
    browser.screenshot("sagas").await;

    // Filters: another employee's sagas do not show this one.
    let employee = browser.find("[data-testid=filter-employee]").await;
    employee.send_keys("e-nobody").await.expect("type");
    browser.click("[data-testid=filter-apply]").await;
    browser.find("[data-testid=sagas-empty]").await;

    // The stuck view names why.
    browser.click("[data-testid=nav-stuck]").await;
    let reason = browser.find(&format!("{row} td.reason")).await;
    let why = reason.text().await.expect("reason");
    assert!(why.contains("notify-employee"), "{why}");
    browser.screenshot("stuck").await;

    // The saga's page: stuck, with the operator's actions; a skip needs a justification.
    browser
        .click(&format!("{row} [data-testid=saga-link]"))
        .await;
    browser.text_becomes("saga-state", "stuck").await;
    browser.click("[data-testid=action-skip]").await;
    browser.find("[data-testid=justification-required]").await;

    // The notification service is back; Retry from the page, and the timeline goes on live.
    mesh.bring_notification_up().await;
    browser.click("[data-testid=action-retry]").await;
    browser.text_becomes("saga-state", "completed").await;
    let actor = browser
        .find("[data-testid=history-entry][data-kind=operator_retried] [data-testid=history-actor]")
        .await;
    assert_eq!(actor.text().await.expect("actor"), "ops-anna");
    browser
        .find("[data-testid=step][data-status=succeeded]:last-child")
        .await;
    browser.screenshot("saga").await;
    let settled = mesh.settled(&stuck.saga_id).await;
    assert_eq!(settled.state, SagaState::Completed as i32, "{settled:?}");

    // The orchestrator's audit trail has the retry, by the operator, from the browser.
    browser.click("[data-testid=nav-audit]").await;
    let audit = browser.find("[data-testid=audit-events]").await;
    let trail = audit.text().await.expect("audit");
    let retry = trail
        .lines()
        .find(|line| line.contains("RetrySaga"))
        .unwrap_or_else(|| panic!("no RetrySaga in the trail:\n{trail}"));
    assert!(retry.contains("ops-anna"), "{retry}");
    browser.screenshot("audit").await;

    // The employee's page reads four services: the bonus, the completed review, the notices.
    browser
        .client
        .goto(&format!("{console}#/employees/e-7"))
        .await
        .expect("employee page");
    let balances = browser.find("[data-testid=balances-table]").await;
    assert!(balances.text().await.expect("balances").contains("pto"));
    let reviews = browser.find("[data-testid=reviews-table]").await;
    let review = reviews.text().await.expect("reviews");
    assert!(
        review.contains(&review_id) && review.contains("completed"),
        "{review}"
    );
    browser.find("[data-testid=notifications-table]").await;
    browser.find("[data-testid=holds] h3").await;
    browser.screenshot("employee").await;

    browser.close().await;
    mesh.stop().await;
}

#[tokio::test]
async fn a_refused_call_shows_its_status_and_details_on_the_page() {
    let mesh = Mesh::start_with(
        Backend::Sqlite,
        Options {
            console: true,
            ..Options::default()
        },
    )
    .await;
    let browser = Browser::start().await;
    let console = format!("{}/console/", mesh.orchestrator.server.uri());

    // An employee's credentials: another employee's balances are refused, with the reason.
    let employee = testing::mint(&testing::claims(
        "e-1",
        ActorType::Employee,
        &["ledger.read"],
    ))
    .bearer()
    .expect("token");
    browser
        .client
        .goto(&format!(
            "{console}#token={}",
            employee.trim_start_matches("Bearer ")
        ))
        .await
        .expect("open");
    browser.text_becomes("signed-in-as", "e-1").await;
    browser
        .client
        .goto(&format!("{console}#/employees/e-2"))
        .await
        .expect("employee page");
    let refused = browser
        .find("[data-testid=balances] [data-testid=problem-code]")
        .await;
    assert_eq!(refused.text().await.expect("code"), "PERMISSION_DENIED");

    // Signed out, the page asks for a token and calls nothing; an operator's pasted token signs
    // in.
    browser.click("[data-testid=sign-out]").await;
    let input = browser
        .find("[data-testid=signin-view] [data-testid=token-input]")
        .await;
    input
        .send_keys(&operator_token("ops-ben"))
        .await
        .expect("paste the token");
    browser.click("[data-testid=token-submit]").await;
    browser.text_becomes("signed-in-as", "ops-ben").await;

    // Bad input: the field and the rule it broke.
    browser
        .client
        .goto(&format!("{console}#/sagas?employee=not%20an%20id%21"))
        .await
        .expect("filtered list");
    let code = browser.find("[data-testid=problem-code]").await;
    assert_eq!(code.text().await.expect("code"), "INVALID_ARGUMENT");
    let violations = browser.find("[data-testid=problem-violations]").await;
    let fields = violations.text().await.expect("violations");
    assert!(fields.contains("employee_id"), "{fields}");
    browser.screenshot("refused").await;

    // The page's files come with a policy that keeps it from running foreign code.
    let authority = mesh.orchestrator.server.addr.to_string();
    let (status, headers, _) =
        tokio::task::spawn_blocking(move || http_get(&authority, "/console/"))
            .await
            .expect("GET the page");
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        headers
            .iter()
            .any(|header| header.starts_with("content-security-policy: default-src 'none'")),
        "{headers:?}"
    );
    browser.close().await;
    mesh.stop().await;
}
