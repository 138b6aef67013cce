//! The password policy, in one place for every path that sets a password (the Management API,
//! the hosted sign-up, Auth0's `/dbconnections/signup`, a reset): a minimum length, a maximum
//! the hash accepts, and, as Auth0's "password dictionary" and "no personal info" options do,
//! refusing the passwords attackers try first and those built from the user's own email.
//!
//! The dictionary is bundled, never fetched: the 8,354 entries of at least 8 characters from
//! the list of 20,000 common passwords Django ships (`data/common-passwords.txt`, see
//! `data/README.md` for its origin and licence), compared case-insensitively.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::validate::ValidationError;

/// The shortest minimum length a policy may ask for (NIST SP 800-63B's floor, Auth0's default).
pub const MIN_LENGTH_FLOOR: usize = 8;
/// The longest minimum length a policy may ask for (Auth0's bound).
pub const MIN_LENGTH_CEILING: usize = 128;
/// The longest password accepted, in bytes (the bound of argon2's input Writ keeps).
pub const MAX_BYTES: usize = 1024;

static COMMON: &str = include_str!("../data/common-passwords.txt");

/// What a password must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// At least this many characters ([`MIN_LENGTH_FLOOR`]..=[`MIN_LENGTH_CEILING`]).
    pub min_length: usize,
    /// Refuse the bundled common passwords.
    pub dictionary: bool,
    /// Refuse passwords that contain the local part of the user's email.
    pub no_personal_info: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: MIN_LENGTH_FLOOR,
            dictionary: true,
            no_personal_info: false,
        }
    }
}

/// Why a password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    /// Fewer characters than the policy's minimum (carried).
    TooShort(usize),
    /// More than [`MAX_BYTES`] bytes.
    TooLong,
    /// In the bundled dictionary of common passwords.
    Common,
    /// Contains the user's email (its local part).
    PersonalInfo,
}

impl Weakness {
    /// Auth0's sentence for the Management API and `/dbconnections/signup`
    /// (`PasswordStrengthError`, `PasswordDictionaryError`, `PasswordNoUserInfoError`).
    pub fn api_message(self) -> String {
        match self {
            Weakness::TooShort(n) => {
                format!("PasswordStrengthError: Password is too weak (at least {n} characters)")
            }
            Weakness::TooLong => format!("String is too long (max {MAX_BYTES} bytes)"),
            Weakness::Common => "PasswordDictionaryError: Password is too common".into(),
            Weakness::PersonalInfo => {
                "PasswordNoUserInfoError: Password contains user information".into()
            }
        }
    }

    /// The advice the hosted pages show.
    pub fn advice(self) -> String {
        match self {
            Weakness::TooShort(n) => format!("Choose a password of at least {n} characters."),
            Weakness::TooLong => format!("Choose a password of at most {MAX_BYTES} bytes."),
            Weakness::Common => {
                "This password is one of the most common ones, which attackers try first: choose another.".into()
            }
            Weakness::PersonalInfo => {
                "The password must not contain your email address: choose another.".into()
            }
        }
    }
}

impl PasswordPolicy {
    /// A policy with `min_length` clamped to what a policy may ask for.
    pub fn new(min_length: usize, dictionary: bool, no_personal_info: bool) -> PasswordPolicy {
        PasswordPolicy {
            min_length: min_length.clamp(MIN_LENGTH_FLOOR, MIN_LENGTH_CEILING),
            dictionary,
            no_personal_info,
        }
    }

    /// Checks `password` for the user with `email` (when known).
    pub fn check(&self, password: &str, email: Option<&str>) -> Result<(), Weakness> {
        let min = self.min_length.max(MIN_LENGTH_FLOOR);
        if password.chars().count() < min {
            return Err(Weakness::TooShort(min));
        }
        if password.len() > MAX_BYTES {
            return Err(Weakness::TooLong);
        }
        if self.dictionary && is_common(password) {
            return Err(Weakness::Common);
        }
        if self.no_personal_info && contains_email(password, email) {
            return Err(Weakness::PersonalInfo);
        }
        Ok(())
    }

    /// [`check`](Self::check) as a [`ValidationError`] on `field`, with Auth0's sentence.
    pub fn validate(
        &self,
        field: &str,
        password: &str,
        email: Option<&str>,
    ) -> Result<(), ValidationError> {
        self.check(password, email)
            .map_err(|w| ValidationError::new(field, w.api_message()))
    }
}

/// Whether `password` is in the bundled dictionary (case-insensitive).
pub fn is_common(password: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let set = SET.get_or_init(|| COMMON.lines().filter(|l| !l.is_empty()).collect());
    set.contains(password.to_lowercase().as_str())
}

/// Whether `password` contains the local part of `email` (of at least 3 characters; shorter
/// ones would refuse too much), case-insensitively.
fn contains_email(password: &str, email: Option<&str>) -> bool {
    let Some(local) = email.and_then(|e| e.split('@').next()) else {
        return false;
    };
    let local = local.trim().to_lowercase();
    local.chars().count() >= 3 && password.to_lowercase().contains(&local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_bundled_and_case_insensitive() {
        assert!(is_common("password123"));
        assert!(is_common("PassWord123"));
        assert!(is_common("qwertyuiop"));
        assert!(!is_common("alice-password-1"));
        assert!(!is_common(""));
        // No entry is shorter than the floor: shorter ones are refused by their length.
        assert!(
            COMMON
                .lines()
                .all(|l| l.chars().count() >= MIN_LENGTH_FLOOR)
        );
    }

    #[test]
    fn the_default_policy() {
        let p = PasswordPolicy::default();
        assert_eq!(p.check("short", None), Err(Weakness::TooShort(8)));
        assert_eq!(p.check("password123", None), Err(Weakness::Common));
        assert_eq!(p.check(&"x".repeat(1025), None), Err(Weakness::TooLong));
        assert_eq!(
            p.check("alice-password-1", Some("alice@example.com")),
            Ok(())
        );
        // Characters, not bytes.
        assert_eq!(p.check("ééééééé", None), Err(Weakness::TooShort(8)));
        assert_eq!(p.check("éééééééé", None), Ok(()));
    }

    #[test]
    fn options_and_bounds() {
        let p = PasswordPolicy::new(12, false, true);
        assert_eq!(p.check("eleven-char", None), Err(Weakness::TooShort(12)));
        assert_eq!(p.check("password1234", None), Ok(()), "dictionary off");
        assert_eq!(
            p.check("my-Alice-secret", Some("alice@example.com")),
            Err(Weakness::PersonalInfo)
        );
        assert_eq!(p.check("my-bob-secret", Some("al@example.com")), Ok(()));
        assert_eq!(PasswordPolicy::new(3, true, false).min_length, 8);
        assert_eq!(PasswordPolicy::new(500, true, false).min_length, 128);
    }

    #[test]
    fn messages_name_the_rule() {
        let e = PasswordPolicy::default()
            .validate("password", "password123", None)
            .unwrap_err();
        assert_eq!(e.field, "password");
        assert_eq!(e.reason, "PasswordDictionaryError: Password is too common");
        assert!(Weakness::TooShort(10).advice().contains("10 characters"));
    }
}
