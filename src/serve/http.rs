//! The HTTP layer of `rp serve` (axum on tokio): routes, request checking, the batcher, budgets.
//!
//! `POST /v1/predict` `{"records": [...], "certificate": false}` → `{"answers": [{"label": …}, …]}`;
//! `GET /v1/model`, `GET /healthz`, `GET /metrics`. A client's mistake gets a 4xx naming the record and
//! field (400 malformed, 401 no or unknown key, 403 certificate not allowed, 413 body too large, 429
//! over budget); a full queue gets 503 with `Retry-After`. Concurrent requests are answered together:
//! the batcher collects records for a short window (or up to a batch size) and runs one parallel pass.
use super::metrics::Metrics;
use super::store::{now, AuditEntry, Store};
use super::{Deployed, Keys, Served};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Limits and batching of the service.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Records accepted but not yet answered, at most; beyond, 503 with `Retry-After`.
    pub queue_records: usize,
    /// How long the batcher waits for more records after the first.
    pub window: Duration,
    /// Records per sampler pass, at most.
    pub max_batch: usize,
    /// Records per request, at most.
    pub max_records: usize,
    /// Request body size limit in bytes (413 beyond).
    pub body_limit: usize,
    /// Time a request may wait for its answers (503 beyond).
    pub timeout: Duration,
}

struct App {
    deployed: Arc<Deployed>,
    keys: Option<Keys>,
    store: Store,
    metrics: Metrics,
    jobs: mpsc::UnboundedSender<Job>,
    pending: AtomicUsize,
    opts: ServeOptions,
}

struct Job {
    inputs: Vec<Vec<f64>>,
    /// Who is charged for the answers, and their budget.
    key: String,
    budget: Option<u64>,
    reply: oneshot::Sender<Result<Charged, String>>,
}

/// A job's answers, charged and logged (committed) — or refused because they would pass the budget.
enum Charged {
    Answers(Vec<Served>),
    OverBudget(super::store::OverBudget),
}

/// A response to a client's mistake (or an overloaded server): status, message, and `Retry-After`.
struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

fn err(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError { status, message: message.into(), retry_after: None }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(json!({ "error": self.message }))).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// Serves until Ctrl-C / SIGTERM; `ready` is called with the bound address once it listens.
pub fn run(deployed: Deployed, keys: Option<Keys>, store: Store, opts: ServeOptions, ready: impl FnOnce(SocketAddr)) -> crate::Result<()> {
    let io = |e: std::io::Error| crate::Error::Option(format!("rp serve: {e}"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(io)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen).await.map_err(|e| crate::Error::Option(format!("cannot listen on {}: {e}", opts.listen)))?;
        let addr = listener.local_addr().map_err(io)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let body_limit = opts.body_limit;
        let app = Arc::new(App { deployed: Arc::new(deployed), keys, store, metrics: Metrics::new(), jobs: tx, pending: AtomicUsize::new(0), opts });
        tokio::spawn(batcher(app.clone(), rx));
        let router = Router::new()
            .route("/v1/predict", post(predict))
            .route("/v1/model", get(model))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/metrics", get(metrics))
            .layer(DefaultBodyLimit::max(body_limit))
            .with_state(app);
        ready(addr);
        axum::serve(listener, router).with_graceful_shutdown(shutdown()).await.map_err(io)
    })
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Collects the jobs that arrive within the window (or up to the batch size) and answers them in one
/// parallel pass off the async threads.
async fn batcher(app: Arc<App>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut count = first.inputs.len();
        let mut jobs = vec![first];
        let deadline = tokio::time::Instant::now() + app.opts.window;
        while count < app.opts.max_batch {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(j)) => {
                    count += j.inputs.len();
                    jobs.push(j);
                }
                _ => break,
            }
        }
        let all: Vec<Vec<f64>> = jobs.iter().flat_map(|j| j.inputs.iter().cloned()).collect();
        let deployed = app.deployed.clone();
        let result = tokio::task::spawn_blocking(move || deployed.answer(&all)).await;
        app.pending.fetch_sub(count, Ordering::SeqCst);
        app.metrics.queue.set(app.pending.load(Ordering::SeqCst) as i64);
        match result {
            Ok(Ok(served)) => {
                let mut it = served.into_iter();
                let parts: Vec<Vec<Served>> = jobs.iter().map(|j| it.by_ref().take(j.inputs.len()).collect()).collect();
                // the batch's charges and audit rows in one transaction, committed before any answer leaves
                let entries: Vec<Vec<AuditEntry>> = jobs
                    .iter()
                    .zip(&parts)
                    .map(|(j, p)| p.iter().map(|s| AuditEntry { key: j.key.clone(), time: now(), input_hash: s.mac_hex.clone(), answer: label_text(&app.deployed.label(s.answer)) }).collect())
                    .collect();
                let requests: Vec<(String, Option<u64>, Vec<AuditEntry>)> = jobs.iter().zip(entries).map(|(j, e)| (j.key.clone(), j.budget, e)).collect();
                let app2 = app.clone();
                let charged = tokio::task::spawn_blocking(move || {
                    let refs: Vec<(&str, Option<u64>, &[AuditEntry])> = requests.iter().map(|(k, b, e)| (k.as_str(), *b, e.as_slice())).collect();
                    app2.store.charge_all(&refs)
                })
                .await;
                match charged {
                    Ok(Ok(outcomes)) => {
                        for ((j, part), o) in jobs.into_iter().zip(parts).zip(outcomes) {
                            let c = match o {
                                Ok(_) => Charged::Answers(part),
                                Err(over) => Charged::OverBudget(over),
                            };
                            let _ = j.reply.send(Ok(c)); // a client that gave up is no error
                        }
                    }
                    Ok(Err(e)) => jobs.into_iter().for_each(|j| drop(j.reply.send(Err(e.to_string())))),
                    Err(e) => jobs.into_iter().for_each(|j| drop(j.reply.send(Err(format!("the budget store failed: {e}"))))),
                }
            }
            Ok(Err(e)) => jobs.into_iter().for_each(|j| drop(j.reply.send(Err(e.to_string())))),
            Err(e) => jobs.into_iter().for_each(|j| drop(j.reply.send(Err(format!("the sampler failed: {e}"))))),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictRequest {
    records: Vec<Value>,
    #[serde(default)]
    certificate: bool,
}

async fn predict(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let start = Instant::now();
    let resp = match answer(&app, &headers, &body).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    };
    app.metrics.request("/v1/predict", resp.status().as_u16());
    app.metrics.latency(start.elapsed().as_secs_f64());
    resp
}

async fn answer(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let (key, budget, may_certify) = authorize(app, headers)?;
    let req: PredictRequest = serde_json::from_slice(body).map_err(|e| err(StatusCode::BAD_REQUEST, format!("malformed request: {e}; send {{\"records\": [...]}}")))?;
    if req.records.is_empty() {
        return Err(err(StatusCode::BAD_REQUEST, "\"records\" is empty"));
    }
    if req.records.len() > app.opts.max_records {
        return Err(err(StatusCode::PAYLOAD_TOO_LARGE, format!("{} records in one request; at most {}", req.records.len(), app.opts.max_records)));
    }
    if req.certificate && !may_certify {
        return Err(err(StatusCode::FORBIDDEN, "this key may not see certificates; ask without \"certificate\"")); 
    }
    let inputs: Vec<Vec<f64>> = req.records.iter().enumerate().map(|(i, r)| model_input(&app.deployed, i, r)).collect::<Result<_, _>>()?;
    if let Some(b) = budget {
        let used = app.store.used(&key).map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        if used + inputs.len() as u64 > b {
            return Err(err(StatusCode::TOO_MANY_REQUESTS, format!("key '{key}' has used {used} of its {b} records; this request asks for {}", inputs.len())));
        }
    }
    let served = match submit(app, inputs, &key, budget).await? {
        Charged::Answers(s) => s,
        Charged::OverBudget(o) => return Err(err(StatusCode::TOO_MANY_REQUESTS, format!("key '{key}' has used {} of its {} records", o.used, o.budget))),
    };
    let d = &app.deployed;
    let answers: Vec<Value> = served
        .iter()
        .map(|s| {
            app.metrics.answer(s.answer == crate::cert::Answer::Abstain);
            let mut a = json!({ "label": d.label(s.answer) });
            if req.certificate {
                a["radius"] = json!(s.radius);
                a["alpha"] = json!(d.options.alpha);
                a["guarantee"] = json!(s.guarantee);
                if let Some((name, std)) = &d.raw {
                    a["radius_raw"] = json!(s.radius * std);
                    a["raw_attribute"] = json!(name);
                }
            }
            a
        })
        .collect();
    Ok(json!({ "answers": answers }))
}

/// The key of the request (name, budget, may it see certificates): with a keys file a known bearer
/// token is required; without one every client is "anonymous", unbudgeted, without certificates.
fn authorize(app: &App, headers: &HeaderMap) -> Result<(String, Option<u64>, bool), ApiError> {
    let Some(keys) = &app.keys else { return Ok(("anonymous".into(), None, false)) };
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    match token.and_then(|t| keys.by_token(t)) {
        Some(k) => Ok((k.name.clone(), Some(k.budget), k.certificate)),
        None if token.is_none() => Err(err(StatusCode::UNAUTHORIZED, "send the API key as 'Authorization: Bearer TOKEN'")),
        None => Err(err(StatusCode::UNAUTHORIZED, "unknown API key")),
    }
}

/// One record as a model input: with a card, an object of raw features (numbers, or strings for
/// categories); without, an array of the model's inputs. Numbers must be finite.
fn model_input(d: &Deployed, i: usize, r: &Value) -> Result<Vec<f64>, ApiError> {
    let bad = |m: String| err(StatusCode::BAD_REQUEST, format!("record {i}: {m}"));
    let x = match (&d.card, r) {
        (Some(card), Value::Object(map)) => {
            let known = card.features.iter().map(|f| f.name().to_string()).collect::<Vec<_>>();
            let mut header = Vec::with_capacity(map.len());
            let mut cells = Vec::with_capacity(map.len());
            for (k, v) in map {
                if !known.contains(k) {
                    return Err(bad(format!("unknown field '{k}'; the card's features are {}", known.join(", "))));
                }
                let cell = match v {
                    Value::Number(n) => n.as_f64().map(|f| f.to_string()).ok_or_else(|| bad(format!("field '{k}': {n} is not a finite number")))?,
                    Value::String(s) => s.clone(),
                    _ => return Err(bad(format!("field '{k}': expected a number or a category name, got {v}"))),
                };
                header.push(k.clone());
                cells.push(cell);
            }
            card.transform(&header, &cells).map_err(|reason| bad(reason.replace("column", "field")))?
        }
        (Some(_), _) => return Err(bad("expected an object of raw features (the server has a model card)".into())),
        (None, Value::Array(values)) => values
            .iter()
            .enumerate()
            .map(|(j, v)| v.as_f64().filter(|f| f.is_finite()).ok_or_else(|| bad(format!("input {j}: expected a finite number, got {v}"))))
            .collect::<Result<Vec<f64>, _>>()?,
        (None, _) => return Err(bad(format!("expected an array of {} numbers (model inputs; the server has no model card)", d.net.input_dim()))),
    };
    if x.len() != d.net.input_dim() {
        return Err(bad(format!("{} inputs; the model takes {}", x.len(), d.net.input_dim())));
    }
    Ok(x)
}

/// Queues the records for the batcher (503 when the queue is full) and waits for their answers, charged
/// to `key` and logged.
async fn submit(app: &App, inputs: Vec<Vec<f64>>, key: &str, budget: Option<u64>) -> Result<Charged, ApiError> {
    let n = inputs.len();
    let before = app.pending.fetch_add(n, Ordering::SeqCst);
    if before + n > app.opts.queue_records {
        app.pending.fetch_sub(n, Ordering::SeqCst);
        return Err(ApiError { status: StatusCode::SERVICE_UNAVAILABLE, message: "the queue is full; retry shortly".into(), retry_after: Some(1) });
    }
    app.metrics.queue.set((before + n) as i64);
    let (tx, rx) = oneshot::channel();
    app.jobs.send(Job { inputs, key: key.to_string(), budget, reply: tx }).map_err(|_| err(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"))?;
    match tokio::time::timeout(app.opts.timeout, rx).await {
        Ok(Ok(Ok(served))) => Ok(served),
        Ok(Ok(Err(e))) => Err(err(StatusCode::INTERNAL_SERVER_ERROR, e)),
        Ok(Err(_)) => Err(err(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down")),
        Err(_) => Err(ApiError { status: StatusCode::SERVICE_UNAVAILABLE, message: "timed out waiting for the sampler; retry shortly".into(), retry_after: Some(1) }),
    }
}

fn label_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn model(State(app): State<Arc<App>>) -> Response {
    let d = &app.deployed;
    app.metrics.request("/v1/model", 200);
    axum::Json(json!({
        "model_sha256": d.model_sha256,
        "model": d.net.describe(),
        "card": d.card,
        "sigma": d.options.sigma,
        "n0": d.options.n0,
        "n": d.options.n,
        "alpha": d.options.alpha,
        "mode": d.options.mode,
        "noise": format!("HMAC-SHA256(secret, model input rounded to multiples of 2^-{}) seeds each record's draws", super::GRID_BITS),
    }))
    .into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    app.metrics.request("/metrics", 200);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.text()).into_response()
}
