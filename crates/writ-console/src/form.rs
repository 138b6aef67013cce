//! Posted forms: repeated keys (checkbox groups) kept, and the per-field errors a page shows
//! next to its inputs.

use std::collections::BTreeMap;

use writ_service::ServiceError;

/// An `application/x-www-form-urlencoded` body, in order, repeated keys kept.
#[derive(Debug, Default, Clone)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(bytes: &[u8]) -> Self {
        FormData(
            url::form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`, or `""`.
    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The first value of `key`, trimmed.
    pub fn text(&self, key: &str) -> String {
        self.get(key).trim().to_owned()
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A checkbox: present (with any value) means on.
    pub fn checked(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// A textarea of one value per line (blank lines dropped).
    pub fn lines(&self, key: &str) -> Vec<String> {
        self.get(key)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Whether the user confirmed a destructive action (dialog or confirmation page).
    pub fn confirmed(&self) -> bool {
        self.get("confirmed") == "yes"
    }

    /// The fields to carry through a confirmation page (everything but the CSRF token).
    pub fn carried(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(k, _)| k != "csrf" && k != "confirmed")
            .cloned()
            .collect()
    }
}

/// Errors by field name; `""` holds the ones that name no field of the form.
#[derive(Debug, Default, Clone)]
pub struct Errors(BTreeMap<String, String>);

impl Errors {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }

    /// The error shown next to `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// The errors that belong to no field shown on the form.
    pub fn general(&self) -> Option<&str> {
        self.get("")
    }

    /// Files a use case's refusal under the field it names when the form has it (else
    /// `fallback`, else the general slot).
    pub fn from_error(err: &ServiceError, fields: &[&str], fallback: Option<&str>) -> Self {
        let mut e = Errors::default();
        let field = err
            .field()
            .filter(|x| fields.contains(x))
            .or(fallback)
            .unwrap_or("");
        e.add(field, err.to_string());
        e
    }

    /// One error, next to `field`.
    pub fn one(field: &str, message: impl Into<String>) -> Self {
        let mut e = Errors::default();
        e.add(field, message);
        e
    }
}
