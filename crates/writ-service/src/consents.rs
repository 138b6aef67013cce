//! Users' consents to third-party clients (Auth0's grants, `/api/v2/grants`). Revoking one also
//! revokes that client's refresh tokens for the user and makes the user's access tokens stale
//! (in the store's transaction), so the client has to ask again. Recorded by [`Writ::recorded`].

use writ_store::{Consent, ConsentFilter};

use crate::audit::Operation;
use crate::{Actor, Result, ServiceError, Writ};

/// Revokes one consent.
pub async fn revoke(w: &Writ, actor: &Actor, id: &str) -> Result<()> {
    let op = Operation::at("DELETE", "/grants/{id}", id, 204);
    let change = async {
        w.store.revoke_consent(id).await?;
        Ok(())
    };
    w.recorded(actor, op, change).await
}

/// Revokes every consent of a user (none is fine).
pub async fn revoke_all_of(w: &Writ, actor: &Actor, user_id: Option<&str>) -> Result<()> {
    let op = Operation::at("DELETE", "/grants", "", 204);
    let change = async {
        let user = user_id
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ServiceError::Refused {
                status: 400,
                code: "invalid_query_string",
                message: "Query validation error: 'Missing required property: user_id'.".into(),
            })?;
        w.store.revoke_user_consents(user).await?;
        Ok(())
    };
    w.recorded(actor, op, change).await
}

/// Every consent a user gave, each with its client's name (the client id when the client is
/// gone from the catalog).
pub async fn of_user(w: &Writ, user_id: &str) -> Result<Vec<(Consent, String)>> {
    let filter = ConsentFilter {
        user_id: Some(user_id.to_owned()),
        ..Default::default()
    };
    let all = crate::paging::all_pages(|p| w.store.list_consents(&filter, p)).await?;
    let catalog = w.catalog.load();
    Ok(all
        .into_iter()
        .map(|c| {
            let name = catalog
                .clients
                .get(&c.client_id)
                .map_or_else(|| c.client_id.clone(), |k| k.name.clone());
            (c, name)
        })
        .collect())
}
