//! Users' own live streams of authz events (`GET /me/authz-events`): an open SPA learns within
//! a second that its user's authz version rose (a grant, a revocation, a role or group change,
//! a block) and renews its token, instead of finding out at its next poll.
//!
//! Cheap for many tabs: one dispatcher task per node ([`spawn_dispatcher`]) follows the log's
//! head (published by the head watcher, see `events`), reads each new page of the log once,
//! and hands each event to the channel of its subject only ([`LiveHub`], a map subject →
//! `broadcast` channel, removed when its last stream closes). A stream is woken only by its own
//! user's events; with no stream open the dispatcher reads nothing. A stream that reconnects
//! with `Last-Event-ID` catches up from the store on its own user's events only
//! (`authz_events_of`), over the range it missed.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::broadcast;
use writ_core::claims::AccessClaims;
use writ_store::{AuthzEvent, StoreError};

use crate::Writ;

/// Events a subject's channel holds for a slow stream before it lags (and catches up from the
/// store instead).
const CHANNEL: usize = 16;
/// Events read from the store at once, by the dispatcher and by a catch-up.
const PAGE: i64 = 500;

/// One authz event of a stream's user: the log's `seq` (the SSE id), the user's new authz
/// version and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    pub seq: i64,
    pub version: i64,
    pub kind: Arc<str>,
}

impl From<&AuthzEvent> for LiveEvent {
    fn from(e: &AuthzEvent) -> Self {
        LiveEvent {
            seq: e.seq,
            version: e.version,
            kind: e.kind.as_str().into(),
        }
    }
}

/// What a stream sends, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveItem {
    /// First: the user's authz version now, and whether the token that opened the stream is
    /// older than it (`stale`: the app should renew at once).
    Ready { version: i64, stale: bool },
    /// The user's authz version rose.
    Event(LiveEvent),
    /// Last: the token expired; open a new stream with a new token.
    Expired,
    /// Last: the user was blocked or deleted.
    Revoked,
}

/// Why a stream cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum LiveRefusal {
    /// A machine client's token (`client_credentials`): no user to follow.
    #[error("a user's access token is required")]
    NotAUser,
    /// The token has expired (verifiers allow some clock leeway; a stream does not).
    #[error("token expired")]
    Expired,
    /// The token's user is gone or blocked.
    #[error("unknown or blocked user")]
    UnknownUser,
    /// The user already holds `live_streams_per_user` streams on this node.
    #[error("too many open streams for this user")]
    TooManyForUser,
    /// This node holds `live_streams_max` streams.
    #[error("too many open streams")]
    TooMany,
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Slot {
    tx: broadcast::Sender<LiveEvent>,
    open: usize,
}

#[derive(Default)]
struct HubState {
    subjects: HashMap<String, Slot>,
    total: usize,
    /// The last seq dispatched: a stream opened now receives every event after it.
    cursor: i64,
}

/// The node's open live streams by subject, and where the dispatcher stands.
pub struct LiveHub {
    state: Mutex<HubState>,
    per_user: usize,
    max: usize,
}

/// One open stream's place in the hub: its receiver, and the seq after which the receiver
/// has every event. Leaves the hub when dropped.
pub struct LiveSubscription {
    hub: Arc<LiveHub>,
    subject: String,
    rx: broadcast::Receiver<LiveEvent>,
    from: i64,
}

impl Drop for LiveSubscription {
    fn drop(&mut self) {
        let mut s = self.hub.lock();
        s.total = s.total.saturating_sub(1);
        let last = match s.subjects.get_mut(&self.subject) {
            Some(slot) => {
                slot.open = slot.open.saturating_sub(1);
                slot.open == 0
            }
            None => false,
        };
        if last {
            s.subjects.remove(&self.subject);
        }
    }
}

impl LiveHub {
    /// An empty hub allowing `per_user` streams per subject and `max` in all.
    pub fn new(per_user: usize, max: usize) -> Self {
        LiveHub {
            state: Mutex::default(),
            per_user,
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets where the dispatcher starts (the log's head at start).
    pub fn start_at(&self, seq: i64) {
        self.lock().cursor = seq;
    }

    /// The last seq dispatched.
    pub fn cursor(&self) -> i64 {
        self.lock().cursor
    }

    /// Open streams on this node.
    pub fn open_streams(&self) -> usize {
        self.lock().total
    }

    /// Subjects with at least one open stream on this node.
    pub fn subjects(&self) -> usize {
        self.lock().subjects.len()
    }

    /// Registers a stream of `subject`, within the limits.
    pub fn subscribe(self: &Arc<Self>, subject: &str) -> Result<LiveSubscription, LiveRefusal> {
        let mut s = self.lock();
        if s.total >= self.max {
            return Err(LiveRefusal::TooMany);
        }
        let cursor = s.cursor;
        let rx = match s.subjects.entry(subject.to_owned()) {
            Entry::Occupied(mut e) => {
                let slot = e.get_mut();
                if slot.open >= self.per_user {
                    return Err(LiveRefusal::TooManyForUser);
                }
                slot.open += 1;
                slot.tx.subscribe()
            }
            Entry::Vacant(v) => {
                let (tx, rx) = broadcast::channel(CHANNEL);
                v.insert(Slot { tx, open: 1 });
                rx
            }
        };
        s.total += 1;
        Ok(LiveSubscription {
            hub: self.clone(),
            subject: subject.to_owned(),
            rx,
            from: cursor,
        })
    }

    /// Moves the cursor to `head` without reading, if no stream is open; false otherwise.
    fn skip_to(&self, head: i64) -> bool {
        let mut s = self.lock();
        if s.subjects.is_empty() {
            s.cursor = s.cursor.max(head);
            true
        } else {
            false
        }
    }

    /// Hands a page of the log to the subjects' channels (each event to its own subject's
    /// only) and moves the cursor to `next`, under one lock: a stream registers wholly before
    /// or wholly after a page.
    fn dispatch(&self, events: &[AuthzEvent], next: i64) {
        let mut s = self.lock();
        for e in events {
            if let Some(slot) = s.subjects.get(&e.subject) {
                // No receiver left is not an error: the slot goes with its last stream.
                let _ = slot.tx.send(LiveEvent::from(e));
            }
        }
        s.cursor = s.cursor.max(next);
    }
}

/// The node's one dispatcher: each time the log's head moves (see `events`), reads the new
/// records once, if any live stream is open, and hands each event to its subject's channel.
/// Ends when the state is dropped.
pub fn spawn_dispatcher(state: &Writ) {
    let weak = state.downgrade();
    let mut head = state.authz_head.subscribe();
    tokio::spawn(async move {
        loop {
            let target = *head.borrow_and_update();
            let Some(state) = weak.upgrade() else { return };
            loop {
                let cursor = state.live.cursor();
                if cursor >= target || state.live.skip_to(target) {
                    break;
                }
                match state.store.authz_events_after(cursor, PAGE).await {
                    Ok(page) if page.next > cursor => state.live.dispatch(&page.events, page.next),
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading authz events for live streams");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            drop(state);
            if head.changed().await.is_err() {
                return;
            }
        }
    });
}

/// The verified `claims`' user's live stream, resuming after `last_event_id` when given:
/// [`LiveItem::Ready`], the events missed since `last_event_id`, then each new event, until
/// the token expires ([`LiveItem::Expired`]), the user is blocked or deleted
/// ([`LiveItem::Revoked`]), or the server shuts down. A token older than the user's version
/// still opens it (it says so in `Ready`): telling that is the stream's purpose; expiry bounds
/// it. Machine clients' tokens are refused.
pub async fn open(
    w: &Writ,
    claims: &AccessClaims,
    last_event_id: Option<i64>,
) -> Result<impl Stream<Item = LiveItem> + Send + 'static, LiveRefusal> {
    if claims.is_machine() {
        return Err(LiveRefusal::NotAUser);
    }
    if claims.exp <= crate::time::now() {
        return Err(LiveRefusal::Expired);
    }
    // Registered before the user and the catch-up are read: every event is either in the
    // store when they are read, or dispatched to this subscription afterwards.
    let sub = w.live.subscribe(&claims.sub)?;
    let user = match w.store.get_user(&claims.sub).await {
        Ok(u) if !u.blocked => u,
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(LiveRefusal::UnknownUser),
        Err(e) => return Err(e.into()),
    };
    let mut pending = VecDeque::new();
    pending.push_back(LiveItem::Ready {
        version: user.authz_version,
        stale: claims.authz_ver.unwrap_or(i64::MIN) < user.authz_version,
    });
    let mut last = sub.from;
    if let Some(after) = last_event_id.filter(|a| *a >= 0) {
        last = after;
        let missed = catch_up(w, &claims.sub, after, sub.from).await?;
        if let Some(e) = missed.last() {
            last = last.max(e.seq);
        }
        pending.extend(missed.into_iter().map(LiveItem::Event));
    }
    let expires = tokio::time::Instant::now()
        + Duration::from_secs(u64::try_from(claims.exp - crate::time::now()).unwrap_or(0));
    let stream = Live {
        w: w.clone(),
        subject: claims.sub.clone(),
        sub,
        last,
        pending,
        expires,
        closing: w.closing.subscribe(),
        done: false,
    };
    Ok(futures_util::stream::unfold(stream, |mut s| async move {
        let item = s.next().await?;
        Some((item, s))
    }))
}

/// The user's events with `after < seq <= upto`, from the store.
async fn catch_up(
    w: &Writ,
    subject: &str,
    after: i64,
    upto: i64,
) -> Result<Vec<LiveEvent>, StoreError> {
    let mut out = Vec::new();
    let mut from = after;
    while from < upto {
        let page = w.store.authz_events_of(subject, from, upto, PAGE).await?;
        let Some(last) = page.last() else { break };
        from = last.seq;
        let full = page.len() as i64 >= PAGE;
        out.extend(page.iter().map(LiveEvent::from));
        if !full {
            break;
        }
    }
    Ok(out)
}

/// What woke a waiting stream.
enum Woke {
    Told(Result<LiveEvent, broadcast::error::RecvError>),
    Expired,
    Closing,
}

struct Live {
    w: Writ,
    subject: String,
    sub: LiveSubscription,
    /// The last seq sent (or known to the client).
    last: i64,
    pending: VecDeque<LiveItem>,
    expires: tokio::time::Instant,
    closing: tokio::sync::watch::Receiver<bool>,
    done: bool,
}

impl Live {
    async fn next(&mut self) -> Option<LiveItem> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                if matches!(item, LiveItem::Expired | LiveItem::Revoked) {
                    self.done = true;
                    self.pending.clear();
                }
                return Some(item);
            }
            if self.done {
                return None;
            }
            let woke = tokio::select! {
                r = self.sub.rx.recv() => Woke::Told(r),
                _ = tokio::time::sleep_until(self.expires) => Woke::Expired,
                _ = self.closing.wait_for(|c| *c) => Woke::Closing,
            };
            match woke {
                Woke::Told(Ok(e)) => {
                    if e.seq > self.last {
                        self.last = e.seq;
                        self.pending.push_back(LiveItem::Event(e));
                        // A block or a deletion ends the stream after telling it.
                        if !self.user_remains().await {
                            self.pending.push_back(LiveItem::Revoked);
                        }
                    }
                }
                Woke::Told(Err(broadcast::error::RecvError::Lagged(_))) => {
                    let upto = self.w.live.cursor();
                    match catch_up(&self.w, &self.subject, self.last, upto).await {
                        Ok(missed) => {
                            if let Some(e) = missed.last() {
                                self.last = e.seq;
                            }
                            self.pending.extend(missed.into_iter().map(LiveItem::Event));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "catching up a live stream");
                            return None;
                        }
                    }
                }
                Woke::Told(Err(broadcast::error::RecvError::Closed)) | Woke::Closing => {
                    return None;
                }
                Woke::Expired => self.pending.push_back(LiveItem::Expired),
            }
        }
    }

    /// Whether the stream's user still exists and is not blocked (a store error keeps it).
    async fn user_remains(&self) -> bool {
        match self.w.store.get_user(&self.subject).await {
            Ok(u) => !u.blocked,
            Err(StoreError::NotFound(_)) => false,
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: i64, subject: &str) -> AuthzEvent {
        AuthzEvent {
            seq,
            subject: subject.into(),
            version: seq,
            kind: "role_assigned".into(),
            at: String::new(),
        }
    }

    #[test]
    fn the_hub_delivers_each_event_to_its_subject_only_and_forgets_closed_subjects() {
        let hub = Arc::new(LiveHub::new(2, 3));
        hub.start_at(5);
        let mut a1 = hub.subscribe("a").unwrap();
        let mut a2 = hub.subscribe("a").unwrap();
        assert!(matches!(
            hub.subscribe("a"),
            Err(LiveRefusal::TooManyForUser)
        ));
        let mut b = hub.subscribe("b").unwrap();
        assert!(matches!(hub.subscribe("c"), Err(LiveRefusal::TooMany)));
        assert_eq!((a1.from, hub.open_streams(), hub.subjects()), (5, 3, 2));
        hub.dispatch(&[ev(6, "a"), ev(7, "x"), ev(8, "b")], 8);
        assert_eq!(hub.cursor(), 8);
        assert_eq!(a1.rx.try_recv().unwrap().seq, 6);
        assert_eq!(a2.rx.try_recv().unwrap().seq, 6);
        assert!(a1.rx.try_recv().is_err());
        assert_eq!(b.rx.try_recv().unwrap().seq, 8);
        assert!(
            !hub.skip_to(9),
            "streams are open: the dispatcher must read"
        );
        drop((a1, a2));
        assert_eq!((hub.open_streams(), hub.subjects()), (1, 1));
        let c = hub.subscribe("c").unwrap();
        assert_eq!(c.from, 8);
        drop((b, c));
        assert_eq!((hub.open_streams(), hub.subjects()), (0, 0));
        assert!(hub.skip_to(12));
        assert_eq!(hub.cursor(), 12);
    }
}
