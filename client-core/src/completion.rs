//! Completions: every command gets a [`Token`], and exactly one [`Completion`] per token.
//!
//! Tokens, not packet identifiers, name completions: an identifier is freed and reused as
//! soon as its flow ends, so a waiter keyed by id could be completed by a later message.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};

use mqtt_sansio_proto::{PacketId, ReasonCode};
use mqtt_sansio_session::{AckProperties, ConnAckProperties, DisconnectReason, PublishFailure};
use smallvec::SmallVec;

/// Which command a [`Token`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenKind {
    /// The first connection ([`ClientCore::start`](crate::ClientCore::start)).
    Connect,
    /// A publish.
    Publish,
    /// A SUBSCRIBE.
    Subscribe,
    /// An UNSUBSCRIBE.
    Unsubscribe,
}

/// Names one command's completion; carries the packet identifier (the seed's `mid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token {
    seq: u64,
    id: Option<PacketId>,
    kind: TokenKind,
}

impl Token {
    pub(crate) fn new(seq: u64, id: Option<PacketId>, kind: TokenKind) -> Self {
        Self { seq, id, kind }
    }

    /// The packet identifier of the command (`None` for QoS 0 and the connect token).
    pub fn packet_id(&self) -> Option<PacketId> {
        self.id
    }

    /// Which command this is.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// A number unique among the tokens of one client (for maps keyed by token).
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

/// The broker's acknowledgement: reason code plus the 5.0 reason string and user properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The reason code (always Success in 3.1.1).
    pub reason: ReasonCode,
    /// 5.0 reason string and user properties.
    pub properties: AckProperties,
}

/// How a publish ended when the broker answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    /// PUBACK / PUBCOMP with a success code (QoS 0: at once, when accepted).
    Acknowledged(Ack),
    /// PUBACK / PUBREC with an error code (5.0): the broker refused the message.
    Rejected(Ack),
}

/// How a SUBSCRIBE or UNSUBSCRIBE ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeOutcome {
    /// One code per filter, in order (3.1.1 UNSUBACK: empty).
    pub results: SmallVec<[ReasonCode; 4]>,
    /// 5.0 reason string and user properties.
    pub properties: AckProperties,
}

/// How the first connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOutcome {
    /// Whether the broker resumed a stored session.
    pub session_present: bool,
    /// What the 5.0 CONNACK said (empty in 3.1.1).
    pub properties: Box<ConnAckProperties>,
}

/// Why the client stopped for good.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// `disconnect` was called.
    Disconnected,
    /// The broker refused the connection for a reason retrying cannot fix (bad credentials,
    /// not authorized, bad authentication method) and
    /// [`ReconnectPolicy::retry_on_auth_refusal`](crate::ReconnectPolicy::retry_on_auth_refusal) is off.
    Refused(ReasonCode),
    /// The backoff's attempt bound was reached; the last connection ended for this reason
    /// (`None`: dialling failed).
    AttemptsExhausted(Option<DisconnectReason>),
    /// Automatic reconnection is off and the connection ended.
    AutoReconnectOff(Option<DisconnectReason>),
    /// The first connection failed and
    /// [`ReconnectPolicy::retry_first_connect`](crate::ReconnectPolicy::retry_first_connect) is off.
    FirstConnectFailed(Option<DisconnectReason>),
}

/// Why a completion failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The broker started a fresh session while this QoS 2 message was received (PUBREC)
    /// but not completed: it cannot be confirmed, and sending it again could deliver it
    /// twice (SPEC "Exactly once, bounded").
    SessionLost,
    /// The broker answered the message with an error DISCONNECT on `attempts` connections
    /// in a row; it was given up so that later messages flow.
    Rejected {
        /// The reason code of the broker's DISCONNECT.
        reason: ReasonCode,
        /// Connections it was sent on.
        attempts: u32,
    },
    /// Given up by the Session for another reason (for example larger than a new broker's
    /// Maximum Packet Size).
    Dropped(PublishFailure),
    /// [`ClientCore::cancel`](crate::ClientCore::cancel) removed it before it was sent.
    Cancelled,
    /// The client stopped before an answer came.
    Stopped(StopReason),
    /// The connection attempt was refused by the broker.
    Refused(ReasonCode),
}

/// One finished command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// The first connection was accepted.
    Connected(ConnectOutcome),
    /// A publish was answered.
    Published(PublishOutcome),
    /// A SUBSCRIBE was answered.
    Subscribed(SubscribeOutcome),
    /// An UNSUBSCRIBE was answered.
    Unsubscribed(SubscribeOutcome),
    /// The command failed.
    Failed(Failure),
}

/// A completion ready to be taken.
#[derive(Debug)]
enum Ready {
    /// One command's completion.
    One(Token, Completion),
    /// QoS 0 publishes with consecutive token numbers, each complete when accepted. A stream
    /// of them costs one entry however long it grows before the caller takes it (an
    /// application that never asks for QoS 0 completions would otherwise hold one
    /// 96-byte entry per message until its next poll).
    Qos0Run {
        /// The token number of the first of the run.
        first_seq: u64,
        /// How many: at least 1.
        count: u64,
    },
}

/// What every QoS 0 publish completes with.
fn qos0_sent() -> Completion {
    Completion::Published(PublishOutcome::Acknowledged(Ack {
        reason: ReasonCode::Success,
        properties: AckProperties::default(),
    }))
}

/// Tokens waiting for an answer, by packet identifier, and completions ready to be taken.
#[derive(Debug, Default)]
pub(crate) struct Completions {
    next_seq: u64,
    waiting: BTreeMap<PacketId, Token>,
    ready: VecDeque<Ready>,
}

impl Completions {
    pub(crate) fn token(&mut self, id: Option<PacketId>, kind: TokenKind) -> Token {
        self.next_seq = self.next_seq.wrapping_add(1);
        let token = Token::new(self.next_seq, id, kind);
        if let Some(id) = id {
            self.waiting.insert(id, token);
        }
        token
    }

    /// Completes the token waiting for `id`, if any; returns it.
    pub(crate) fn complete_id(&mut self, id: PacketId, completion: Completion) -> Option<Token> {
        let token = self.waiting.remove(&id)?;
        self.ready.push_back(Ready::One(token, completion));
        Some(token)
    }

    pub(crate) fn complete(&mut self, token: Token, completion: Completion) {
        if let Some(id) = token.id {
            if self.waiting.get(&id) == Some(&token) {
                self.waiting.remove(&id);
            }
        }
        self.ready.push_back(Ready::One(token, completion));
    }

    /// Completes a QoS 0 publish's token (which waits for nothing): extends the last run
    /// when it directly follows it.
    pub(crate) fn complete_qos0(&mut self, token: Token) {
        if let Some(Ready::Qos0Run { first_seq, count }) = self.ready.back_mut() {
            if first_seq.wrapping_add(*count) == token.seq {
                *count += 1;
                return;
            }
        }
        self.ready.push_back(Ready::Qos0Run {
            first_seq: token.seq,
            count: 1,
        });
    }

    pub(crate) fn is_waiting(&self, token: &Token) -> bool {
        token
            .id
            .is_some_and(|id| self.waiting.get(&id) == Some(token))
    }

    pub(crate) fn fail_all(&mut self, failure: &Failure) {
        let waiting = core::mem::take(&mut self.waiting);
        for token in waiting.into_values() {
            self.ready
                .push_back(Ready::One(token, Completion::Failed(failure.clone())));
        }
    }

    pub(crate) fn pop(&mut self) -> Option<(Token, Completion)> {
        match self.ready.pop_front()? {
            Ready::One(token, completion) => Some((token, completion)),
            Ready::Qos0Run { first_seq, count } => {
                if count > 1 {
                    self.ready.push_front(Ready::Qos0Run {
                        first_seq: first_seq.wrapping_add(1),
                        count: count - 1,
                    });
                }
                Some((Token::new(first_seq, None, TokenKind::Publish), qos0_sent()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn publish_token(c: &mut Completions, id: Option<u16>) -> Token {
        c.token(id.and_then(PacketId::new), TokenKind::Publish)
    }

    #[test]
    fn a_qos0_stream_is_one_entry_and_comes_out_in_order_between_others() {
        let mut c = Completions::default();
        let mut expected = Vec::new();
        for _ in 0..1000 {
            let t = publish_token(&mut c, None);
            c.complete_qos0(t);
            expected.push((t, qos0_sent()));
        }
        assert_eq!(c.ready.len(), 1, "a run of QoS 0 completions is one entry");
        // A QoS 1 token in between ends the run; its completion keeps its place.
        let q1 = publish_token(&mut c, Some(7));
        let after = publish_token(&mut c, None);
        c.complete_qos0(after);
        let done = Completion::Failed(Failure::Cancelled);
        assert_eq!(
            c.complete_id(PacketId::new(7).unwrap(), done.clone()),
            Some(q1)
        );
        expected.push((after, qos0_sent()));
        expected.push((q1, done));
        assert_eq!(c.ready.len(), 3);
        let mut got = Vec::new();
        while let Some(x) = c.pop() {
            got.push(x);
        }
        assert_eq!(got, expected);
        assert!(c.ready.is_empty());
    }

    #[test]
    fn a_qos0_token_that_does_not_follow_the_run_starts_a_new_one() {
        let mut c = Completions::default();
        let a = publish_token(&mut c, None);
        let _skipped = publish_token(&mut c, Some(1));
        let b = publish_token(&mut c, None);
        c.complete_qos0(a);
        c.complete_qos0(b);
        assert_eq!(c.ready.len(), 2);
        assert_eq!(c.pop().map(|(t, _)| t), Some(a));
        assert_eq!(c.pop().map(|(t, _)| t), Some(b));
        assert_eq!(c.pop(), None);
    }
}
