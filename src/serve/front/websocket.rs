//! A WebSocket API: the upgrade at `/{stage}` runs `$connect` (a non-2xx
//! answer refuses it with that status), each message goes to the route the
//! selection expression picks (or `$default`), a close runs
//! `$disconnect`; and the same port answers the Management API
//! (`POST/GET/DELETE /{stage}/@connections/{id}`) over the live
//! connections, so functions push to clients as they do on AWS.

use super::{head, to_axum, Api};
use crate::serve::plan::RouteTarget;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use lambda_local::apigw::management::{self, ConnectionInfo, Gone};
use lambda_local::apigw::websocket::{self as ws, Connection};
use lambda_local::apigw::{self, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// What is sent to a client's socket.
enum Out {
    Frame(Message),
    Close,
}

struct Live {
    conn: Connection,
    last_active: u64,
    tx: UnboundedSender<Out>,
}

/// The API's live connections.
#[derive(Default)]
pub struct Connections {
    live: Mutex<HashMap<String, Live>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Connections {
    fn touch(&self, id: &str) {
        if let Some(l) = self.live.lock().expect("not poisoned").get_mut(id) {
            l.last_active = now_ms();
        }
    }
}

impl management::Connections for Connections {
    fn post(&self, id: &str, data: Vec<u8>) -> Result<(), Gone> {
        let mut live = self.live.lock().expect("not poisoned");
        let l = live.get_mut(id).ok_or(Gone)?;
        l.last_active = now_ms();
        let frame = match String::from_utf8(data) {
            Ok(text) => Message::Text(text.into()),
            Err(e) => Message::Binary(e.into_bytes().into()),
        };
        l.tx.send(Out::Frame(frame)).map_err(|_| Gone)
    }

    fn info(&self, id: &str) -> Result<ConnectionInfo, Gone> {
        let live = self.live.lock().expect("not poisoned");
        let l = live.get(id).ok_or(Gone)?;
        Ok(ConnectionInfo {
            connected_at: l.conn.connected_at,
            last_active_at: l.last_active,
            source_ip: l.conn.source_ip.clone(),
            user_agent: l.conn.user_agent.clone(),
        })
    }

    fn close(&self, id: &str) -> Result<(), Gone> {
        let live = self.live.lock().expect("not poisoned");
        let l = live.get(id).ok_or(Gone)?;
        l.tx.send(Out::Close).map_err(|_| Gone)
    }
}

/// The API's router: the Management API, and upgrades everywhere else.
pub fn router(api: Arc<Api>) -> axum::Router {
    let connections: Arc<dyn management::Connections> = api.connections.clone();
    axum::Router::new()
        .fallback(upgrade)
        .with_state(api)
        .merge(management::router(connections))
}

/// The function of route `key`, if the API declares it.
fn target(api: &Api, key: &str) -> Option<crate::serve::plan::FnId> {
    match api.targets.get(key).map(|r| &r.target) {
        Some(RouteTarget::Function(f)) => Some(f.clone()),
        _ => None,
    }
}

async fn upgrade(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let arrived = Instant::now();
    let (mut parts, _body) = req.into_parts();
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &()).await;
    let request = head(&parts, peer);
    let cx = api.context(&request);
    // Only the stage's root takes connections.
    if apigw::route_path(&request.path, &api.plan.stage) != Some("/") {
        return to_axum(Response::message(403, "Forbidden"));
    }
    let Ok(upgrade) = upgrade else {
        return to_axum(Response::message(426, "Upgrade Required"));
    };
    let conn = Connection::new(
        &request.source_ip,
        request.header("user-agent").unwrap_or_default(),
    );
    if let Some(f) = target(&api, "$connect") {
        let event = ws::connect_event(&request, &cx, &conn, None);
        let verdict = match api.invoke(&f, "$connect", event, &cx, arrived).await {
            Some(outcome) => ws::connect_verdict(&outcome),
            None => Err(504),
        };
        if let Err(status) = verdict {
            return to_axum(Response::message(status, "Forbidden"));
        }
    }
    upgrade.on_upgrade(move |socket| session(api, conn, socket))
}

/// One connection, from the upgrade to `$disconnect`.
async fn session(api: Arc<Api>, conn: Connection, mut socket: WebSocket) {
    let (tx, mut rx) = unbounded_channel();
    let id = conn.id.clone();
    api.connections.live.lock().expect("not poisoned").insert(
        id.clone(),
        Live {
            conn: conn.clone(),
            last_active: now_ms(),
            tx: tx.clone(),
        },
    );
    let routes: Vec<String> = api.targets.keys().cloned().collect();
    let (mut code, mut reason) = (1006u16, String::new());
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(t))) => message(&api, &conn, &routes, t.as_bytes().to_vec(), false, &tx),
                Some(Ok(Message::Binary(b))) => message(&api, &conn, &routes, b.to_vec(), true, &tx),
                Some(Ok(Message::Close(frame))) => {
                    (code, reason) = frame
                        .map(|f| (f.code, f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            out = rx.recv() => match out {
                Some(Out::Frame(m)) => {
                    if socket.send(m).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close) | None => {
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame {
                            code: 1000,
                            reason: "Goodbye".into(),
                        })))
                        .await;
                    (code, reason) = (1000, "Goodbye".to_string());
                    break;
                }
            },
        }
    }
    api.connections
        .live
        .lock()
        .expect("not poisoned")
        .remove(&id);
    if let Some(f) = target(&api, "$disconnect") {
        let cx = api.context(&apigw::Request::default());
        let event = ws::disconnect_event(&cx, &conn, code, &reason);
        api.invoke(&f, "$disconnect", event, &cx, Instant::now())
            .await;
    }
}

/// A message: to its route's function, concurrently with the next ones;
/// an error frame back when the integration failed.
fn message(
    api: &Arc<Api>,
    conn: &Connection,
    routes: &[String],
    body: Vec<u8>,
    binary: bool,
    tx: &UnboundedSender<Out>,
) {
    api.connections.touch(&conn.id);
    let (api, conn, tx) = (api.clone(), conn.clone(), tx.clone());
    let route = ws::select_route(&api.plan.route_selection, &body, routes);
    tokio::spawn(async move {
        let cx = api.context(&apigw::Request::default());
        let Some(route) = route.filter(|r| !r.starts_with("$connect") && r != "$disconnect") else {
            let _ = tx.send(Out::Frame(Message::Text(
                ws::no_route_frame(&conn.id, &cx.request_id).into(),
            )));
            return;
        };
        let Some(f) = target(&api, &route) else {
            return;
        };
        let event = ws::message_event(&cx, &conn, &route, &body, binary);
        let outcome = api
            .invoke(&f, &route, event, &cx, Instant::now())
            .await
            .unwrap_or(lambda_local::runtime::Outcome::Timeout);
        if let Some(frame) = ws::message_reply(&outcome, &conn.id, &cx.request_id) {
            let _ = tx.send(Out::Frame(Message::Text(frame.into())));
        }
    });
}
