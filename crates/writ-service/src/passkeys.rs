//! Passkeys (WebAuthn), for the hosted login page: registered as a user's authentication
//! method, used as a second factor after the password (instead of a TOTP code) and as a
//! passwordless first factor. The ceremonies themselves — options, client data, attestation
//! ("none" is enough), COSE keys, signatures, counters — are the `webauthn_rp` library's
//! (RustCrypto, no OpenSSL); this module decides what is asked and what is stored.
//!
//! - **Relying party**: its id is the issuer's host, and a response is accepted only from the
//!   issuer's origin exactly (scheme, host, port). An issuer whose host is an IP address has no
//!   relying-party id (browsers refuse one): passkeys are then off ([`relying_party`]).
//! - **Credentials**: discoverable (resident keys) with user verification required, so a
//!   passkey alone is multi-factor (`amr` [`AMR_PASSKEY`]). Each is an authenticator of type
//!   `passkey` (listed and deleted with the user's other methods) plus its public key, counter
//!   and flags in `passkeys`.
//! - **Ceremonies**: the library's server state is stored (any node may finish what another
//!   began), bound to the browser's login state that asked for it (a hash of its cookie) and,
//!   when known, the user; taken once, expired after [`CEREMONY_LIFETIME`] seconds.
//! - **Counters**: a signature counter that does not move forward while non-zero refuses the
//!   sign-in (the library's check); the new one is stored by a conditional update on the one
//!   read, so a replayed assertion racing the first loses.
//! - **Who**: a passwordless sign-in finds the user through the credential only; a failure
//!   says nothing about any email. Second-factor attempts take from the same per-user bucket as
//!   TOTP codes ([`crate::mfa`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::AuthenticationVerificationOptions;
use webauthn_rp::request::register::{
    CredProtect, PublicKeyCredentialUserEntity, RegistrationVerificationOptions, UserHandle64,
    Username,
};
use webauthn_rp::request::{
    AsciiDomain, DomainOrigin, ExtensionInfo, Port, PublicKeyCredentialDescriptor, RpId, Scheme,
    TimedCeremony,
};
use webauthn_rp::response::register::{CompressedPubKey, DynamicState, StaticState};
use webauthn_rp::response::{AuthTransports, Backup, CredentialId};
use webauthn_rp::{
    AuthenticatedCredential, DiscoverableAuthentication64, DiscoverableAuthenticationServerState,
    DiscoverableCredentialRequestOptions, PublicKeyCredentialCreationOptions, Registration,
    RegistrationServerState,
};
use writ_core::User;
use writ_store::{Authenticator, PasskeyChallenge, PasskeyCredential};

use crate::audit::{self, LoginOutcome, Peer, Via};
use crate::crypto::random_alnum;
use crate::mfa::Checked;
use crate::time::now;
use crate::{ServiceError, Writ};

/// How long a ceremony (its challenge) may take: 5 minutes, as the options tell the browser.
pub const CEREMONY_LIFETIME: i64 = 300;
/// `amr` of a passwordless sign-in with a passkey (user verification required: possession of
/// the key and the authenticator's PIN or biometric, RFC 8176 `hwk` + `mfa`).
pub const AMR_PASSKEY: &str = "hwk mfa";
/// `amr` of a password login finished with a passkey.
pub const AMR_PWD_PASSKEY: &str = "pwd hwk mfa";
/// The authenticator type of a passkey.
pub const KIND: &str = "passkey";

/// What a ceremony is for (the stored challenge's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    /// Registering a new passkey for a known user.
    Register,
    /// Signing in without a password (the user comes from the credential).
    Login,
    /// Proving the second factor of a known user after the password.
    Factor,
}

impl Ceremony {
    fn as_str(self) -> &'static str {
        match self {
            Ceremony::Register => "register",
            Ceremony::Login => "login",
            Ceremony::Factor => "factor",
        }
    }
}

/// The relying party: the id browsers bind credentials to and the one origin accepted.
pub struct RelyingParty {
    rp_id: RpId,
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl RelyingParty {
    fn origin(&self) -> DomainOrigin<'_, '_> {
        DomainOrigin {
            scheme: if self.scheme == "https" {
                Scheme::Https
            } else {
                Scheme::Other(&self.scheme)
            },
            host: &self.host,
            port: self.port.map_or(Port::None, Port::Val),
        }
    }

    /// The relying-party id (the issuer's host).
    pub fn id(&self) -> &str {
        self.rp_id.as_ref()
    }
}

/// The relying party of this issuer, or `None` when passkeys cannot work here (the issuer's
/// host is an IP address, which is no valid relying-party id, or the URL has no host).
pub fn relying_party(w: &Writ) -> Option<RelyingParty> {
    let url = url::Url::parse(&w.config.issuer).ok()?;
    let host = match url.host()? {
        url::Host::Domain(d) => d.to_owned(),
        _ => return None,
    };
    let rp_id = RpId::Domain(AsciiDomain::try_from(host.clone()).ok()?);
    Some(RelyingParty {
        rp_id,
        scheme: url.scheme().to_owned(),
        host,
        port: url.port(),
    })
}

/// Whether the hosted pages offer passkeys (see [`relying_party`]).
pub fn available(w: &Writ) -> bool {
    relying_party(w).is_some()
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

fn unavailable() -> ServiceError {
    ServiceError::Refused {
        status: 400,
        code: "passkeys_unavailable",
        message: "Passkeys need an issuer whose host is a domain name.".into(),
    }
}

fn challenge_id(challenge: u128) -> String {
    format!("{challenge:032x}")
}

async fn store_ceremony(
    w: &Writ,
    kind: Ceremony,
    binding: &str,
    user_id: Option<&str>,
    challenge: u128,
    state: Vec<u8>,
) -> Result<(), ServiceError> {
    let t = now();
    w.store
        .create_passkey_challenge(&PasskeyChallenge {
            id: challenge_id(challenge),
            kind: kind.as_str().into(),
            binding: binding.into(),
            user_id: user_id.map(str::to_owned),
            state,
            created_at: t,
            expires_at: t + CEREMONY_LIFETIME,
        })
        .await?;
    Ok(())
}

/// The user's passkeys (their credentials).
pub async fn credentials(w: &Writ, user_id: &str) -> Result<Vec<PasskeyCredential>, ServiceError> {
    Ok(w.store.passkeys_of_user(user_id).await?)
}

/// Whether the user has a passkey.
pub async fn has_passkey(w: &Writ, user_id: &str) -> Result<bool, ServiceError> {
    Ok(!credentials(w, user_id).await?.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Registration

/// Starts registering a passkey for `user`, bound to `binding` (a hash of the browser's login
/// state): the options for `navigator.credentials.create` (`PublicKeyCredentialCreationOptionsJSON`).
/// The user's existing passkeys are excluded, so an authenticator does not register twice.
pub async fn start_registration(
    w: &Writ,
    user: &User,
    binding: &str,
) -> Result<serde_json::Value, ServiceError> {
    let rp = relying_party(w).ok_or_else(unavailable)?;
    let existing = credentials(w, &user.user_id).await?;
    let handle = match existing.first() {
        Some(c) => decode_handle(&c.user_handle)?,
        None => UserHandle64::new(),
    };
    let mut exclude = Vec::with_capacity(existing.len());
    for c in &existing {
        let id = B64.decode(&c.credential_id).map_err(internal)?;
        exclude.push(PublicKeyCredentialDescriptor {
            id: CredentialId::<Vec<u8>>::decode(id).map_err(internal)?,
            transports: AuthTransports::decode(u8::try_from(c.transports).unwrap_or(0))
                .map_err(internal)?,
        });
    }
    // The email as the credential's name (what the browser shows), or the user id for an
    // address the username profile refuses.
    let name = Username::try_from(user.email.as_str())
        .or_else(|_| Username::try_from(user.user_id.as_str()))
        .map_err(internal)?;
    let entity = PublicKeyCredentialUserEntity {
        name,
        id: &handle,
        display_name: None,
    };
    let mut options = PublicKeyCredentialCreationOptions::passkey(&rp.rp_id, entity, exclude);
    // Ask authenticators to protect the credential with user verification (credProtect), but
    // do not make browsers refuse those that cannot: many platform authenticators have no
    // credProtect, and every sign-in requires user verification anyway.
    options.extensions.cred_protect =
        CredProtect::UserVerificationRequired(ExtensionInfo::AllowDontEnforceValue);
    let (server, client) = options.start_ceremony().map_err(internal)?;
    let options = serde_json::to_value(&client).map_err(internal)?;
    let challenge = server.sent_challenge().0;
    let state = server.encode().map_err(internal)?;
    store_ceremony(
        w,
        Ceremony::Register,
        binding,
        Some(&user.user_id),
        challenge,
        state,
    )
    .await?;
    Ok(options)
}

fn decode_handle(b64: &str) -> Result<UserHandle64, ServiceError> {
    let bytes = B64.decode(b64).map_err(internal)?;
    let arr: [u8; 64] = bytes
        .try_into()
        .map_err(|_| internal("a stored user handle is not 64 bytes"))?;
    let Ok(handle) = UserHandle64::decode(arr);
    Ok(handle)
}

/// How a registration ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// Stored: the new authenticator's id.
    Added(String),
    /// Refused: no such ceremony for this browser and user (expired, used, or never begun),
    /// or the response did not verify. The same answer for each.
    Refused,
}

/// Finishes registering a passkey for `user`: `response` is the browser's
/// `RegistrationResponseJSON` for a ceremony begun by [`start_registration`] with `binding`.
pub async fn finish_registration(
    w: &Writ,
    peer: &Peer,
    user: &User,
    binding: &str,
    response: &str,
) -> Result<Registered, ServiceError> {
    let rp = relying_party(w).ok_or_else(unavailable)?;
    let Ok(registration) = Registration::from_json_relaxed(response.as_bytes()) else {
        return Ok(Registered::Refused);
    };
    let Ok(challenge) = registration.challenge_relaxed() else {
        return Ok(Registered::Refused);
    };
    let t = now();
    let Some(row) = w
        .store
        .take_passkey_challenge(
            &challenge_id(challenge.0),
            Ceremony::Register.as_str(),
            binding,
            t,
        )
        .await?
    else {
        return Ok(Registered::Refused);
    };
    if row.user_id.as_deref() != Some(user.user_id.as_str()) {
        return Ok(Registered::Refused);
    }
    let server = RegistrationServerState::<64>::decode(row.state.as_slice()).map_err(internal)?;
    let origins = [rp.origin()];
    let options = RegistrationVerificationOptions::<DomainOrigin<'_, '_>, DomainOrigin<'_, '_>> {
        allowed_origins: &origins,
        ..Default::default()
    };
    let cred = match server.verify(&rp.rp_id, &registration, &options) {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(user = %user.user_id, error = %e, "passkey registration refused");
            audit::record_user(
                w,
                peer,
                user,
                "gd_enrollment_failed",
                "Passkey registration refused",
            )
            .await;
            return Ok(Registered::Refused);
        }
    };
    let dynamic = cred.dynamic_state();
    // These encodings cannot fail (their error type is `Infallible`).
    let Ok(user_handle) = cred.user_id().encode();
    let Ok(static_state) = cred.static_state().encode();
    let Ok(dynamic_state) = dynamic.encode();
    let Ok(transports) = cred.transports().encode();
    let id = format!("passkey_{}", random_alnum(16));
    let a = Authenticator {
        id: id.clone(),
        user_id: user.user_id.clone(),
        kind: KIND.into(),
        name: Some("Passkey".into()),
        secret: Vec::new(),
        confirmed: true,
        created_at: t,
        last_used_at: None,
        last_step: None,
    };
    let c = PasskeyCredential {
        authenticator_id: id.clone(),
        user_id: user.user_id.clone(),
        credential_id: B64.encode(cred.id().as_ref()),
        user_handle: B64.encode(user_handle),
        static_state,
        dynamic_state: dynamic_state.to_vec(),
        sign_count: i64::from(dynamic.sign_count),
        backup_eligible: !matches!(dynamic.backup, Backup::NotEligible),
        backed_up: matches!(dynamic.backup, Backup::Exists),
        transports: i64::from(transports),
    };
    let signal = crate::ssf::mfa_changed(&user.user_id, KIND, "create", false);
    match w.store.create_passkey(&a, &c, &[signal]).await {
        Ok(()) => {}
        Err(writ_store::StoreError::Conflict(_)) => return Ok(Registered::Refused),
        Err(e) => return Err(e.into()),
    }
    // An authenticator-app enrollment left unfinished is dropped: the passkey took its place.
    for pending in crate::mfa::authenticators(w, &user.user_id)
        .await?
        .iter()
        .filter(|a| a.kind == "totp" && !a.confirmed)
    {
        w.store
            .delete_authenticator(&user.user_id, &pending.id, &[])
            .await?;
    }
    audit::record_user(
        w,
        peer,
        user,
        "gd_enrollment_complete",
        "Passkey registered",
    )
    .await;
    crate::ssf::signalled();
    Ok(Registered::Added(id))
}

// ---------------------------------------------------------------------------------------------
// Sign-in

/// Starts a sign-in with a passkey bound to `binding`: `Login` (passwordless, any of this
/// relying party's discoverable credentials, conditional UI allowed) or `Factor` (the second
/// factor of `user_id`, checked when it finishes). The options for `navigator.credentials.get`
/// (`PublicKeyCredentialRequestOptionsJSON`, user verification required).
pub async fn start_sign_in(
    w: &Writ,
    kind: Ceremony,
    binding: &str,
    user_id: Option<&str>,
) -> Result<serde_json::Value, ServiceError> {
    let rp = relying_party(w).ok_or_else(unavailable)?;
    let (server, client) = DiscoverableCredentialRequestOptions::passkey(&rp.rp_id)
        .start_ceremony()
        .map_err(internal)?;
    let options = serde_json::to_value(&client).map_err(internal)?;
    let challenge = server.sent_challenge().0;
    let state = server.encode().map_err(internal)?;
    store_ceremony(w, kind, binding, user_id, challenge, state).await?;
    Ok(options)
}

/// Verifies an assertion (`AuthenticationResponseJSON`) for the ceremony `kind` bound to
/// `binding`: the credential, its user's id and the ceremony's user (if any), or `None` when
/// anything is wrong (the same answer for each). Stores the new counter once.
async fn verify_assertion(
    w: &Writ,
    kind: Ceremony,
    binding: &str,
    response: &str,
) -> Result<Option<(PasskeyCredential, Option<String>)>, ServiceError> {
    let rp = relying_party(w).ok_or_else(unavailable)?;
    let Ok(auth) = DiscoverableAuthentication64::from_json_relaxed(response.as_bytes()) else {
        return Ok(None);
    };
    let Ok(challenge) = auth.challenge_relaxed() else {
        return Ok(None);
    };
    let t = now();
    let Some(row) = w
        .store
        .take_passkey_challenge(&challenge_id(challenge.0), kind.as_str(), binding, t)
        .await?
    else {
        return Ok(None);
    };
    let credential_id = B64.encode(auth.raw_id().as_ref());
    let Some(stored) = w.store.passkey_by_credential(&credential_id).await? else {
        return Ok(None);
    };
    let handle = decode_handle(&stored.user_handle)?;
    let static_state =
        StaticState::<CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>>::decode(
            stored.static_state.as_slice(),
        )
        .map_err(internal)?;
    let dynamic: [u8; 7] = stored
        .dynamic_state
        .as_slice()
        .try_into()
        .map_err(|_| internal("a stored passkey state is not 7 bytes"))?;
    let dynamic = DynamicState::decode(dynamic).map_err(internal)?;
    let raw_id = auth.raw_id();
    let mut cred =
        AuthenticatedCredential::new(raw_id, &handle, static_state, dynamic).map_err(internal)?;
    let server =
        DiscoverableAuthenticationServerState::decode(row.state.as_slice()).map_err(internal)?;
    let origins = [rp.origin()];
    let options = AuthenticationVerificationOptions::<DomainOrigin<'_, '_>, DomainOrigin<'_, '_>> {
        allowed_origins: &origins,
        update_uv: true,
        ..Default::default()
    };
    if let Err(e) = server.verify(&rp.rp_id, &auth, &mut cred, &options) {
        tracing::info!(authenticator = %stored.authenticator_id, error = %e, "passkey sign-in refused");
        return Ok(None);
    }
    let dynamic = cred.dynamic_state();
    let Ok(dynamic_state) = dynamic.encode();
    let updated = PasskeyCredential {
        dynamic_state: dynamic_state.to_vec(),
        sign_count: i64::from(dynamic.sign_count),
        backed_up: matches!(dynamic.backup, Backup::Exists),
        ..stored.clone()
    };
    if !w
        .store
        .update_passkey_state(&stored.authenticator_id, stored.sign_count, &updated, t)
        .await?
    {
        // Another sign-in with this passkey stored its counter first (or it was deleted).
        return Ok(None);
    }
    Ok(Some((updated, row.user_id)))
}

/// How a passwordless sign-in ended (each refusal already recorded in the audit log).
#[derive(Debug, Clone)]
pub enum SignedIn {
    /// The passkey's user, signed in.
    User(Box<User>),
    /// Not accepted (unknown or removed passkey, expired or replayed ceremony, bad signature,
    /// counter gone backwards, user verification missing): nothing says which.
    Refused,
    /// The passkey is right but its user is blocked.
    Blocked,
}

/// Finishes a passwordless sign-in begun by [`start_sign_in`] (`Login`) with `binding`.
pub async fn finish_login(
    w: &Writ,
    peer: &Peer,
    client_id: &str,
    binding: &str,
    response: &str,
) -> Result<SignedIn, ServiceError> {
    let Some((cred, _)) = verify_assertion(w, Ceremony::Login, binding, response).await? else {
        audit::login(
            w,
            Via::Passkey,
            peer,
            client_id,
            "",
            LoginOutcome::Failed(None),
        )
        .await;
        return Ok(SignedIn::Refused);
    };
    let user = match w.store.get_user(&cred.user_id).await {
        Ok(u) => u,
        Err(writ_store::StoreError::NotFound(_)) => return Ok(SignedIn::Refused),
        Err(e) => return Err(e.into()),
    };
    if user.blocked {
        audit::login(
            w,
            Via::Passkey,
            peer,
            client_id,
            &user.email,
            LoginOutcome::Blocked(&user.user_id),
        )
        .await;
        return Ok(SignedIn::Blocked);
    }
    audit::login(
        w,
        Via::Passkey,
        peer,
        client_id,
        &user.email,
        LoginOutcome::Success(&user.user_id),
    )
    .await;
    Ok(SignedIn::User(Box::new(user)))
}

/// Checks a passkey as `user`'s second factor (a ceremony begun by [`start_sign_in`]
/// `Factor` with `binding`): the passkey must be theirs. Takes one attempt from the user's
/// second-factor bucket first, as a TOTP code does.
pub async fn check_factor(
    w: &Writ,
    peer: &Peer,
    user: &User,
    binding: &str,
    response: &str,
) -> Result<Checked, ServiceError> {
    if let Some(refused) = crate::mfa::take_attempt(w, peer, user, now()).await? {
        return Ok(refused);
    }
    let ok = match verify_assertion(w, Ceremony::Factor, binding, response).await? {
        Some((cred, bound)) => {
            cred.user_id == user.user_id && bound.as_deref() == Some(user.user_id.as_str())
        }
        None => false,
    };
    if ok {
        audit::record_user(
            w,
            peer,
            user,
            "gd_auth_succeed",
            "Second factor accepted (passkey)",
        )
        .await;
        Ok(Checked::Accepted {
            recovery_code: None,
        })
    } else {
        audit::record_user(
            w,
            peer,
            user,
            "gd_auth_failed",
            "Second factor refused (passkey)",
        )
        .await;
        Ok(Checked::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_options_ask_for_a_discoverable_verified_passkey() {
        let rp_id = RpId::Domain(AsciiDomain::try_from("auth.example.com".to_owned()).unwrap());
        let handle = UserHandle64::new();
        let entity = PublicKeyCredentialUserEntity {
            name: Username::try_from("a@example.com").unwrap(),
            id: &handle,
            display_name: None,
        };
        let (server, client) = PublicKeyCredentialCreationOptions::passkey(&rp_id, entity, vec![])
            .start_ceremony()
            .unwrap();
        let json = serde_json::to_value(&client).unwrap();
        assert_eq!(json["rp"]["id"], "auth.example.com");
        assert_eq!(json["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(
            json["authenticatorSelection"]["userVerification"],
            "required"
        );
        // The stored state comes back as it went.
        let bytes = server.encode().unwrap();
        let back = RegistrationServerState::<64>::decode(bytes.as_slice()).unwrap();
        assert_eq!(back.sent_challenge().0, server.sent_challenge().0);
    }

    #[test]
    fn sign_in_options_require_user_verification() {
        let rp_id = RpId::Domain(AsciiDomain::try_from("localhost".to_owned()).unwrap());
        let (_, client) = DiscoverableCredentialRequestOptions::passkey(&rp_id)
            .start_ceremony()
            .unwrap();
        let json = serde_json::to_value(&client).unwrap();
        assert_eq!(json["rpId"], "localhost");
        assert_eq!(json["userVerification"], "required");
    }
}
