//! MQTT 5.0 enhanced authentication (§4.12): the AUTH exchange before CONNACK, the check of
//! the broker's final data, and re-authentication on an accepted connection.

#[cfg(feature = "enhanced-auth")]
use alloc::boxed::Box;
#[cfg(feature = "enhanced-auth")]
use alloc::string::String;

use mqtt_sansio_proto::{Auth, PropertiesBuf, ReasonCode};
#[cfg(feature = "enhanced-auth")]
use mqtt_sansio_proto::{Packet, Property, ProtocolVersion, Rule, RuleTags};

#[cfg(feature = "enhanced-auth")]
use crate::auth::{AuthError, AuthSlot, Authenticator, ReauthError};
#[cfg(feature = "enhanced-auth")]
use crate::error::DisconnectReason;
use crate::error::{ConnectError, ProtocolError};
#[cfg(feature = "enhanced-auth")]
use crate::event::Event;
#[cfg(feature = "enhanced-auth")]
use crate::time::Instant;

use super::*;

#[cfg(feature = "enhanced-auth")]
/// AUTH (or a successful CONNACK) must carry CONNECT's Authentication Method [MQTT-4.12.0-5].
const AUTH_METHOD_MISMATCH: Rule = Rule::new(&RuleTags::only_v5("MQTT-4.12.0-5"));
#[cfg(feature = "enhanced-auth")]
/// Only the client sends AUTH 0x19 (Re-authenticate) (5.0 §3.15.2.1).
const AUTH_REASON_FROM_CLIENT: Rule = Rule::new(&RuleTags::only_v5("5.0 §3.15.2.1"));
#[cfg(feature = "enhanced-auth")]
/// AUTH 0x00 from the broker only ends a re-authentication; the first exchange ends with
/// CONNACK (5.0 §4.12, §4.12.1).
const AUTH_SUCCESS_OUT_OF_TURN: Rule = Rule::new(&RuleTags::only_v5("5.0 §4.12.1"));
#[cfg(feature = "enhanced-auth")]
/// AUTH 0x18 after CONNACK belongs to a re-authentication the client started (5.0 §4.12.1).
const AUTH_CONTINUE_OUT_OF_TURN: Rule = Rule::new(&RuleTags::only_v5("5.0 §4.12.1"));

#[cfg(feature = "enhanced-auth")]
/// The DISCONNECT reason when the client ends an exchange it cannot complete (an
/// authenticator error, such as a wrong SCRAM server signature). 0x87 (Not authorized) and
/// 0x8C (Bad authentication method) are listed as sent by the Server only (5.0 §3.14.2.1);
/// of the codes a Client may send, 0x80 (Unspecified error) fits and reveals nothing
/// (§4.12: "The Client can close the connection at any point in this process. It MAY send a
/// DISCONNECT packet before doing so.").
pub(super) const AUTH_FAILED_DISCONNECT: ReasonCode = ReasonCode::UnspecifiedError;

#[cfg(feature = "enhanced-auth")]
fn auth_data<'a>(props: &mqtt_sansio_proto::Properties<'a>) -> Option<&'a [u8]> {
    props.iter().find_map(|p| match p {
        Property::AuthenticationData(d) => Some(d),
        _ => None,
    })
}

impl Session {
    /// The Authentication Method the current connection's CONNECT carried, if any.
    pub fn authentication_method(&self) -> Option<&str> {
        self.auth_method.as_deref()
    }

    /// Whether a re-authentication started by `reauthenticate` waits for the broker's
    /// AUTH 0x00.
    pub fn is_reauthenticating(&self) -> bool {
        self.reauthenticating
    }
}

#[cfg(feature = "enhanced-auth")]
impl Session {
    /// Attaches the authenticator for MQTT 5.0 enhanced authentication (§4.12), or removes
    /// it with `None`.
    ///
    /// It takes part from the next [`connect`](Self::connect) (CONNECT then carries its
    /// Authentication Method and initial Authentication Data) and in
    /// [`reauthenticate`](Self::reauthenticate). It lives outside [`SessionConfig`] because
    /// it holds secrets and state, while the configuration is plain, comparable data.
    /// Replacing it during an exchange lets the new one answer the next step, which fails
    /// unless it is in the same step: replace it between exchanges (an authenticator like
    /// `ScramSha256` (feature `scram`) serves one exchange, so attach a fresh one before each
    /// `connect` and `reauthenticate`).
    pub fn set_authenticator(&mut self, authenticator: Option<Box<dyn Authenticator>>) {
        self.authenticator = authenticator.map(AuthSlot);
    }

    /// Whether an authenticator is attached.
    pub fn has_authenticator(&self) -> bool {
        self.authenticator.is_some()
    }

    /// Starts a re-authentication on the accepted connection (5.0 §4.12.1): sends AUTH 0x19
    /// (Re-authenticate) with the authenticator's initial data, under the method CONNECT
    /// used [MQTT-4.12.1-1]. The broker's challenges are answered as they come; the end is
    /// [`Event::Authenticated`] with `reauthentication: true`, or the broker's DISCONNECT
    /// (for example 0x87 Not authorized, as [`DisconnectReason::Remote`]).
    ///
    /// Publishes, subscriptions and acknowledgements keep flowing meanwhile, and whatever is
    /// unacknowledged when a refusal ends the connection is kept for the next one.
    pub fn reauthenticate(&mut self, now: Instant) -> Result<(), ReauthError> {
        self.advance(now);
        if self.state != SessionState::Connected {
            return Err(ReauthError::NotConnected);
        }
        let Some(method) = self.auth_method.clone() else {
            return Err(ReauthError::NoAuthenticationMethod);
        };
        let Some(slot) = self.authenticator.as_mut() else {
            return Err(ReauthError::NoAuthenticator);
        };
        if slot.0.method() != method {
            return Err(ReauthError::MethodChanged);
        }
        if self.reauthenticating {
            return Err(ReauthError::InProgress);
        }
        let data = slot.0.start().map_err(ReauthError::Authenticator)?;
        self.send_auth(ReasonCode::ReAuthenticate, &method, data.as_deref())
            .map_err(ReauthError::Authenticator)?;
        self.reauthenticating = true;
        Ok(())
    }

    /// CONNECT's Authentication Method and Data, from the attached authenticator. Called by
    /// `connect` before anything changes; returns the method the connection will use.
    pub(super) fn connect_auth_properties(
        &mut self,
        props: &mut PropertiesBuf,
        options_method: Option<&str>,
    ) -> Result<Option<String>, ConnectError> {
        let Some(slot) = self.authenticator.as_mut() else {
            return Ok(None);
        };
        let invalid = |what| ConnectError::Authentication(AuthError::InvalidInput { what });
        if self.config.version != ProtocolVersion::V5 {
            return Err(invalid("enhanced authentication exists only in MQTT 5.0"));
        }
        if options_method.is_some() {
            return Err(invalid(
                "ConnectOptions carries an Authentication Method and an authenticator is attached",
            ));
        }
        let method = String::from(slot.0.method());
        let data = slot.0.start().map_err(ConnectError::Authentication)?;
        // 5.0 §3.1.2.11.9 (Authentication Method) and §3.1.2.11.10 (Authentication Data): the
        // method names the exchange and the data is its first step. Until CONNACK only AUTH
        // (or DISCONNECT) may follow [MQTT-3.1.2-30], which holds because queued traffic
        // leaves only when CONNACK arrives (`pump` in `on_connack`).
        props
            .push(Property::AuthenticationMethod(&method))
            .map_err(|e| ConnectError::Invalid(e.into()))?;
        if let Some(d) = data.as_deref() {
            props
                .push(Property::AuthenticationData(d))
                .map_err(|e| ConnectError::Invalid(e.into()))?;
        }
        Ok(Some(method))
    }

    /// Queues an AUTH with our method and `data`.
    fn send_auth(
        &mut self,
        reason: ReasonCode,
        method: &str,
        data: Option<&[u8]>,
    ) -> Result<(), AuthError> {
        const TOO_LONG: AuthError = AuthError::InvalidInput {
            what: crate::error::text("the authentication data does not fit in an AUTH packet"),
        };
        let mut props = PropertiesBuf::new();
        props
            .push(Property::AuthenticationMethod(method))
            .map_err(|_| TOO_LONG)?;
        if let Some(d) = data {
            props
                .push(Property::AuthenticationData(d))
                .map_err(|_| TOO_LONG)?;
        }
        let packet = Packet::Auth(Auth {
            reason,
            properties: props.as_properties(),
        });
        self.tx.push(&packet, self.v()).map_err(|_| TOO_LONG)?;
        Ok(())
    }

    /// The authenticator failed a step: the client ends the connection.
    fn auth_failed(&mut self, err: AuthError) {
        self.tx.clear();
        let packet = Packet::Disconnect(mqtt_sansio_proto::Disconnect {
            reason: AUTH_FAILED_DISCONNECT,
            properties: mqtt_sansio_proto::Properties::EMPTY,
        });
        let _ = self.tx.push(&packet, self.v());
        self.connection_ended(DisconnectReason::AuthFailed(err));
    }

    #[inline(always)]
    fn auth_violation(&mut self, rule: Rule, what: &'static str) {
        self.protocol_error(ProtocolError::new(rule, what, ReasonCode::ProtocolError));
    }

    /// AUTH from the broker (5.0 §4.12).
    pub(super) fn on_auth(&mut self, auth: &Auth<'_>) {
        let Some(method) = self.auth_method.clone() else {
            // Enhanced authentication was not requested: the broker must not send AUTH
            // [MQTT-4.12.0-6].
            return self.auth_violation(
                super::AUTH_UNEXPECTED,
                "AUTH received although no authentication method was sent",
            );
        };
        if auth.properties.authentication_method() != Some(method.as_str()) {
            return self.auth_violation(
                AUTH_METHOD_MISMATCH,
                "AUTH with another Authentication Method than CONNECT's",
            );
        }
        let data = auth_data(&auth.properties);
        match auth.reason {
            ReasonCode::ContinueAuthentication => {
                if self.state == SessionState::Connected && !self.reauthenticating {
                    return self.auth_violation(
                        AUTH_CONTINUE_OUT_OF_TURN,
                        "AUTH 0x18 after CONNACK without a re-authentication",
                    );
                }
                let reauthentication = self.reauthenticating;
                let answer = match self.authenticator.as_mut() {
                    Some(slot) => slot.0.challenge(data),
                    None => Err(AuthError::UnexpectedStep {
                        what: crate::error::text(
                            "a challenge arrived but the authenticator was removed",
                        ),
                    }),
                };
                // The client answers a challenge with AUTH 0x18 [MQTT-4.12.0-3].
                let sent = answer.and_then(|d| {
                    self.send_auth(ReasonCode::ContinueAuthentication, &method, d.as_deref())
                });
                match sent {
                    Ok(()) => self.emit(Event::AuthContinue { reauthentication }),
                    Err(e) => self.auth_failed(e),
                }
            }
            ReasonCode::Success => {
                if !self.reauthenticating {
                    return self.auth_violation(
                        AUTH_SUCCESS_OUT_OF_TURN,
                        "AUTH 0x00 outside a re-authentication",
                    );
                }
                if self.finish_auth(data) {
                    self.reauthenticating = false;
                    self.emit(Event::Authenticated {
                        reauthentication: true,
                    });
                }
            }
            _ => self.auth_violation(
                AUTH_REASON_FROM_CLIENT,
                "AUTH 0x19 (Re-authenticate) is sent by the client only",
            ),
        }
    }

    /// The broker declared success with this final data: the authenticator checks it.
    /// Returns false when it failed and the connection ended.
    fn finish_auth(&mut self, data: Option<&[u8]>) -> bool {
        let result = match self.authenticator.as_mut() {
            Some(slot) => slot.0.finish(data),
            None => Err(AuthError::UnexpectedStep {
                what: crate::error::text("success arrived but the authenticator was removed"),
            }),
        };
        match result {
            Ok(()) => true,
            Err(e) => {
                self.auth_failed(e);
                false
            }
        }
    }

    /// A successful CONNACK on a connection that uses enhanced authentication: same method
    /// [MQTT-4.12.0-5], and the final data verified. Returns false when the connection ended.
    pub(super) fn verify_connack_auth(&mut self, ack: &mqtt_sansio_proto::ConnAck<'_>) -> bool {
        let Some(method) = self.auth_method.as_deref() else {
            if ack.properties.authentication_method().is_some() {
                // Without a method in CONNECT the server must not name one [MQTT-4.12.0-6].
                self.auth_violation(
                    super::AUTH_UNEXPECTED,
                    "a CONNACK with an Authentication Method although CONNECT carried none",
                );
                return false;
            }
            return true;
        };
        if ack.properties.authentication_method() != Some(method) {
            self.auth_violation(
                AUTH_METHOD_MISMATCH,
                "a successful CONNACK without CONNECT's Authentication Method",
            );
            return false;
        }
        if !self.finish_auth(auth_data(&ack.properties)) {
            return false;
        }
        self.emit(Event::Authenticated {
            reauthentication: false,
        });
        true
    }
}

/// Enhanced authentication compiled out: no authenticator, so no method in CONNECT.
#[cfg(not(feature = "enhanced-auth"))]
impl Session {
    /// No authenticator can be attached: CONNECT carries only the caller's properties.
    #[inline(always)]
    pub(super) fn connect_auth_properties(
        &mut self,
        _props: &mut PropertiesBuf,
        _options_method: Option<&str>,
    ) -> Result<Option<alloc::string::String>, ConnectError> {
        Ok(None)
    }

    /// AUTH from the broker, which must not send one when CONNECT asked for no enhanced
    /// authentication [MQTT-4.12.0-6].
    pub(super) fn on_auth(&mut self, _auth: &Auth<'_>) {
        self.protocol_error(ProtocolError::new(
            super::AUTH_UNEXPECTED,
            "AUTH received although no authentication method was sent",
            ReasonCode::ProtocolError,
        ));
    }

    /// A successful CONNACK must not name an Authentication Method that CONNECT did not
    /// carry [MQTT-4.12.0-6]. Returns false when the connection ended.
    pub(super) fn verify_connack_auth(&mut self, ack: &mqtt_sansio_proto::ConnAck<'_>) -> bool {
        if ack.properties.authentication_method().is_some() {
            self.protocol_error(ProtocolError::new(
                super::AUTH_UNEXPECTED,
                "a CONNACK with an Authentication Method although CONNECT carried none",
                ReasonCode::ProtocolError,
            ));
            return false;
        }
        true
    }
}
