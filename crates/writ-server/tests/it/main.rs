//! Integration tests for writ-server: a real server on 127.0.0.1:0 over a real SQLite file.

mod admin;
mod audit;
mod authz_extension;
mod events;
mod groups;
mod hardening;
mod health;
mod helpers;
mod hooks;
mod interop;
mod jobs;
mod key_publication;
mod keys;
mod login;
mod mgmt;
mod mgmt_scopes;
mod multinode;
mod observe;
mod pg;
mod proxy;
mod token_claims;
mod token_size;
mod tokens;
mod web;
mod web_message;
mod webhooks;
