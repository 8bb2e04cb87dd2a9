//! Static files served on a service's own port, beside gRPC and grpc-web (the orchestrator serves
//! the operator console this way: no second server).
//!
//! Every GET and HEAD request goes to the site: gRPC and grpc-web calls are always POSTs, so the
//! two never meet, and the files need no token (what the page then calls does). Each answer
//! carries an ETag (a 304 answers a matching If-None-Match), `cache-control: no-cache`, and
//! headers that keep the page from being framed, sniffed or leaking its address.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    LOCATION, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use sha2::{Digest, Sha256};

/// One file of a site.
pub struct Asset {
    /// Where it is served, e.g. `/console/app.js`.
    pub path: String,
    pub content_type: &'static str,
    pub body: Bytes,
}

struct Stored {
    content_type: HeaderValue,
    etag: HeaderValue,
    body: Bytes,
}

/// The files, the redirects (path to location) and the policy the browser enforces on them.
#[derive(Clone)]
pub struct Site {
    files: Arc<HashMap<String, Stored>>,
    redirects: Arc<HashMap<String, HeaderValue>>,
    content_security_policy: HeaderValue,
}

impl Site {
    /// A site of `assets`, redirecting each `(from, to)` of `redirects`; `connect_origins` are the
    /// origins besides its own the page may call (the Content-Security-Policy's connect-src).
    pub fn new(
        assets: Vec<Asset>,
        redirects: &[(&str, &str)],
        connect_origins: &[String],
    ) -> anyhow::Result<Self> {
        let mut files = HashMap::new();
        for asset in assets {
            let digest = Sha256::digest(&asset.body);
            let etag = format!("\"{}\"", hex::encode(&digest[..12]));
            files.insert(
                asset.path,
                Stored {
                    content_type: HeaderValue::from_static(asset.content_type),
                    etag: HeaderValue::from_str(&etag)?,
                    body: asset.body,
                },
            );
        }
        let redirects = redirects
            .iter()
            .map(|(from, to)| Ok(((*from).to_owned(), HeaderValue::from_str(to)?)))
            .collect::<anyhow::Result<_>>()?;
        for origin in connect_origins {
            anyhow::ensure!(
                !origin.contains([';', ' ', '\'', ',']),
                "{origin:?} is not an origin"
            );
        }
        let connect = std::iter::once("'self'")
            .chain(connect_origins.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        let policy = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        );
        Ok(Self {
            files: Arc::new(files),
            redirects: Arc::new(redirects),
            content_security_policy: HeaderValue::from_str(&policy)?,
        })
    }

    fn answer<B>(&self, request: &Request<B>) -> Response<tonic::body::Body> {
        let path = request.uri().path();
        if let Some(location) = self.redirects.get(path) {
            return self.response(
                StatusCode::PERMANENT_REDIRECT,
                &[(LOCATION, location)],
                None,
            );
        }
        let Some(file) = self.files.get(path) else {
            let text = HeaderValue::from_static("text/plain; charset=utf-8");
            return self.response(
                StatusCode::NOT_FOUND,
                &[(CONTENT_TYPE, &text)],
                Some(Bytes::from_static(b"not found\n")),
            );
        };
        let headers = [(CONTENT_TYPE, &file.content_type), (ETAG, &file.etag)];
        let unchanged = request
            .headers()
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|tag| tag.trim() == file.etag || tag.trim() == "*");
        if unchanged {
            return self.response(StatusCode::NOT_MODIFIED, &headers, None);
        }
        let body = (request.method() == Method::GET).then(|| file.body.clone());
        let mut response = self.response(StatusCode::OK, &headers, body);
        response
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(file.body.len()));
        response
    }

    fn response(
        &self,
        status: StatusCode,
        headers: &[(http::HeaderName, &HeaderValue)],
        body: Option<Bytes>,
    ) -> Response<tonic::body::Body> {
        let body = match body {
            Some(bytes) => tonic::body::Body::new(Full::new(bytes)),
            None => tonic::body::Body::empty(),
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let all = response.headers_mut();
        for (name, value) in headers {
            all.insert(name.clone(), (*value).clone());
        }
        all.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        all.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        all.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        all.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        all.insert(
            CONTENT_SECURITY_POLICY,
            self.content_security_policy.clone(),
        );
        response
    }
}

/// Answers GET and HEAD from the site (when there is one) and passes every other request on.
#[derive(Clone, Default)]
pub struct SiteLayer {
    site: Option<Site>,
}

impl SiteLayer {
    pub fn new(site: Option<Site>) -> Self {
        Self { site }
    }
}

impl<S> tower::Layer<S> for SiteLayer {
    type Service = SiteService<S>;

    fn layer(&self, inner: S) -> SiteService<S> {
        SiteService {
            site: self.site.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct SiteService<S> {
    site: Option<Site>,
    inner: S,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tower::Service<Request<B>> for SiteService<S>
where
    S: tower::Service<Request<B>, Response = Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match &self.site {
            Some(site) if matches!(*request.method(), Method::GET | Method::HEAD) => {
                let response = site.answer(&request);
                Box::pin(std::future::ready(Ok(response)))
            }
            _ => Box::pin(self.inner.call(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::new(
            vec![Asset {
                path: "/console/".into(),
                content_type: "text/html; charset=utf-8",
                body: Bytes::from_static(b"<!doctype html>"),
            }],
            &[("/", "/console/")],
            &["http://127.0.0.1:50052".into()],
        )
        .expect("site")
    }

    fn get(path: &str) -> Request<()> {
        Request::get(path).body(()).expect("request")
    }

    #[test]
    fn a_file_is_served_with_its_type_tag_and_policy() {
        let response = site().answer(&get("/console/"));
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[CONTENT_LENGTH], "15");
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
        let policy = headers[CONTENT_SECURITY_POLICY].to_str().expect("ascii");
        assert!(
            policy.contains("connect-src 'self' http://127.0.0.1:50052;"),
            "{policy}"
        );
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }

    #[test]
    fn a_matching_etag_answers_not_modified_and_another_the_file() {
        let site = site();
        let etag = site.answer(&get("/console/")).headers()[ETAG].clone();
        let mut again = get("/console/");
        again.headers_mut().insert(IF_NONE_MATCH, etag);
        assert_eq!(site.answer(&again).status(), StatusCode::NOT_MODIFIED);
        let mut other = get("/console/");
        other
            .headers_mut()
            .insert(IF_NONE_MATCH, HeaderValue::from_static("\"stale\""));
        assert_eq!(site.answer(&other).status(), StatusCode::OK);
    }

    #[test]
    fn redirects_and_unknown_paths() {
        let site = site();
        let moved = site.answer(&get("/"));
        assert_eq!(moved.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(moved.headers()[LOCATION], "/console/");
        assert_eq!(
            site.answer(&get("/console/../etc/passwd")).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            site.answer(&get("/favicon.ico")).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn an_origin_that_would_widen_the_policy_is_refused() {
        let refused = Site::new(vec![], &[], &["https://a.example; script-src *".into()]);
        assert!(refused.is_err());
    }
}
