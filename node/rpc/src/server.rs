//! HTTP side: routing, JSON-RPC over POST `/`, URI calls like
//! `GET /block?height=5`, and the websocket upgrade (the accept loop is in
//! listener.rs).

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use kawase_tls::ServerTls;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::backend::Backend;
use crate::config::RpcConfig;
use crate::error::{RpcError, ServeError};
use crate::jsonrpc::{failure, parse_query_string, parse_request, success, Incoming, Params};
use crate::listener::{accept_loop, ListenerLimits, ListenerStats};
use crate::methods::{arg_names, call, Ctx, MAX_BACKGROUND_BROADCASTS, METHODS, WS_METHODS};
use crate::pool::Pool;

/// A running RPC server. Dropping it leaves the server running; call
/// [`RpcServer::shutdown`] to stop it.
#[derive(Debug)]
pub struct RpcServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    stats: Arc<ListenerStats>,
    tls: Option<Arc<ServerTls>>,
}

impl RpcServer {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connection refusals and failed TLS handshakes, for the metrics.
    pub fn stats(&self) -> Arc<ListenerStats> {
        Arc::clone(&self.stats)
    }

    /// The listener's TLS (to reload it), if it has any.
    pub fn tls(&self) -> Option<Arc<ServerTls>> {
        self.tls.clone()
    }

    /// Stop accepting, close open connections (in-flight requests get up to
    /// the request timeout to finish) and wait for the server task to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "RPC server task failed");
        }
    }
}

/// Bind `config.laddr` and serve the RPC on it in plain text in a background
/// task. Must be called inside a tokio runtime.
pub async fn serve(config: RpcConfig, backend: Arc<dyn Backend>) -> Result<RpcServer, ServeError> {
    serve_with_tls(config, None, backend).await
}

/// [`serve`], over TLS when `tls` is given.
pub async fn serve_with_tls(
    config: RpcConfig,
    tls: Option<Arc<ServerTls>>,
    backend: Arc<dyn Backend>,
) -> Result<RpcServer, ServeError> {
    let pool = Pool::new(config.max_concurrent_calls).map_err(ServeError::Pool)?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let limits = ListenerLimits {
        max_open_connections: config.max_open_connections,
        request_timeout: config.request_timeout,
        max_header_bytes: config.max_header_bytes,
        rate: crate::ratelimit::RateLimiter::new(config.rate_limits),
    };
    let laddr = config.laddr;
    let ctx = Arc::new(Ctx {
        backend,
        config,
        subscription_clients: AtomicUsize::new(0),
        shutdown: shutdown_rx,
        async_broadcasts: Arc::new(Semaphore::new(MAX_BACKGROUND_BROADCASTS)),
        pool,
    });
    let rx = ctx.shutdown.clone();
    start(laddr, limits, tls, router(ctx), shutdown, rx).await
}

/// Serve any router (the metrics endpoint, a REST API) on the same bounded,
/// TLS-capable listener as the RPC.
pub async fn serve_http(
    laddr: SocketAddr,
    limits: ListenerLimits,
    tls: Option<Arc<ServerTls>>,
    router: Router,
) -> Result<RpcServer, ServeError> {
    let (shutdown, rx) = watch::channel(false);
    start(laddr, limits, tls, router, shutdown, rx).await
}

async fn start(
    laddr: SocketAddr,
    limits: ListenerLimits,
    tls: Option<Arc<ServerTls>>,
    router: Router,
    shutdown: watch::Sender<bool>,
    rx: watch::Receiver<bool>,
) -> Result<RpcServer, ServeError> {
    let bind_err = |source| ServeError::Bind { addr: laddr, source };
    let listener = TcpListener::bind(laddr).await.map_err(bind_err)?;
    let local_addr = listener.local_addr().map_err(bind_err)?;
    let stats = Arc::new(ListenerStats::default());
    tracing::info!(%local_addr, tls = tls.is_some(), "listening");
    let task = tokio::spawn(accept_loop(listener, limits, tls.clone(), router, rx, Arc::clone(&stats)));
    Ok(RpcServer { local_addr, shutdown, task, stats, tls })
}
fn router(ctx: Arc<Ctx>) -> Router {
    Router::new().route("/", any(root)).route("/websocket", any(websocket)).fallback(uri_call).with_state(ctx)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// Read the body within the size and time limits.
async fn read_body(ctx: &Ctx, body: Body) -> Result<Bytes, RpcError> {
    let limit = ctx.config.max_body_bytes;
    match tokio::time::timeout(ctx.config.request_timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(RpcError::InvalidRequest("error reading request body: timed out".into())),
        Ok(Err(e)) => {
            Err(RpcError::InvalidRequest(format!("error reading request body: {e} (max_body_bytes is {limit})")))
        }
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

/// `/`: JSON-RPC (single or batch); an empty body lists the endpoints.
async fn root(State(ctx): State<Arc<Ctx>>, req: Request) -> Response {
    // The Host header is echoed into HTML: keep only characters of a host.
    let host: String = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        .collect();
    let body = match read_body(&ctx, req.into_body()).await {
        Ok(b) => b,
        Err(e) => return json_response(StatusCode::BAD_REQUEST, &failure(&Value::Null, &e)),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return endpoint_list(&host);
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let err = RpcError::Parse(format!("error unmarshaling request: {e}"));
            return json_response(StatusCode::INTERNAL_SERVER_ERROR, &failure(&Value::Null, &err));
        }
    };
    match parsed {
        Value::Array(items) => {
            if items.is_empty() {
                let err = RpcError::InvalidRequest("empty batch".into());
                return json_response(StatusCode::OK, &failure(&Value::Null, &err));
            }
            let max = ctx.config.max_batch_size;
            if max > 0 && items.len() > max {
                let err = RpcError::InvalidRequest(format!(
                    "batch request exceeds maximum ({max}) allowed number of requests"
                ));
                return json_response(StatusCode::OK, &Value::Array(vec![failure(&Value::Null, &err)]));
            }
            let mut responses = Vec::with_capacity(items.len());
            for item in items {
                if let Some(r) = answer(&ctx, item).await {
                    responses.push(r);
                }
            }
            if responses.is_empty() {
                // Only notifications: nothing to say.
                return StatusCode::OK.into_response();
            }
            json_response(StatusCode::OK, &Value::Array(responses))
        }
        single => match answer(&ctx, single).await {
            Some(r) => json_response(StatusCode::OK, &r),
            None => StatusCode::OK.into_response(),
        },
    }
}

/// Answer one JSON-RPC request object (`None` for a notification).
async fn answer(ctx: &Arc<Ctx>, item: Value) -> Option<Value> {
    match parse_request(item, arg_names) {
        Incoming::Notification => None,
        Incoming::Invalid(id, err) => Some(failure(&id, &err)),
        Incoming::Request(req) => Some(match call(ctx, &req.method, &req.params).await {
            Ok(result) => success(&req.id, result),
            Err(e) => failure(&req.id, &e),
        }),
    }
}

/// `/<method>?<args>`: CometBFT's URI calls, answered with id -1.
async fn uri_call(State(ctx): State<Arc<Ctx>>, req: Request) -> Response {
    let method = req.uri().path().trim_start_matches('/').to_owned();
    let id = Value::from(-1);
    if WS_METHODS.iter().any(|(name, _)| *name == method) {
        let err = RpcError::MethodNotFound(format!("{method} is only available over the websocket (/websocket)"));
        return json_response(StatusCode::NOT_FOUND, &failure(&id, &err));
    }
    if !METHODS.iter().any(|(name, _)| *name == method) {
        return (StatusCode::NOT_FOUND, "404 page not found\n").into_response();
    }
    let params = Params::Uri(parse_query_string(req.uri().query().unwrap_or("")));
    match call(&ctx, &method, &params).await {
        Ok(result) => json_response(StatusCode::OK, &success(&id, result)),
        Err(e) => json_response(StatusCode::INTERNAL_SERVER_ERROR, &failure(&id, &e)),
    }
}

/// `/websocket`: upgrade, then JSON-RPC and subscriptions on the socket.
async fn websocket(
    State(ctx): State<Arc<Ctx>>,
    method: Method,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(ws) => {
            let max = ctx.config.max_body_bytes;
            ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| crate::ws::session(socket, ctx))
        }
        Err(rejection) => {
            tracing::debug!(%method, %rejection, "bad websocket upgrade");
            (StatusCode::BAD_REQUEST, "Bad Request\n").into_response()
        }
    }
}

/// The HTML list CometBFT shows for `GET /`.
fn endpoint_list(host: &str) -> Response {
    let mut no_args: Vec<&str> = Vec::new();
    let mut with_args: Vec<(&str, &[&str])> = Vec::new();
    for (name, args) in METHODS {
        if args.is_empty() {
            no_args.push(name);
        } else {
            with_args.push((name, args));
        }
    }
    no_args.sort_unstable();
    with_args.sort_unstable();
    let mut html = String::from("<html><body><br>Available endpoints:<br>");
    for name in no_args {
        let link = format!("//{host}/{name}");
        html.push_str(&format!("<a href=\"{link}\">{link}</a></br>"));
    }
    html.push_str("<br>Endpoints that require arguments:<br>");
    for (name, args) in with_args {
        let query: Vec<String> = args.iter().map(|a| format!("{a}=_")).collect();
        let link = format!("//{host}/{name}?{}", query.join("&"));
        html.push_str(&format!("<a href=\"{link}\">{link}</a></br>"));
    }
    html.push_str("</body></html>");
    let mut resp = html.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}
