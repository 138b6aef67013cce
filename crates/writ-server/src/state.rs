//! The state every handler takes: [`writ_service::Writ`], the application layer's handle.

pub use writ_service::{Catalog, WeakWrit, Writ as AppState};
