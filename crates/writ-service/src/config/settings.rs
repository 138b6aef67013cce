//! The list of settings, in one place: each one's TOML key, environment variable, default and
//! whether it is secret. `writ config show` prints the effective configuration in this order
//! (secrets redacted), and the tests check it against the loader (every key the file accepts,
//! every variable it reads) and against `docs/configuration.md`, so neither can drift.

use super::Config;

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The key in the TOML file.
    pub key: &'static str,
    /// The environment variable, which overrides the file.
    pub env: &'static str,
    /// The default as documented: a TOML value, or words when it is computed or unset.
    pub default: &'static str,
    /// Whether its value is redacted when shown.
    pub secret: bool,
}

const fn s(key: &'static str, env: &'static str, default: &'static str) -> Setting {
    Setting {
        key,
        env,
        default,
        secret: false,
    }
}

const fn secret(key: &'static str, env: &'static str, default: &'static str) -> Setting {
    Setting {
        key,
        env,
        default,
        secret: true,
    }
}

/// Every setting [`Config::load`] reads, in the order `writ config show` prints them.
pub const SETTINGS: &[Setting] = &[
    s("issuer", "WRIT_ISSUER", "\"http://127.0.0.1:3000/\""),
    s("listen", "WRIT_LISTEN", "\"127.0.0.1:3000\""),
    // Shown with any password in the URL replaced by `***`.
    s(
        "database_url",
        "WRIT_DATABASE_URL",
        "\"sqlite://writ-data/writ.db\"",
    ),
    s("bootstrap_client_id", "WRIT_BOOTSTRAP_CLIENT_ID", "unset"),
    secret(
        "bootstrap_client_secret",
        "WRIT_BOOTSTRAP_CLIENT_SECRET",
        "unset",
    ),
    secret(
        "key_encryption_key",
        "WRIT_KEY_ENCRYPTION_KEY",
        "unset: a key file beside the SQLite database",
    ),
    s(
        "password_hash_concurrency",
        "WRIT_PASSWORD_HASH_CONCURRENCY",
        "twice the CPU count",
    ),
    s("signup_enabled", "WRIT_SIGNUP_ENABLED", "false"),
    s("password_min_length", "WRIT_PASSWORD_MIN_LENGTH", "8"),
    s("password_dictionary", "WRIT_PASSWORD_DICTIONARY", "true"),
    s(
        "password_no_personal_info",
        "WRIT_PASSWORD_NO_PERSONAL_INFO",
        "false",
    ),
    s("audit_retention_days", "WRIT_AUDIT_RETENTION_DAYS", "30"),
    s("trusted_proxies", "WRIT_TRUSTED_PROXIES", "[]"),
    s(
        "trusted_proxy_header",
        "WRIT_TRUSTED_PROXY_HEADER",
        "\"x-forwarded-for\"",
    ),
    s(
        "max_access_token_bytes",
        "WRIT_MAX_ACCESS_TOKEN_BYTES",
        "8192",
    ),
    s(
        "authorization_extension",
        "WRIT_AUTHORIZATION_EXTENSION",
        "false",
    ),
    s("mfa_policy", "WRIT_MFA_POLICY", "\"never\""),
    s("mfa_roles", "WRIT_MFA_ROLES", "[]"),
    s("mfa_clients", "WRIT_MFA_CLIENTS", "[]"),
    s("mfa_amr_audiences", "WRIT_MFA_AMR_AUDIENCES", "[]"),
    s(
        "mfa_remember_browser_days",
        "WRIT_MFA_REMEMBER_BROWSER_DAYS",
        "0",
    ),
    s(
        "passkey_enrollment_offer",
        "WRIT_PASSKEY_ENROLLMENT_OFFER",
        "false",
    ),
    s("hook_timeout_ms", "WRIT_HOOK_TIMEOUT_MS", "100"),
    s("hook_workers", "WRIT_HOOK_WORKERS", "the CPU count"),
    s("hook_worker", "WRIT_HOOK_WORKER", "unset: this executable"),
    s("hook_allow_http", "WRIT_HOOK_ALLOW_HTTP", "false"),
    s("jwks_warmup_secs", "WRIT_JWKS_WARMUP_SECS", "120"),
    s("shutdown_delay_secs", "WRIT_SHUTDOWN_DELAY_SECS", "0"),
    s("live_streams_per_user", "WRIT_LIVE_STREAMS_PER_USER", "16"),
    s("live_streams_max", "WRIT_LIVE_STREAMS_MAX", "20000"),
    s(
        "metrics_listen",
        "WRIT_METRICS_LISTEN",
        "unset: on the main listener",
    ),
    s(
        "metrics_client_labels",
        "WRIT_METRICS_CLIENT_LABELS",
        "false",
    ),
    s("log_format", "WRIT_LOG_FORMAT", "\"text\""),
    s("audit_stream", "WRIT_AUDIT_STREAM", "unset"),
    // Paths, not secrets: the key file's content is never read by `writ config show`.
    s("tls_cert", "WRIT_TLS_CERT", "unset: plain HTTP"),
    s("tls_key", "WRIT_TLS_KEY", "unset: plain HTTP"),
    // Shown with the password in the URL replaced by `***`.
    s("smtp_url", "WRIT_SMTP_URL", "unset: no email is sent"),
    s("smtp_from", "WRIT_SMTP_FROM", "unset"),
    s(
        "email_templates",
        "WRIT_EMAIL_TEMPLATES",
        "unset: the bundled templates",
    ),
    s("signup_verify_email", "WRIT_SIGNUP_VERIFY_EMAIL", "false"),
    s(
        "require_verified_email",
        "WRIT_REQUIRE_VERIFIED_EMAIL",
        "[]",
    ),
];

/// What a redacted secret is shown as.
pub const REDACTED: &str = "***";

impl Config {
    /// The value of the setting `key` as TOML (secrets redacted); `None` when unset.
    fn shown(&self, key: &str) -> Option<toml::Value> {
        use toml::Value as V;
        let int = |n: u64| V::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        let text = |s: &str| V::String(s.to_owned());
        Some(match key {
            "issuer" => text(&self.issuer),
            "listen" => V::String(self.listen.to_string()),
            "database_url" => V::String(self.database_url_redacted()),
            "bootstrap_client_id" => text(self.bootstrap_client_id.as_deref()?),
            "bootstrap_client_secret" => self
                .bootstrap_client_secret
                .as_ref()
                .map(|_| text(REDACTED))?,
            "key_encryption_key" => self.key_encryption_key.as_ref().map(|_| text(REDACTED))?,
            "password_hash_concurrency" => int(self.password_hash_concurrency as u64),
            "signup_enabled" => V::Boolean(self.signup_enabled),
            "password_min_length" => int(self.password_policy.min_length as u64),
            "password_dictionary" => V::Boolean(self.password_policy.dictionary),
            "password_no_personal_info" => V::Boolean(self.password_policy.no_personal_info),
            "audit_retention_days" => int(u64::from(self.audit_retention_days)),
            "trusted_proxies" => V::Array(
                self.trusted_proxies
                    .ranges()
                    .into_iter()
                    .map(V::String)
                    .collect(),
            ),
            "trusted_proxy_header" => text(self.trusted_proxies.header().as_str()),
            "max_access_token_bytes" => int(self.max_access_token_bytes as u64),
            "authorization_extension" => V::Boolean(self.authorization_extension),
            "mfa_policy" => text(self.mfa_policy.as_str()),
            "mfa_roles" => V::Array(self.mfa_roles.iter().map(|r| text(r)).collect()),
            "mfa_clients" => V::Array(self.mfa_clients.iter().map(|r| text(r)).collect()),
            "mfa_amr_audiences" => {
                V::Array(self.mfa_amr_audiences.iter().map(|r| text(r)).collect())
            }
            "mfa_remember_browser_days" => int(u64::from(self.mfa_remember_browser_days)),
            "passkey_enrollment_offer" => V::Boolean(self.passkey_enrollment_offer),
            "hook_timeout_ms" => int(self.hook_timeout.as_millis() as u64),
            "hook_workers" => int(self.hook_workers as u64),
            "hook_worker" => V::String(self.hook_worker.as_ref()?.display().to_string()),
            "hook_allow_http" => V::Boolean(self.hook_allow_http),
            "jwks_warmup_secs" => int(self.jwks_warmup_secs),
            "shutdown_delay_secs" => int(self.shutdown_delay_secs),
            "live_streams_per_user" => int(self.live_streams_per_user as u64),
            "live_streams_max" => int(self.live_streams_max as u64),
            "metrics_listen" => V::String(self.metrics_listen?.to_string()),
            "metrics_client_labels" => V::Boolean(self.metrics_client_labels),
            "log_format" => text(match self.log_format {
                crate::config::LogFormat::Text => "text",
                crate::config::LogFormat::Json => "json",
            }),
            "audit_stream" => text(&match self.audit_stream.as_ref()? {
                crate::audit_stream::Target::Stdout => "stdout".to_owned(),
                crate::audit_stream::Target::File(p) => format!("file:{}", p.display()),
            }),
            "tls_cert" => V::String(self.tls.as_ref()?.cert.display().to_string()),
            "tls_key" => V::String(self.tls.as_ref()?.key.display().to_string()),
            "smtp_url" => V::String(self.smtp_url_redacted()?),
            "smtp_from" => V::String(self.smtp.as_ref()?.from.to_string()),
            "email_templates" => V::String(self.email_templates.as_ref()?.display().to_string()),
            "signup_verify_email" => V::Boolean(self.signup_verify_email),
            "require_verified_email" => V::Array(
                self.require_verified_email
                    .iter()
                    .map(|c| text(c))
                    .collect(),
            ),
            _ => return None,
        })
    }

    /// The effective configuration as a TOML file, every setting of [`SETTINGS`] in order,
    /// secrets (the bootstrap client's secret, the key-encryption key, a database password)
    /// replaced by [`REDACTED`] and unset ones as comments. Without its secrets, it loads back
    /// as the same configuration.
    pub fn to_toml_redacted(&self) -> String {
        let mut out = String::new();
        for s in SETTINGS {
            match self.shown(s.key) {
                Some(v) => out.push_str(&format!("{} = {v}\n", s.key)),
                None => out.push_str(&format!("# {} is unset ({})\n", s.key, s.env)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use serde::de::{Error as _, Visitor};

    use super::*;

    /// The keys the file accepts: the fields serde's derive passes for `FileConfig`, caught by
    /// a deserializer that only records them.
    fn file_keys() -> BTreeSet<&'static str> {
        struct Catch(std::cell::Cell<&'static [&'static str]>);
        impl<'de> serde::Deserializer<'de> for &Catch {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(Self::Error::custom("not a struct"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.set(fields);
                Err(Self::Error::custom("caught"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
                identifier ignored_any
            }
        }
        let catch = Catch(std::cell::Cell::new(&[]));
        let _ = <super::super::FileConfig as serde::Deserialize>::deserialize(&catch);
        catch.0.get().iter().copied().collect()
    }

    /// The variables the loader reads, recorded by its `env` function.
    fn env_read() -> BTreeSet<String> {
        let seen = Mutex::new(BTreeSet::new());
        Config::load(None, |k| {
            seen.lock().unwrap().insert(k.to_owned());
            None
        })
        .unwrap();
        seen.into_inner().unwrap()
    }

    #[test]
    fn the_table_is_what_the_loader_reads() {
        let keys: BTreeSet<&str> = SETTINGS.iter().map(|s| s.key).collect();
        assert_eq!(keys.len(), SETTINGS.len(), "a key is listed twice");
        assert_eq!(
            keys,
            file_keys(),
            "SETTINGS vs the file's keys (FileConfig)"
        );
        let envs: BTreeSet<String> = SETTINGS.iter().map(|s| s.env.to_owned()).collect();
        assert_eq!(
            envs,
            env_read(),
            "SETTINGS vs the variables Config::load reads"
        );
        for s in SETTINGS {
            assert_eq!(
                s.env,
                format!("WRIT_{}", s.key.to_ascii_uppercase()),
                "{}",
                s.key
            );
        }
    }

    /// Literal defaults are what an empty configuration shows; every set value is shown.
    #[test]
    fn documented_defaults_are_the_loaders() {
        let c = Config::load(None, |_| None).unwrap();
        for s in SETTINGS {
            match toml::from_str::<toml::Table>(&format!("v = {}", s.default)) {
                Ok(t) => assert_eq!(c.shown(s.key).as_ref(), t.get("v"), "{}", s.key),
                Err(_) => assert!(
                    s.default.starts_with("unset") || s.default.contains("CPU"),
                    "{}: default '{}' is neither a TOML value nor explained",
                    s.key,
                    s.default
                ),
            }
        }
    }

    #[test]
    fn show_redacts_secrets_and_loads_back() {
        let kek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        let vars = [
            (
                "WRIT_DATABASE_URL",
                "postgres://writ:pg-s3cret@db.internal/writ",
            ),
            ("WRIT_KEY_ENCRYPTION_KEY", kek),
            ("WRIT_BOOTSTRAP_CLIENT_ID", "ops"),
            (
                "WRIT_BOOTSTRAP_CLIENT_SECRET",
                "bootstrap-s3cret-0123456789",
            ),
            ("WRIT_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
            ("WRIT_TRUSTED_PROXY_HEADER", "forwarded"),
            ("WRIT_HOOK_WORKER", "/usr/lib/writ/writ"),
            ("WRIT_METRICS_LISTEN", "127.0.0.1:9100"),
            ("WRIT_AUDIT_STREAM", "file:/var/log/writ/audit.jsonl"),
            ("WRIT_TLS_CERT", "/etc/writ/tls/fullchain.pem"),
            ("WRIT_TLS_KEY", "/etc/writ/tls/key.pem"),
            (
                "WRIT_SMTP_URL",
                "smtp://mailer:smtp-s3cret@mail.example.com:587",
            ),
            ("WRIT_SMTP_FROM", "Writ <no-reply@example.com>"),
            (
                "WRIT_EMAIL_TEMPLATES",
                concat!(env!("CARGO_MANIFEST_DIR"), "/templates/email"),
            ),
            ("WRIT_SIGNUP_VERIFY_EMAIL", "true"),
            ("WRIT_REQUIRE_VERIFIED_EMAIL", "app-1, *"),
        ];
        let env = |k: &str| {
            vars.iter()
                .find(|(a, _)| *a == k)
                .map(|(_, v)| v.to_string())
        };
        let c = Config::load(None, env).unwrap();
        let shown = c.to_toml_redacted();
        for secret in ["pg-s3cret", kek, "bootstrap-s3cret", "smtp-s3cret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("database_url = \"postgres://writ:***@db.internal/writ\""));
        assert!(shown.contains("key_encryption_key = \"***\""), "{shown}");
        assert!(
            shown.contains("smtp_url = \"smtp://mailer:***@mail.example.com:587\""),
            "{shown}"
        );
        // The TLS files are shown as paths (their content is never read here).
        assert!(
            shown.contains("tls_key = \"/etc/writ/tls/key.pem\""),
            "{shown}"
        );
        // Every setting appears, in order.
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), SETTINGS.len());
        for (line, s) in lines.iter().zip(SETTINGS) {
            assert!(
                line.starts_with(&format!("{} = ", s.key)),
                "{line} for {}",
                s.key
            );
        }
        // Without its secrets (and what needs them) it loads back as the same configuration.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shown.toml");
        let needs_secret = ["database_url", "bootstrap_client_id"];
        let plain = Config::load(None, |k| {
            env(k).filter(|_| {
                !SETTINGS
                    .iter()
                    .any(|s| (s.secret || needs_secret.contains(&s.key)) && s.env == k)
            })
        })
        .unwrap();
        std::fs::write(&p, plain.to_toml_redacted()).unwrap();
        let again = Config::load(Some(&p), |_| None).unwrap();
        assert_eq!(again.to_toml_redacted(), plain.to_toml_redacted());
        assert!(
            plain
                .to_toml_redacted()
                .contains("# key_encryption_key is unset")
        );
    }

    /// `docs/configuration.md` lists exactly these settings, with these variables and defaults.
    #[test]
    fn the_documentation_lists_every_setting() {
        let doc = include_str!("../../../../docs/configuration.md");
        let cell = |c: &str| c.trim().trim_matches('`').to_owned();
        let rows: Vec<(String, String, String)> = doc
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
                assert!(cells.len() >= 4, "a row of four cells: {l}");
                (cell(cells[0]), cell(cells[1]), cell(cells[2]))
            })
            .collect();
        let table: Vec<(String, String, String)> = SETTINGS
            .iter()
            .map(|s| (s.key.to_owned(), s.env.to_owned(), s.default.to_owned()))
            .collect();
        assert_eq!(
            rows, table,
            "docs/configuration.md's table (key | variable | default | meaning) must list \
             SETTINGS, in order"
        );
    }
}
