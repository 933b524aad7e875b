//! [`client_api!`](crate::client_api): the inherent methods both clients share, written once.

/// Generates the shared inherent API of a client type: callbacks, publish / subscribe /
/// unsubscribe (with their 5.0 options and properties), cancel, reconnect, will and
/// credentials for later connections, and the getters. Same names, same documentation and
/// same semantics in every transport, by construction.
///
/// The transport says how to reach its [`Shared`](crate::Shared) and what a command returns
/// (a packet id for the blocking client, a completion future for the async one), and
/// whether that return value waits for the completion (`register`).
///
/// ```
/// use mqtt_sansio_client::{client_api, ClientError, ClientOptions, Shared, Token};
/// use mqtt_sansio_client::mqtt_sansio_proto::PacketId;
///
/// /// A client with only the shared API.
/// pub struct MyClient {
///     shared: Shared<MyClient>,
/// }
///
/// client_api! {
///     client = MyClient,
///     shared = |c| &c.shared,
///     publish(register = false) = |_c, token| -> Option<PacketId> { token.packet_id() },
///     subscribe(register = false) = |_c, token| -> Option<PacketId> { token.packet_id() },
///     unsubscribe(register = false) = |_c, token| -> Option<PacketId> { token.packet_id() },
/// }
///
/// let client = MyClient { shared: Shared::new(&ClientOptions::new(), 1)? };
/// assert!(!client.is_connected());
/// # Ok::<(), ClientError>(())
/// ```
#[macro_export]
macro_rules! client_api {
    (
        client = $client:ty,
        shared = |$sc:ident| $shared:expr,
        publish(register = $preg:expr) = |$pc:ident, $pt:ident| -> $pret:ty $pbody:block,
        subscribe(register = $sreg:expr) = |$subc:ident, $subt:ident| -> $sret:ty $sbody:block,
        unsubscribe(register = $ureg:expr) = |$uc:ident, $ut:ident| -> $uret:ty $ubody:block $(,)?
    ) => {
        impl $client {
            fn __shared(&self) -> &$crate::Shared<Self> {
                let $sc = self;
                $shared
            }

            fn __publish_return(&self, token: $crate::Token) -> $pret {
                let $pc = self;
                let $pt = token;
                $pbody
            }

            fn __subscribe_return(&self, token: $crate::Token) -> $sret {
                let $subc = self;
                let $subt = token;
                $sbody
            }

            fn __unsubscribe_return(&self, token: $crate::Token) -> $uret {
                let $uc = self;
                let $ut = token;
                $ubody
            }

            /// Registers a callback for `command` without a condition: the generic callback,
            /// run when no specific callback's condition is true (a new one replaces the old).
            ///
            /// Callbacks run on the client's I/O thread or task, outside any lock: they may
            /// publish, subscribe and call other commands, but must not wait for a
            /// completion (that would stop the loop that completes it).
            pub fn on(
                &self,
                command: $crate::mqtt_sansio_session::Command,
                callback: impl FnMut(&Self, &$crate::mqtt_sansio_session::Event) -> $crate::CallbackResult
                    + Send
                    + 'static,
            ) -> $crate::mqtt_sansio_session::HandlerId {
                let cb: $crate::Callback<Self> =
                    ::std::sync::Arc::new(::std::sync::Mutex::new(callback));
                self.__shared().dispatcher().on(command, cb, None, 0)
            }

            /// Registers a specific callback: among those whose condition is true for a
            /// packet of `command`, exactly one runs, the one with the highest priority
            /// (first registered on a tie).
            ///
            /// **QoS 2 messages silently skip `on_if(Command::Publish, topic_condition)`
            /// handlers**: a QoS 2 message arrives on PUBREL (`Command::PubRel`), and its
            /// PUBLISH carries only the packet id, so a topic condition on `Publish` is never
            /// true for it and the message goes to the fallback. To route messages by topic
            /// at every QoS, use [`on_topic`](Self::on_topic).
            pub fn on_if(
                &self,
                command: $crate::mqtt_sansio_session::Command,
                callback: impl FnMut(&Self, &$crate::mqtt_sansio_session::Event) -> $crate::CallbackResult
                    + Send
                    + 'static,
                condition: impl Fn(&$crate::mqtt_sansio_session::Event) -> bool + Send + 'static,
                priority: i32,
            ) -> $crate::mqtt_sansio_session::HandlerId {
                let cb: $crate::Callback<Self> =
                    ::std::sync::Arc::new(::std::sync::Mutex::new(callback));
                self.__shared().dispatcher().on(
                    command,
                    cb,
                    Some(::std::boxed::Box::new(condition)),
                    priority,
                )
            }

            /// The seed's `loop(on_message)`: `callback` runs once for every application
            /// message, whatever its QoS. QoS 2 messages reach it on PUBREL (the seed's
            /// rule), exactly once; under manual acknowledgements
            /// ([`ClientOptions::manual_acks`](crate::ClientOptions::manual_acks)) on
            /// PUBLISH, with the token to [`ack`](Self::ack) them.
            pub fn on_message(
                &self,
                callback: impl FnMut(&Self, &$crate::mqtt_sansio_session::Event) -> $crate::CallbackResult
                    + Send
                    + 'static,
            ) -> (
                $crate::mqtt_sansio_session::HandlerId,
                $crate::mqtt_sansio_session::HandlerId,
            ) {
                let cb: $crate::Callback<Self> =
                    ::std::sync::Arc::new(::std::sync::Mutex::new(callback));
                self.__shared().dispatcher().on_message(cb)
            }

            /// Registers `callback` for every application message whose topic matches
            /// `filter` (MQTT wildcards `+` and `#`), at any QoS, once per message: QoS 0
            /// and 1 on PUBLISH, QoS 2 on PUBREL (the seed's rule, as
            /// [`on_message`](Self::on_message)). It takes the message from
            /// `on_message` and from lower-priority callbacks (priority 0; see
            /// [`on_topic_with_priority`](Self::on_topic_with_priority)). The filter is
            /// checked now: an invalid one is `Subscribe(InvalidFilter)` and nothing is
            /// registered. Remove it with [`remove_callback`](Self::remove_callback).
            pub fn on_topic(
                &self,
                filter: &str,
                callback: impl FnMut(&Self, &$crate::mqtt_sansio_session::Message) -> $crate::CallbackResult
                    + Send
                    + 'static,
            ) -> ::core::result::Result<$crate::mqtt_sansio_session::HandlerId, $crate::ClientError> {
                self.on_topic_with_priority(filter, 0, callback)
            }

            /// [`on_topic`](Self::on_topic) with a priority: among the callbacks whose
            /// filter or condition matches a message, the highest priority runs (the first
            /// registered on a tie), as for [`on_if`](Self::on_if).
            pub fn on_topic_with_priority(
                &self,
                filter: &str,
                priority: i32,
                mut callback: impl FnMut(&Self, &$crate::mqtt_sansio_session::Message) -> $crate::CallbackResult
                    + Send
                    + 'static,
            ) -> ::core::result::Result<$crate::mqtt_sansio_session::HandlerId, $crate::ClientError> {
                let cb: $crate::Callback<Self> = ::std::sync::Arc::new(::std::sync::Mutex::new(
                    move |c: &Self, e: &$crate::mqtt_sansio_session::Event| match e.message() {
                        Some(m) => callback(c, m),
                        None => Ok(()),
                    },
                ));
                self.__shared()
                    .dispatcher()
                    .on_topic(filter, cb, priority)
                    .map_err(|e| {
                        $crate::ClientError::Subscribe(
                            $crate::mqtt_sansio_session::SubscribeError::InvalidFilter(e),
                        )
                    })
            }

            /// Registers `callback` for every accepted CONNACK, the first connection and
            /// every reconnection, with whether the broker resumed the session. It runs
            /// besides any `on(Command::ConnAck, ..)` callback, never instead of one.
            /// Callbacks see events from their registration on: the blocking client keeps
            /// the first connection's event for `loop_start`, the async client's `connect`
            /// has already returned it (see `session_present()` for that one).
            pub fn on_connected(
                &self,
                mut callback: impl FnMut(&Self, &$crate::Connected) -> $crate::CallbackResult
                    + Send
                    + 'static,
            ) -> $crate::mqtt_sansio_session::HandlerId {
                self.__listen(
                    |e| matches!(e, $crate::mqtt_sansio_session::Event::Connected { .. }),
                    move |c, e| match e {
                        $crate::mqtt_sansio_session::Event::Connected {
                            session_present,
                            properties,
                        } => callback(
                            c,
                            &$crate::Connected {
                                session_present: *session_present,
                                properties: (**properties).clone(),
                            },
                        ),
                        _ => Ok(()),
                    },
                )
            }

            /// Registers `callback` for the end of every connection, with the reason (a
            /// broker restart is `TransportClosed`; `disconnect` is `ClientDisconnected`).
            /// The client reconnects by itself afterwards unless the policy says otherwise.
            pub fn on_connection_lost(
                &self,
                mut callback: impl FnMut(&Self, &$crate::mqtt_sansio_session::DisconnectReason) -> $crate::CallbackResult
                    + Send
                    + 'static,
            ) -> $crate::mqtt_sansio_session::HandlerId {
                self.__listen(
                    |e| matches!(e, $crate::mqtt_sansio_session::Event::Disconnected { .. }),
                    move |c, e| match e {
                        $crate::mqtt_sansio_session::Event::Disconnected { reason, .. } => {
                            callback(c, reason)
                        }
                        _ => Ok(()),
                    },
                )
            }

            /// Registers `callback` for a lost session: the broker did not resume the
            /// session the client held state for (its subscriptions are gone; the client
            /// subscribes again by itself). It gets how many outgoing messages are sent
            /// again as new ones; QoS 2 messages the broker had received but not completed
            /// are failed (`PublishFailed`), not resent (SPEC "Exactly once, bounded").
            pub fn on_session_lost(
                &self,
                mut callback: impl FnMut(&Self, usize) -> $crate::CallbackResult + Send + 'static,
            ) -> $crate::mqtt_sansio_session::HandlerId {
                self.__listen(
                    |e| matches!(e, $crate::mqtt_sansio_session::Event::SessionLost { .. }),
                    move |c, e| match e {
                        $crate::mqtt_sansio_session::Event::SessionLost { resent, .. } => {
                            callback(c, *resent)
                        }
                        _ => Ok(()),
                    },
                )
            }

            /// Registers `callback` for "publishing unblocked": the window or the queue has
            /// room again after a publish was refused with `Publish(QueueFull)`.
            pub fn on_publish_unblocked(
                &self,
                mut callback: impl FnMut(&Self) -> $crate::CallbackResult + Send + 'static,
            ) -> $crate::mqtt_sansio_session::HandlerId {
                self.__listen(
                    |e| matches!(e, $crate::mqtt_sansio_session::Event::PublishUnblocked),
                    move |c, _| callback(c),
                )
            }

            fn __listen(
                &self,
                condition: impl Fn(&$crate::mqtt_sansio_session::Event) -> bool + Send + 'static,
                callback: impl FnMut(&Self, &$crate::mqtt_sansio_session::Event) -> $crate::CallbackResult
                    + Send
                    + 'static,
            ) -> $crate::mqtt_sansio_session::HandlerId {
                let cb: $crate::Callback<Self> =
                    ::std::sync::Arc::new(::std::sync::Mutex::new(callback));
                self.__shared()
                    .dispatcher()
                    .listen(::std::boxed::Box::new(condition), cb)
            }

            /// Removes a callback; false if it was not registered.
            pub fn remove_callback(&self, id: $crate::mqtt_sansio_session::HandlerId) -> bool {
                self.__shared().dispatcher().remove(id).is_some()
            }

            /// Callback and hook failures (errors and panics) since the last call, oldest
            /// first (the newest 100 are kept).
            pub fn take_callback_failures(&self) -> ::std::vec::Vec<$crate::CallbackFailure> {
                self.__shared().take_callback_failures()
            }

            /// Publishes a message. QoS 1/2 messages are kept until acknowledged, across
            /// reconnects; while disconnected or while the window is full they are queued.
            /// Refused at the call (nothing queued) when invalid, when the queue is full
            /// (`Publish(QueueFull)`: wait for room) or after `disconnect` (`Closed`).
            pub fn publish(
                &self,
                topic: &str,
                payload: &[u8],
                qos: $crate::mqtt_sansio_proto::QoS,
                retain: bool,
            ) -> ::core::result::Result<$pret, $crate::ClientError> {
                self.publish_with_properties(
                    topic,
                    payload,
                    qos,
                    retain,
                    $crate::mqtt_sansio_proto::Properties::EMPTY,
                )
            }

            /// [`publish`](Self::publish) with 5.0 PUBLISH properties (message expiry,
            /// content type, response topic, correlation data, user properties).
            pub fn publish_with_properties(
                &self,
                topic: &str,
                payload: &[u8],
                qos: $crate::mqtt_sansio_proto::QoS,
                retain: bool,
                properties: $crate::mqtt_sansio_proto::Properties<'_>,
            ) -> ::core::result::Result<$pret, $crate::ClientError> {
                let msg = $crate::OutgoingPublish {
                    topic,
                    payload,
                    qos,
                    retain,
                    properties,
                };
                let token = self
                    .__shared()
                    .command($preg, |core, now| core.publish(now, &msg))?;
                Ok(self.__publish_return(token))
            }

            /// [`publish`](Self::publish) with typed 5.0 properties, built with
            /// [`PublishProperties`]'s chained setters and checked once, here (a value out of
            /// range is [`ClientError::Property`](crate::ClientError::Property) before anything
            /// is queued). A 3.1.1 connection carries no properties.
            pub fn publish_with(
                &self,
                topic: &str,
                payload: &[u8],
                qos: $crate::mqtt_sansio_proto::QoS,
                retain: bool,
                properties: &$crate::PublishProperties,
            ) -> ::core::result::Result<$pret, $crate::ClientError> {
                let buf = properties.encode().map_err($crate::ClientError::Property)?;
                self.publish_with_properties(topic, payload, qos, retain, buf.as_properties())
            }

            /// Subscribes to topic filters at the given QoS.
            pub fn subscribe(
                &self,
                topics: &[(&str, $crate::mqtt_sansio_proto::QoS)],
            ) -> ::core::result::Result<$sret, $crate::ClientError> {
                let mut list = ::std::vec::Vec::with_capacity(topics.len());
                for (filter, qos) in topics {
                    let filter = $crate::mqtt_sansio_proto::TopicFilter::new(filter).map_err(|e| {
                        $crate::ClientError::Subscribe(
                            $crate::mqtt_sansio_session::SubscribeError::InvalidFilter(e),
                        )
                    })?;
                    list.push($crate::mqtt_sansio_proto::Subscription::new(filter, *qos));
                }
                self.subscribe_with(&list, &$crate::SubscribeProperties::default())
            }

            /// Subscribes with 5.0 subscription options (no local, retain as published,
            /// retain handling), a subscription identifier and user properties.
            pub fn subscribe_with(
                &self,
                subscriptions: &[$crate::mqtt_sansio_proto::Subscription<'_>],
                properties: &$crate::SubscribeProperties,
            ) -> ::core::result::Result<$sret, $crate::ClientError> {
                let token = self.__shared().command($sreg, |core, now| {
                    core.subscribe(now, subscriptions, properties)
                })?;
                Ok(self.__subscribe_return(token))
            }

            /// Unsubscribes from topic filters.
            pub fn unsubscribe(
                &self,
                filters: &[&str],
            ) -> ::core::result::Result<$uret, $crate::ClientError> {
                self.unsubscribe_with(filters, &[])
            }

            /// Unsubscribes, with 5.0 user properties.
            pub fn unsubscribe_with(
                &self,
                filters: &[&str],
                user_properties: &[(::std::string::String, ::std::string::String)],
            ) -> ::core::result::Result<$uret, $crate::ClientError> {
                let mut list = ::std::vec::Vec::with_capacity(filters.len());
                for filter in filters {
                    list.push($crate::mqtt_sansio_proto::TopicFilter::new(filter).map_err(|e| {
                        $crate::ClientError::Subscribe(
                            $crate::mqtt_sansio_session::SubscribeError::InvalidFilter(e),
                        )
                    })?);
                }
                let token = self.__shared().command($ureg, |core, now| {
                    core.unsubscribe(now, &list, user_properties)
                })?;
                Ok(self.__unsubscribe_return(token))
            }

            /// [`unsubscribe`](Self::unsubscribe) with typed 5.0 properties
            /// ([`UnsubscribeProperties`](crate::UnsubscribeProperties)).
            pub fn unsubscribe_with_properties(
                &self,
                filters: &[&str],
                properties: &$crate::UnsubscribeProperties,
            ) -> ::core::result::Result<$uret, $crate::ClientError> {
                self.unsubscribe_with(filters, &properties.user_properties)
            }

            /// Cancels a queued publish that was never sent; its completion fails with
            /// `Cancelled`. A message already sent may be held by the broker and cannot be
            /// taken back (`Cancel(AlreadySent)`).
            pub fn cancel(
                &self,
                token: $crate::Token,
            ) -> ::core::result::Result<(), $crate::ClientError> {
                self.__shared()
                    .with_core(|core, now| core.cancel(now, token))
                    .map_err($crate::ClientError::from)
            }

            /// Acknowledges `message` under manual acknowledgements
            /// ([`ClientOptions::manual_acks`](crate::ClientOptions::manual_acks)): its
            /// PUBACK (QoS 1) or PUBREC (QoS 2) goes out once every message that arrived
            /// before it was acknowledged too (acknowledgements keep the arrival order).
            /// Call it when the message is processed; one never acknowledged is sent again by
            /// the broker after a reconnect to the same session.
            ///
            /// A message with nothing to acknowledge (QoS 0, or acknowledgements automatic)
            /// is `Ok` and does nothing. `Ack(Stale)` when it was acknowledged already or
            /// arrived on a connection that has ended: its redelivery is the one to
            /// acknowledge.
            pub fn ack(
                &self,
                message: &$crate::mqtt_sansio_session::Message,
            ) -> ::core::result::Result<(), $crate::ClientError> {
                let ::core::option::Option::Some(token) = message.ack_token() else {
                    return ::core::result::Result::Ok(());
                };
                self.__shared()
                    .with_core(|core, now| core.ack(now, token))
                    .map_err($crate::ClientError::from)
            }

            /// Messages handed over under manual acknowledgements whose acknowledgement has
            /// not gone out yet (at most the window).
            pub fn unacknowledged(&self) -> usize {
                self.__shared().lock().core.session().unacknowledged()
            }

            /// Drops the connection without DISCONNECT (the broker publishes the will) and
            /// connects again at once; `last_disconnect` then reports `ReconnectRequested`.
            /// Unacknowledged messages are resent with their original packet identifiers.
            pub fn reconnect(&self) -> ::core::result::Result<(), $crate::ClientError> {
                self.__shared()
                    .with_core(|core, now| core.reconnect(now))
                    .map_err($crate::ClientError::from)
            }

            /// Drops the connection without DISCONNECT, as a crash looks to the broker (it
            /// publishes the will), and stops the client: it does not connect again.
            pub fn abort(&self) {
                self.__shared().with_core(|core, now| core.abort(now));
            }

            /// The will of later connections, as the seed has it: `set_will(topic, payload,
            /// qos, retain)`. The broker publishes it when the connection ends without
            /// DISCONNECT. For 5.0 will properties (delay, expiry, content type, ...) use
            /// [`set_will_message`](Self::set_will_message).
            pub fn set_will(
                &self,
                topic: &str,
                payload: &[u8],
                qos: $crate::mqtt_sansio_proto::QoS,
                retain: bool,
            ) {
                self.set_will_message($crate::LastWill::new(topic, payload, qos, retain));
            }

            /// The will of later connections with its 5.0 properties.
            pub fn set_will_message(&self, will: $crate::LastWill) {
                self.__shared()
                    .with_core(|core, _| core.set_will(Some(will)));
            }

            /// No will on later connections (the seed's `will_clear`).
            pub fn clear_will(&self) {
                self.__shared().with_core(|core, _| core.set_will(None));
            }

            /// User name and password of later connections (the seed's `username_pw_set`).
            pub fn set_username_pw(&self, username: &str, password: Option<&[u8]>) {
                let credentials = $crate::Credentials {
                    username: Some(username.into()),
                    password: password.map(|p| p.to_vec()),
                };
                self.__shared()
                    .with_core(|core, _| core.set_credentials(credentials));
            }

            /// Whether the broker accepted the current connection.
            pub fn is_connected(&self) -> bool {
                self.__shared().lock().core.is_connected()
            }

            /// Where the client is in its life.
            pub fn state(&self) -> $crate::ClientState {
                self.__shared().lock().core.state()
            }

            /// Whether the last CONNACK resumed a stored session.
            pub fn session_present(&self) -> bool {
                self.__shared().lock().core.session_present()
            }

            /// What the last accepted CONNACK said (5.0 properties; empty in 3.1.1; `None`
            /// before the first connection).
            pub fn connack(
                &self,
            ) -> ::core::option::Option<$crate::mqtt_sansio_session::ConnAckProperties> {
                self.__shared().lock().core.connack().cloned()
            }

            /// Why the last connection ended, local reasons (`disconnect`, `reconnect`)
            /// included.
            pub fn last_disconnect(
                &self,
            ) -> ::core::option::Option<$crate::mqtt_sansio_session::DisconnectReason> {
                self.__shared().lock().core.last_disconnect()
            }

            /// Publishes not yet completed (in flight and queued).
            pub fn pending_messages(&self) -> usize {
                self.__shared().lock().core.pending_messages()
            }

            /// What the client did so far (messages and bytes in and out per QoS,
            /// connections, reconnects, protocol errors by kind) and its window and queue
            /// sizes now.
            pub fn counters(&self) -> $crate::Counters {
                self.__shared().lock().core.counters()
            }

            /// Runs `f` on the Session (limits, subscriptions, counters) under the lock.
            pub fn with_session<R>(
                &self,
                f: impl FnOnce(&$crate::mqtt_sansio_session::Session) -> R,
            ) -> R {
                f(self.__shared().lock().core.session())
            }

            /// The TCP keepalive in effect on the latest connection's socket, read when it
            /// opened (`Ok(None)`: off or no connection yet).
            pub fn socket_keepalive(
                &self,
            ) -> ::std::io::Result<::core::option::Option<$crate::SockKeepalive>> {
                match &self.__shared().lock().socket_keepalive {
                    None => Ok(None),
                    Some(Ok(k)) => Ok(*k),
                    Some(Err(kind)) => Err((*kind).into()),
                }
            }
        }
    };
}
