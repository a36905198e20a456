//! The HTTP host: `/mcp` (MCP streamable HTTP), `/healthz`, `/readyz`.
//!
//! Authentication happens here, before JSON-RPC dispatch, because AdCP buyers (and the
//! compliance suite) expect HTTP 401 with `WWW-Authenticate: Bearer` for protected tools: the
//! request body is read once, the JSON-RPC method and tool name are peeked at, the token (from
//! `Authorization: Bearer` or `x-adcp-auth`) is resolved to a principal and attached to the
//! request as [`Caller`].
//!
//! Two rmcp services sit behind `/mcp`: a session-keeping one for clients that `initialize` and
//! accept SSE, and a stateless one answering plain `application/json` for everything else
//! (raw `tools/call` without a session, clients that accept only JSON). So sessions work, a
//! session-less call works, and `Accept: application/json` never gets a 406.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::app::App;
use crate::core::Store;
use crate::core::tenancy::Principal;
use crate::mcp::{Caller, SalesAgent, requires_auth};

mod signed;

pub use signed::Verifier;

/// Largest JSON-RPC request body accepted.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

type Stateful = StreamableHttpService<SalesAgent, LocalSessionManager>;
type Stateless = StreamableHttpService<SalesAgent, NeverSessionManager>;

#[derive(Clone)]
struct Http {
    app: App,
    stateful: Stateful,
    stateless: Stateless,
    realm: Arc<str>,
    /// Signed-request verification, when a counterparty's keys are configured.
    signatures: Option<Arc<Verifier>>,
}

/// Builds the router. `shutdown` ends open SSE streams when the server stops.
pub fn router(app: App, shutdown: CancellationToken) -> Router {
    let agent = SalesAgent::new(app.clone());
    let hosts = app.config().allowed_hosts.clone();
    let base = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_cancellation_token(shutdown.child_token());
    let stateful_agent = agent.clone();
    let stateful = StreamableHttpService::new(
        move || Ok(stateful_agent.clone()),
        Arc::new(LocalSessionManager::default()),
        base.clone().with_legacy_session_mode(true),
    );
    let stateless = StreamableHttpService::new(
        move || Ok(agent.clone()),
        Arc::new(NeverSessionManager::default()),
        base.with_legacy_session_mode(false).with_json_response(true),
    );
    let realm: Arc<str> = Arc::from(app.config().public_url.as_str());
    let signatures = app.config().request_signing_test_keys.then(|| Arc::new(Verifier::test_counterparty()));
    let state = Http { app, stateful, stateless, realm, signatures };
    Router::new()
        .route("/mcp", axum::routing::any(mcp))
        .route("/mcp/adcp/{*operation}", axum::routing::any(signed_probe))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/brand.json", get(brand))
        .with_state(state)
}

/// The public keys buyers verify this seller's webhook signatures with.
async fn jwks(State(http): State<Http>) -> Response {
    axum::Json(http.app.webhook_key().jwks()).into_response()
}

/// The agent's brand.json entry (AdCP webhook signing: `agents[].jwks_uri`).
async fn brand(State(http): State<Http>) -> Response {
    let agent_url = http.app.config().public_url.clone();
    let origin = agent_url.trim_end_matches('/').trim_end_matches("/mcp").to_owned();
    axum::Json(serde_json::json!({
        "agents": [{
            "type": "sales",
            "url": agent_url,
            "jwks_uri": format!("{origin}/.well-known/jwks.json"),
        }],
    }))
    .into_response()
}

/// `<mcp>/adcp/<operation>`: verifies an RFC 9421 signed request and executes nothing (the
/// sandbox grading endpoint of the AdCP signed-requests test kit). 200 with what was verified,
/// or 401 with `WWW-Authenticate: Signature error="<code>"`.
async fn signed_probe(State(http): State<Http>, request: Request) -> Response {
    let Some(verifier) = http.signatures.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let url = request_url(&http, &parts);
    let operation = parts.uri.path().rsplit('/').find(|s| !s.is_empty()).unwrap_or_default().to_owned();
    let signed =
        signed::SignedRequest { method: parts.method.as_str(), url: &url, headers: &parts.headers, body: &bytes };
    match verifier.verify(&signed, http.app.clock().now().timestamp()) {
        Ok(keyid) => {
            axum::Json(serde_json::json!({ "verified": true, "keyid": keyid, "operation": operation })).into_response()
        }
        Err(refusal) => signature_refused(refusal),
    }
}

/// The URL a request was sent to, as its signature covers it: the public scheme, the `Host`
/// it was sent to, the path and query as received.
fn request_url(http: &Http, parts: &axum::http::request::Parts) -> String {
    let public = &http.app.config().public_url;
    let scheme = public.split("://").next().unwrap_or("http");
    let authority = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{scheme}://{authority}{path_and_query}")
}

/// 401 with `WWW-Authenticate: Signature error="<code>"`.
fn signature_refused(refusal: signed::Refusal) -> Response {
    let code = refusal.code();
    let body = serde_json::json!({ "error": code, "message": format!("signature refused: {code}") });
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("Signature error=\"{code}\"")) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

async fn readyz(State(http): State<Http>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), http.app.db().ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database timeout").into_response(),
    }
}

/// The JSON-RPC fields needed to route and authorize, read without trusting the rest.
#[derive(Deserialize)]
struct Peek {
    method: Option<String>,
    params: Option<PeekParams>,
}

#[derive(Deserialize)]
struct PeekParams {
    name: Option<String>,
}

async fn mcp(State(http): State<Http>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let signed = parts.headers.contains_key("signature-input") || parts.headers.contains_key("signature");
    if signed
        && parts.method == Method::POST
        && let Some(verifier) = http.signatures.clone()
    {
        // A signed request is authenticated by its signature alone, never by a token beside it.
        let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
        };
        let url = request_url(&http, &parts);
        let request = signed::SignedRequest { method: "POST", url: &url, headers: &parts.headers, body: &bytes };
        if let Err(refusal) = verifier.verify(&request, http.app.clock().now().timestamp()) {
            return signature_refused(refusal);
        }
        let principal = match http.app.signing_principal().await {
            Ok(Some(principal)) => principal,
            Ok(None) => return signature_refused(signed::Refusal::KeyUnknown),
            Err(error) => {
                tracing::error!(%error, "signing principal lookup failed");
                return (StatusCode::SERVICE_UNAVAILABLE, "authentication unavailable").into_response();
            }
        };
        return dispatch(&http, parts, bytes, Some(principal)).await;
    }
    let token = bearer_token(&parts.headers);
    let principal = match &token {
        None => None,
        Some(token) => match http.app.authenticate(token).await {
            Ok(Some(principal)) => Some(principal),
            Ok(None) => {
                return unauthorized(&http.realm, Some("invalid_token"), "unknown or revoked token");
            }
            Err(error) => {
                tracing::error!(%error, "authentication lookup failed");
                return (StatusCode::SERVICE_UNAVAILABLE, "authentication unavailable").into_response();
            }
        },
    };

    let bytes = if parts.method == Method::POST {
        match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
            }
        }
    } else {
        axum::body::to_bytes(body, 0).await.unwrap_or_default()
    };
    dispatch(&http, parts, bytes, principal).await
}

/// Routes an authenticated (or anonymous) MCP request to the stateful or stateless service.
async fn dispatch(
    http: &Http,
    mut parts: axum::http::request::Parts,
    bytes: Bytes,
    principal: Option<Principal>,
) -> Response {
    let messages = if parts.method == Method::POST { peek(&bytes) } else { Vec::new() };
    if principal.is_none() {
        let protected = messages.iter().any(|m| {
            m.method.as_deref() == Some("tools/call")
                && requires_auth(m.params.as_ref().and_then(|p| p.name.as_deref()).unwrap_or(""))
        });
        if protected {
            return unauthorized(&http.realm, None, "this tool needs credentials");
        }
    }

    let has_session = parts.headers.contains_key("mcp-session-id");
    let initializing = messages.iter().any(|m| m.method.as_deref() == Some("initialize"));
    let accepts_sse =
        parts.headers.get_all(header::ACCEPT).iter().any(|v| v.to_str().is_ok_and(|v| v.contains("text/event-stream")));
    let stateful = has_session || (initializing && accepts_sse);

    if !stateful {
        // rmcp refuses requests that do not accept both types, even when it answers plain JSON
        // (stateless, json_response, no notifications): state what it will in fact send.
        parts.headers.insert(header::ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
    }
    parts.extensions.insert(Caller(principal));
    let request = Request::from_parts(parts, Body::from(bytes));
    let response = if stateful {
        http.stateful.clone().oneshot(request).await.map(|r| r.map(Body::new))
    } else {
        http.stateless.clone().oneshot(request).await.map(|r| r.map(Body::new))
    };
    match response {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn peek(bytes: &Bytes) -> Vec<Peek> {
    if let Ok(single) = serde_json::from_slice::<Peek>(bytes) {
        return vec![single];
    }
    serde_json::from_slice::<Vec<Peek>>(bytes).unwrap_or_default()
}

/// The presented token: `Authorization: Bearer` first, then the seed-era `x-adcp-auth`.
fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let seed = headers.get("x-adcp-auth").and_then(|v| v.to_str().ok()).map(str::trim).filter(|t| !t.is_empty());
    bearer.or(seed).map(str::to_owned)
}

fn unauthorized(realm: &str, error: Option<&str>, message: &str) -> Response {
    let challenge = match error {
        Some(error) => format!("Bearer realm=\"{realm}\", error=\"{error}\""),
        None => format!("Bearer realm=\"{realm}\""),
    };
    let body = serde_json::json!({
        "error": { "code": "AUTH_REQUIRED", "message": message,
                   "suggestion": "send your token as Authorization: Bearer <token> or x-adcp-auth" }
    });
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Serves until `shutdown` is cancelled, then drains in-flight requests.
///
/// # Errors
/// Listener failures.
pub async fn serve(listener: tokio::net::TcpListener, app: App, shutdown: CancellationToken) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Without TCP_NODELAY every SSE-framed reply waits ~40 ms on Nagle + delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
    });
    let router = router(app, shutdown.clone());
    axum::serve(listener, router).with_graceful_shutdown(async move { shutdown.cancelled().await }).await
}
