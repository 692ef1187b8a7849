//! Reading a live stream (`/s/<slug>/live`) as a browser's EventSource does.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub data: String,
    pub retry: Option<String>,
}

#[derive(Default)]
struct Seen {
    events: Vec<Event>,
    /// When each connection ended (the server closed it, or it failed).
    ends: Vec<(Duration, String)>,
    opened: usize,
}

/// A stream being read in the background.
pub struct Follower {
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

/// Opens `url` with `cookie` and reads it; when `reconnect`, opens it again after it ends
/// (half a second later, as the server's `retry` hint asks). Times count from `started`.
pub fn follow(url: String, cookie: String, started: Instant, reconnect: bool) -> Follower {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let task = {
        let seen = seen.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let opened = client
                    .get(&url)
                    .header("cookie", &cookie)
                    .header("accept", "text/event-stream")
                    .send()
                    .await;
                let why = match opened {
                    Ok(mut response) if response.status().is_success() => {
                        seen.lock().unwrap_or_else(|e| e.into_inner()).opened += 1;
                        let mut buffer = String::new();
                        loop {
                            match response.chunk().await {
                                Ok(Some(chunk)) => {
                                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                                    while let Some(end) = buffer.find("\n\n") {
                                        let block: String = buffer.drain(..end + 2).collect();
                                        if let Some(event) = parse(&block) {
                                            seen.lock()
                                                .unwrap_or_else(|e| e.into_inner())
                                                .events
                                                .push(event);
                                        }
                                    }
                                }
                                Ok(None) => break "closed by the server".to_string(),
                                Err(e) => break format!("failed: {e}"),
                            }
                        }
                    }
                    Ok(response) => format!("answered {}", response.status()),
                    Err(e) => format!("could not connect: {}", crate::support::error_kind(&e)),
                };
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .ends
                    .push((started.elapsed(), why));
                if !reconnect {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    Follower { seen, task }
}

fn parse(block: &str) -> Option<Event> {
    let mut event = Event {
        name: "message".into(),
        data: String::new(),
        retry: None,
    };
    let mut any = false;
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event.name = v.trim().to_string();
            any = true;
        } else if let Some(v) = line.strip_prefix("data:") {
            event.data.push_str(v.trim());
            any = true;
        } else if let Some(v) = line.strip_prefix("retry:") {
            event.retry = Some(v.trim().to_string());
            any = true;
        }
    }
    any.then_some(event)
}

impl Follower {
    pub fn events(&self) -> Vec<Event> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .events
            .clone()
    }

    pub fn ends(&self) -> Vec<(Duration, String)> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ends
            .clone()
    }

    pub fn opened(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).opened
    }

    /// Waits up to `limit` for the connection to end (a stream read without reconnecting).
    pub async fn ended(&self, limit: Duration) -> bool {
        crate::support::wait_until(limit, || async { !self.ends().is_empty() })
            .await
            .is_some()
    }

    /// The `confirmed` count of the last `spots` event for `occurrence`.
    pub fn confirmed(&self, occurrence: uuid::Uuid) -> Option<i64> {
        self.events()
            .iter()
            .rev()
            .filter(|e| e.name == "spots")
            .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.data).ok())
            .find(|v| v["occurrence_id"].as_str() == Some(&occurrence.to_string()))
            .and_then(|v| v["confirmed"].as_i64())
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}
