//! The operator console: the single page built in `console/` (committed in `console/dist`, so
//! building the orchestrator needs no Node), served by the orchestrator on its own port at
//! `/console/`, with `/console/config.json` telling the page where each service answers grpc-web.

use bytes::Bytes;
use hrmesh_mesh::site::{Asset, Site};
use serde::{Deserialize, Serialize};

const INDEX_HTML: &[u8] = include_bytes!("../../../console/dist/index.html");
const APP_JS: &[u8] = include_bytes!("../../../console/dist/app.js");
const APP_CSS: &[u8] = include_bytes!("../../../console/dist/app.css");

/// Where the page finds each service (the `[console]` table). An empty URL is the page's own
/// origin: behind the gateway, which routes every service on one origin, leave them all empty.
/// A service on another origin must list the console's origin in its `cors_allowed_origins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleConfig {
    /// Serve the console at /console/.
    pub enabled: bool,
    /// The orchestrator's grpc-web URL as the browser reaches it.
    pub orchestrator_url: String,
    pub ledger_url: String,
    pub performance_url: String,
    pub notification_url: String,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            orchestrator_url: String::new(),
            ledger_url: String::new(),
            performance_url: String::new(),
            notification_url: String::new(),
        }
    }
}

#[derive(Serialize)]
struct PageConfig<'a> {
    orchestrator: &'a str,
    ledger: &'a str,
    performance: &'a str,
    notification: &'a str,
}

/// The console's files, or none when it is turned off.
pub fn site(config: &ConsoleConfig) -> anyhow::Result<Option<Site>> {
    if !config.enabled {
        return Ok(None);
    }
    let urls = [
        &config.orchestrator_url,
        &config.ledger_url,
        &config.performance_url,
        &config.notification_url,
    ];
    let mut origins = Vec::new();
    for url in urls.into_iter().filter(|url| !url.is_empty()) {
        let uri: http::Uri = url
            .parse()
            .map_err(|error| anyhow::anyhow!("console URL {url:?}: {error}"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            anyhow::bail!("console URL {url:?} needs a scheme and a host");
        };
        anyhow::ensure!(
            matches!(scheme, "http" | "https"),
            "console URL {url:?}: the page speaks http or https"
        );
        let origin = format!("{scheme}://{authority}");
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    let page_config = serde_json::to_vec(&PageConfig {
        orchestrator: config.orchestrator_url.trim_end_matches('/'),
        ledger: config.ledger_url.trim_end_matches('/'),
        performance: config.performance_url.trim_end_matches('/'),
        notification: config.notification_url.trim_end_matches('/'),
    })?;
    let asset = |path: &str, content_type, body: Bytes| Asset {
        path: path.into(),
        content_type,
        body,
    };
    let site = Site::new(
        vec![
            asset(
                "/console/",
                "text/html; charset=utf-8",
                Bytes::from_static(INDEX_HTML),
            ),
            asset(
                "/console/app.js",
                "text/javascript; charset=utf-8",
                Bytes::from_static(APP_JS),
            ),
            asset(
                "/console/app.css",
                "text/css; charset=utf-8",
                Bytes::from_static(APP_CSS),
            ),
            asset(
                "/console/config.json",
                "application/json",
                Bytes::from(page_config),
            ),
        ],
        &[("/", "/console/"), ("/console", "/console/")],
        &origins,
    )?;
    Ok(Some(site))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_a_host_or_of_another_scheme_is_refused() {
        for url in ["ledger:50052", "/ledger", "ftp://ledger:21"] {
            let config = ConsoleConfig {
                ledger_url: url.into(),
                ..ConsoleConfig::default()
            };
            assert!(site(&config).is_err(), "{url}");
        }
    }

    #[test]
    fn turned_off_serves_nothing() {
        let config = ConsoleConfig {
            enabled: false,
            ..ConsoleConfig::default()
        };
        assert!(site(&config).expect("config").is_none());
    }
}
