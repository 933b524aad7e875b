//! Request/response (5.0) on the shared layer: a per-client response topic subscribed once,
//! a fresh Correlation Data per request, and replies matched to their waiters as they are
//! settled (so a blocking client needs no callback loop for them).

use std::collections::HashMap;
use std::format;
use std::string::String;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use std::vec::Vec;

use mqtt_sansio_proto::{ProtocolVersion, QoS, Subscription, TopicFilter};
use mqtt_sansio_session::{Event, Message, SubscribeError};

use super::error::ClientError;
use super::shared::{thread_waker, Shared, SharedState};
use crate::core::SubscribeProperties;
use crate::properties::PublishProperties;

/// One request waiting for its reply.
#[derive(Default)]
struct ReplySlot {
    reply: Option<Message>,
    waker: Option<Waker>,
}

/// The client's request/response state.
#[derive(Default)]
pub(crate) struct Requests {
    /// The response topic, fixed at the first request.
    topic: Option<String>,
    next: u64,
    pending: HashMap<Vec<u8>, ReplySlot>,
}

impl Requests {
    /// Takes `event` if it is the reply to a pending request (it then goes to that request
    /// only, not to the event queue or callbacks).
    pub(crate) fn take_reply(&mut self, event: &Event) -> bool {
        let Some(topic) = &self.topic else {
            return false;
        };
        let Some(m) = event.message() else {
            return false;
        };
        if m.topic() != topic.as_str() {
            return false;
        }
        let Some(slot) = m
            .properties()
            .correlation_data()
            .and_then(|c| self.pending.get_mut(c))
        else {
            return false;
        };
        slot.reply = Some(m.clone());
        if let Some(w) = slot.waker.take() {
            w.wake();
        }
        true
    }

    /// Wakes every waiter (the client closed).
    pub(crate) fn wake_all(&mut self) {
        for slot in self.pending.values_mut() {
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }
}

/// A request sent, waiting for its reply: pass it to [`Shared::wait_reply`] or
/// [`Shared::poll_reply`]; [`Shared::forget_reply`] when giving up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Vec<u8>);

impl RequestId {
    /// The Correlation Data the request carries.
    pub fn correlation_data(&self) -> &[u8] {
        &self.0
    }
}

fn response_topic(st: &SharedState) -> String {
    let id = &st.core.options().session.client_id;
    let id = if id.is_empty() {
        st.core
            .connack()
            .and_then(|c| c.assigned_client_identifier.clone())
            .unwrap_or_default()
    } else {
        id.clone()
    };
    if id.is_empty() {
        // No identity to scope the topic by: the process and the clock tell clients apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("mqtt-sansio/{}-{nanos}/responses", std::process::id())
    } else {
        format!("{id}/responses")
    }
}

impl<C> Shared<C> {
    /// Sends a request (5.0): publishes `payload` to `topic` at QoS 1 with `properties`
    /// plus a Response Topic (`<client id>/responses`, subscribed once, on the first
    /// request, before the publish) and a fresh Correlation Data. The reply is the first
    /// message on the response topic carrying that Correlation Data.
    pub fn send_request(
        &self,
        topic: &str,
        payload: &[u8],
        properties: &PublishProperties,
    ) -> Result<RequestId, ClientError> {
        let mut st = self.lock();
        if st.closed().is_some() {
            return Err(ClientError::Closed);
        }
        if st.core.options().session.version != ProtocolVersion::V5 {
            return Err(ClientError::RequiresV5);
        }
        let now = self.clock().now();
        let response = match &st.requests.topic {
            Some(t) => t.clone(),
            None => {
                let t = response_topic(&st);
                let filter = TopicFilter::new(&t)
                    .map_err(|e| ClientError::Subscribe(SubscribeError::InvalidFilter(e)))?;
                let sub = [Subscription::new(filter, QoS::AtLeastOnce)];
                st.core
                    .subscribe(now, &sub, &SubscribeProperties::default())?;
                st.requests.topic = Some(t.clone());
                t
            }
        };
        st.requests.next = st.requests.next.wrapping_add(1);
        let correlation = format!("req-{}", st.requests.next).into_bytes();
        let props = properties
            .clone()
            .response_topic(response)
            .correlation_data(correlation.clone())
            .encode()
            .map_err(ClientError::Property)?;
        let msg = crate::core::OutgoingPublish {
            topic,
            payload,
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: props.as_properties(),
        };
        st.core.publish(now, &msg)?;
        st.requests
            .pending
            .insert(correlation.clone(), ReplySlot::default());
        st.wake_io();
        Ok(RequestId(correlation))
    }

    /// The reply to `request` if it came (async); `Ready(Err(Closed))` once the client
    /// closed without it.
    pub fn poll_reply(
        &self,
        request: &RequestId,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Message, ClientError>> {
        let mut st = self.lock();
        let closed = st.closed().is_some();
        let Some(slot) = st.requests.pending.get_mut(&request.0) else {
            return Poll::Ready(Err(ClientError::Closed));
        };
        if let Some(reply) = slot.reply.take() {
            st.requests.pending.remove(&request.0);
            return Poll::Ready(Ok(reply));
        }
        if closed {
            st.requests.pending.remove(&request.0);
            return Poll::Ready(Err(ClientError::Closed));
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Blocks until the reply to `request` comes ([`ClientError::Timeout`] after
    /// `timeout`: the request is forgotten, a late reply is dropped).
    pub fn wait_reply(
        &self,
        request: &RequestId,
        timeout: Duration,
    ) -> Result<Message, ClientError> {
        if self.lock().io_thread == Some(std::thread::current().id()) {
            self.forget_reply(request);
            return Err(ClientError::WouldDeadlock);
        }
        let deadline = std::time::Instant::now() + timeout;
        let waker = thread_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(r) = self.poll_reply(request, &mut cx) {
                return r;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                self.forget_reply(request);
                return Err(ClientError::Timeout);
            }
            std::thread::park_timeout(deadline - now);
        }
    }

    /// Stops waiting for the reply to `request` (a late reply then goes to the event queue
    /// and callbacks like any message).
    pub fn forget_reply(&self, request: &RequestId) {
        self.lock().requests.pending.remove(&request.0);
    }
}
