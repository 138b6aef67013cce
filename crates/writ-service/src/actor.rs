//! Who asks for a change, passed explicitly to every use case that writes: the client the call
//! came through, the user it speaks for (none for a machine client), and where from. The audit
//! entry of the change names them.

use crate::audit::Peer;

/// The caller of a use case.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The client (application) the call came through.
    pub client_id: Option<String>,
    /// The user it acts for; `None` for a machine client.
    pub user_id: Option<String>,
    /// Where the request came from.
    pub peer: Peer,
}

impl Actor {
    /// The channel of its Management API entries: the peer's, else `console` for the admin
    /// console's client, `api` for the rest.
    pub fn channel(&self) -> &'static str {
        self.peer.channel.unwrap_or(
            if self.client_id.as_deref() == Some(writ_core::CONSOLE_CLIENT_ID) {
                "console"
            } else {
                "api"
            },
        )
    }
}
