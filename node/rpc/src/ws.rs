//! `/websocket`: JSON-RPC over a websocket plus event subscriptions, pushed
//! as CometBFT does (each event is a response carrying the subscribe
//! request's id and `{query, data, events}`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{timeout, Instant};

use crate::backend::NodeEvent;
use crate::error::RpcError;
use crate::events::{event_data, event_map, Query};
use crate::jsonrpc::{failure, parse_request, success, Incoming, Params, Request};
use crate::methods::{arg_names, call, Ctx};
use crate::shutdown::wait_shutdown;

/// CometBFT's websocket timings: a client silent for 30 s is gone; we ping
/// every 27 s so a live client always has something to answer.
const READ_WAIT: Duration = Duration::from_secs(30);
const PING_PERIOD: Duration = Duration::from_secs(27);
const WRITE_WAIT: Duration = Duration::from_secs(10);
/// Outgoing messages queued per connection (CometBFT: 100).
const WRITE_QUEUE: usize = 100;
/// Calls one connection may have running at once.
const MAX_IN_FLIGHT: usize = 16;
/// CometBFT's limit on a subscription query.
const MAX_QUERY_LEN: usize = 512;

struct Subscription {
    /// The subscribe request's id: every event for it carries this id.
    id: Value,
    query: Query,
}

/// Query string → subscription, for one connection.
type Subscriptions = Arc<Mutex<HashMap<String, Subscription>>>;

fn lock(subs: &Subscriptions) -> MutexGuard<'_, HashMap<String, Subscription>> {
    // The map stays consistent even if a holder panicked mid-way.
    subs.lock().unwrap_or_else(PoisonError::into_inner)
}

fn text(value: &Value) -> Message {
    Message::Text(value.to_string().into())
}

/// Serve one websocket connection until it closes, goes silent or the
/// server shuts down.
pub(crate) async fn session(socket: WebSocket, ctx: Arc<Ctx>) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut out_rx) = mpsc::channel::<Message>(WRITE_QUEUE);

    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval_at(Instant::now() + PING_PERIOD, PING_PERIOD);
        loop {
            let msg = tokio::select! {
                m = out_rx.recv() => match m {
                    Some(m) => m,
                    None => break,
                },
                _ = ping.tick() => Message::Ping(Default::default()),
            };
            if !matches!(timeout(WRITE_WAIT, sink.send(msg)).await, Ok(Ok(()))) {
                break;
            }
        }
        let _ = timeout(WRITE_WAIT, sink.close()).await;
    });

    let subs: Subscriptions = Arc::default();
    let mut pump: Option<JoinHandle<()>> = None;
    let mut calls = JoinSet::new();
    let mut shutdown = ctx.shutdown.clone();

    loop {
        let next = tokio::select! {
            n = timeout(READ_WAIT, stream.next()) => n,
            () = wait_shutdown(&mut shutdown) => break,
            Some(_) = calls.join_next(), if !calls.is_empty() => continue,
        };
        let body = match next {
            Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
            Ok(Some(Ok(Message::Binary(b)))) => match String::from_utf8(b.to_vec()) {
                Ok(s) => s,
                Err(e) => {
                    let err = RpcError::Parse(format!("message is not UTF-8: {e}"));
                    if out.send(text(&failure(&Value::Null, &err))).await.is_err() {
                        break;
                    }
                    continue;
                }
            },
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            // Closed, failed, or silent for too long.
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) | Err(_) => break,
        };
        let req = match serde_json::from_str::<Value>(&body) {
            Err(e) => {
                let err = RpcError::Parse(format!("error unmarshaling request: {e}"));
                if out.send(text(&failure(&Value::Null, &err))).await.is_err() {
                    break;
                }
                continue;
            }
            Ok(value) => match parse_request(value, arg_names) {
                Incoming::Notification => continue,
                Incoming::Invalid(id, err) => {
                    if out.send(text(&failure(&id, &err))).await.is_err() {
                        break;
                    }
                    continue;
                }
                Incoming::Request(req) => req,
            },
        };
        let Request { id, method, params } = req;
        // Subscriptions are handled in order, here, so "already subscribed"
        // and the limits cannot race.
        let reply = match method.as_str() {
            "subscribe" => Some(subscribe(&ctx, &subs, &mut pump, &out, &id, &params).await),
            "unsubscribe" => Some(unsubscribe(&subs, &params).map(|()| json!({}))),
            "unsubscribe_all" => Some(unsubscribe_all(&subs).map(|()| json!({}))),
            _ => None,
        };
        match reply {
            // A successful subscribe has already answered.
            Some(Ok(Value::Null)) => {}
            Some(result) => {
                let msg = match result {
                    Ok(v) => success(&id, v),
                    Err(e) => failure(&id, &e),
                };
                if out.send(text(&msg)).await.is_err() {
                    break;
                }
            }
            None => {
                while calls.len() >= MAX_IN_FLIGHT {
                    calls.join_next().await;
                }
                let (ctx, out) = (Arc::clone(&ctx), out.clone());
                calls.spawn(async move {
                    let msg = match call(&ctx, &method, &params).await {
                        Ok(v) => success(&id, v),
                        Err(e) => failure(&id, &e),
                    };
                    let _ = out.send(text(&msg)).await;
                });
            }
        }
        if writer.is_finished() {
            break;
        }
    }

    calls.abort_all();
    if let Some(pump) = pump {
        pump.abort();
        ctx.subscription_clients.fetch_sub(1, Ordering::SeqCst);
    }
    drop(out);
    // Let queued answers go out, but not for long.
    let abort = writer.abort_handle();
    if timeout(WRITE_WAIT, writer).await.is_err() {
        abort.abort();
    }
}

/// Subscribe; on success the `{}` answer is sent here, before the
/// subscription starts receiving, so the client never sees an event for a
/// query it has not been told it subscribed to. Returns `Ok(Null)` then.
async fn subscribe(
    ctx: &Arc<Ctx>,
    subs: &Subscriptions,
    pump: &mut Option<JoinHandle<()>>,
    out: &mpsc::Sender<Message>,
    id: &Value,
    params: &Params,
) -> Result<Value, RpcError> {
    let query_str = params.string("query")?.ok_or_else(|| RpcError::invalid_params("missing parameter query"))?;
    if query_str.len() > MAX_QUERY_LEN {
        return Err(RpcError::internal("maximum query length exceeded"));
    }
    let query = Query::parse(&query_str).map_err(|e| RpcError::internal(format!("failed to parse query: {e}")))?;
    {
        let subs = lock(subs);
        if subs.contains_key(&query_str) {
            return Err(RpcError::internal("already subscribed"));
        }
        let max = ctx.config.max_subscriptions_per_client;
        if subs.len() >= max {
            return Err(RpcError::internal(format!("max_subscriptions_per_client {max} reached")));
        }
    }
    let need_pump = match pump {
        None => {
            let max = ctx.config.max_subscription_clients;
            let claimed = ctx
                .subscription_clients
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1));
            if claimed.is_err() {
                return Err(RpcError::internal(format!("max_subscription_clients {max} reached")));
            }
            true
        }
        // The node's event channel closed earlier: start over on a new one.
        Some(p) => p.is_finished(),
    };
    if need_pump {
        let events = match ctx.run(|b| Ok(b.subscribe())).await {
            Ok(events) => events,
            Err(e) => {
                // Give back the client slot claimed above.
                if pump.is_none() {
                    ctx.subscription_clients.fetch_sub(1, Ordering::SeqCst);
                }
                return Err(e);
            }
        };
        *pump = Some(tokio::spawn(pump_events(events, Arc::clone(subs), out.clone())));
    }
    out.send(text(&success(id, json!({})))).await.map_err(|_| RpcError::internal("connection closed"))?;
    lock(subs).insert(query_str, Subscription { id: id.clone(), query });
    Ok(Value::Null)
}

fn unsubscribe(subs: &Subscriptions, params: &Params) -> Result<(), RpcError> {
    let query = params.string("query")?.ok_or_else(|| RpcError::invalid_params("missing parameter query"))?;
    lock(subs).remove(&query).map(|_| ()).ok_or_else(|| RpcError::internal("subscription not found"))
}

fn unsubscribe_all(subs: &Subscriptions) -> Result<(), RpcError> {
    let mut subs = lock(subs);
    if subs.is_empty() {
        return Err(RpcError::internal("subscription not found"));
    }
    subs.clear();
    Ok(())
}

/// Forward node events to this connection's matching subscriptions.
async fn pump_events(mut events: broadcast::Receiver<NodeEvent>, subs: Subscriptions, out: mpsc::Sender<Message>) {
    loop {
        let (messages, stop) = match events.recv().await {
            Ok(event) => {
                let map = event_map(&event);
                let targets: Vec<(Value, String)> = lock(&subs)
                    .iter()
                    .filter(|(_, s)| s.query.matches(&map))
                    .map(|(q, s)| (s.id.clone(), q.clone()))
                    .collect();
                if targets.is_empty() {
                    continue;
                }
                let data = match event_data(&event) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot encode node event");
                        continue;
                    }
                };
                let messages = targets
                    .into_iter()
                    .map(|(id, query)| success(&id, json!({ "query": query, "data": data, "events": map })))
                    .collect::<Vec<_>>();
                (messages, false)
            }
            // Too slow to keep up: cancel, as CometBFT does for slow clients.
            Err(broadcast::error::RecvError::Lagged(n)) => {
                (cancel_all(&subs, &format!("slow client, {n} events dropped")), false)
            }
            Err(broadcast::error::RecvError::Closed) => (cancel_all(&subs, "the node stopped"), true),
        };
        for msg in messages {
            if out.send(text(&msg)).await.is_err() {
                return;
            }
        }
        if stop {
            return;
        }
    }
}

/// Drop every subscription, returning the error each one's client gets.
fn cancel_all(subs: &Subscriptions, reason: &str) -> Vec<Value> {
    let err = RpcError::Server(format!("subscription was canceled (reason: {reason})"));
    lock(subs).drain().map(|(_, s)| failure(&s.id, &err)).collect()
}
