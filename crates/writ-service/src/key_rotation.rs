//! Signing-key rotation and revocation through the Management API. Both reload the key ring
//! and are recorded by [`Writ::recorded`].

use writ_core::{KeyState, SigningAlg, SigningKey};

use crate::audit::Operation;
use crate::signing_keys::new_record;
use crate::{Actor, Result, ServiceError, Writ};

/// Rotates every algorithm's key (current → previous, next → current, a new next); returns the
/// new current RS256 key's id.
pub async fn rotate(w: &Writ, actor: &Actor) -> Result<Option<String>> {
    let op = Operation::at("POST", "/keys/signing/rotate", "", 200);
    let change = async {
        let retire_after = crate::time::now() + w.max_token_lifetime();
        for alg in SigningAlg::ALL {
            let next = new_record(alg, KeyState::Next, &w.cipher)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            w.store
                .rotate_signing_keys(alg, &next, retire_after)
                .await?;
        }
        w.reload().await?;
        let ring = w.keys.load();
        Ok(ring.signer(SigningAlg::RS256).map(|k| k.kid.clone()))
    };
    w.recorded(actor, op, change).await
}

/// Revokes a previous key: it leaves the JWKS at once.
pub async fn revoke(w: &Writ, actor: &Actor, kid: &str) -> Result<SigningKey> {
    let op = Operation::new(
        "PUT",
        "/keys/signing/{kid}/revoke",
        format!("/keys/signing/{kid}/revoke"),
        200,
    );
    w.catalog_write(actor, op, async {
        let k = w.store.revoke_signing_key(kid).await.map_err(|e| match e {
            writ_store::StoreError::Conflict(m) => ServiceError::Refused {
                status: 400,
                code: "invalid_key_state",
                message: m,
            },
            e => e.into(),
        })?;
        Ok(k)
    })
    .await
}

/// Every signing key of every algorithm, in any state.
pub async fn keys(w: &Writ) -> Result<Vec<SigningKey>> {
    Ok(w.store.signing_keys().await?)
}
