//! The messages' templates: for each message a subject, a plain-text body and an HTML body,
//! rendered with `minijinja` (HTML auto-escaped, so an email address or a name cannot inject
//! markup). The defaults are bundled in the binary; a folder (`WRIT_EMAIL_TEMPLATES`) may hold
//! any of the files to replace them: `verify_email.subject.txt`, `verify_email.txt`,
//! `verify_email.html`, `reset_password.subject.txt`, `reset_password.txt`,
//! `reset_password.html`. Variables: `email`, `name` (may be empty), `link`, `lifetime`
//! (words, e.g. "1 hour") and `issuer`.

use std::path::Path;

use minijinja::{Environment, UndefinedBehavior, context};

use crate::{Result, ServiceError};

/// Which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Confirms the address (a link to the verification page).
    VerifyEmail,
    /// A link to choose a new password.
    ResetPassword,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::VerifyEmail, Kind::ResetPassword];

    /// The outbox's `kind` and the templates' file prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VerifyEmail => "verify_email",
            Kind::ResetPassword => "reset_password",
        }
    }
}

/// The bundled templates: (file name, source).
const BUNDLED: &[(&str, &str)] = &[
    (
        "verify_email.subject.txt",
        include_str!("../../templates/email/verify_email.subject.txt"),
    ),
    (
        "verify_email.txt",
        include_str!("../../templates/email/verify_email.txt"),
    ),
    (
        "verify_email.html",
        include_str!("../../templates/email/verify_email.html"),
    ),
    (
        "reset_password.subject.txt",
        include_str!("../../templates/email/reset_password.subject.txt"),
    ),
    (
        "reset_password.txt",
        include_str!("../../templates/email/reset_password.txt"),
    ),
    (
        "reset_password.html",
        include_str!("../../templates/email/reset_password.html"),
    ),
];

/// The file names a templates folder may hold.
pub fn file_names() -> impl Iterator<Item = &'static str> {
    BUNDLED.iter().map(|(n, _)| *n)
}

/// A message's variables.
#[derive(Debug, Clone)]
pub struct Context {
    pub email: String,
    pub name: Option<String>,
    pub link: String,
    pub lifetime: String,
    pub issuer: String,
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The bundled templates only.
    pub fn bundled() -> Self {
        Self::load(None).expect("the bundled email templates compile")
    }

    /// The bundled templates, each replaced by the file of the same name in `dir` if there is
    /// one; an error names a file that cannot be read, does not compile or does not render.
    pub fn load(dir: Option<&Path>) -> Result<Self, String> {
        let mut env = Environment::new();
        // A misspelt variable is an error at start, not an empty hole in a sent message.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        if let Some(d) = dir
            && !d.is_dir()
        {
            return Err(format!("{} is not a folder", d.display()));
        }
        for (name, bundled) in BUNDLED {
            let source = match dir.map(|d| d.join(name)).filter(|p| p.exists()) {
                Some(p) => std::fs::read_to_string(&p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?,
                None => (*bundled).to_owned(),
            };
            env.add_template_owned(*name, source)
                .map_err(|e| format!("email template {name}: {e}"))?;
        }
        let t = Templates { env };
        // Every template renders with sample values.
        let sample = Context {
            email: "someone@example.com".into(),
            name: Some("Someone".into()),
            link: "https://example.com/u/email-verification?ticket=sample".into(),
            lifetime: "1 hour".into(),
            issuer: "https://example.com/".into(),
        };
        for k in Kind::ALL {
            t.render(k, &sample)
                .map_err(|e| format!("email template for {}: {e}", k.as_str()))?;
        }
        Ok(t)
    }

    /// Renders message `kind` with `c`.
    pub fn render(&self, kind: Kind, c: &Context) -> Result<Rendered> {
        let ctx = context! {
            email => c.email.clone(),
            name => c.name.clone().unwrap_or_default(),
            link => c.link.clone(),
            lifetime => c.lifetime.clone(),
            issuer => c.issuer.clone(),
        };
        let one = |suffix: &str| -> Result<String> {
            let name = format!("{}{suffix}", kind.as_str());
            self.env
                .get_template(&name)
                .and_then(|t| t.render(ctx.clone()))
                .map_err(|e| ServiceError::Internal(format!("email template {name}: {e}")))
        };
        let subject = one(".subject.txt")?;
        // One line: a template's line breaks would end the header.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(Rendered {
            subject,
            text: one(".txt")?,
            html: one(".html")?,
        })
    }
}

/// `secs` in words: "1 hour", "5 days", "30 minutes".
pub fn lifetime_words(secs: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if secs >= 86_400 && secs % 86_400 == 0 {
        plural(secs / 86_400, "day")
    } else if secs >= 3600 && secs % 3600 == 0 {
        plural(secs / 3600, "hour")
    } else if secs >= 60 {
        plural(secs / 60, "minute")
    } else {
        plural(secs.max(1), "second")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            email: "a<b>@example.com".into(),
            name: Some("<script>alert(1)</script>".into()),
            link: "https://id.example/u/reset-password?ticket=abc&x=1".into(),
            lifetime: lifetime_words(3600),
            issuer: "https://id.example/".into(),
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let r = Templates::bundled()
            .render(Kind::ResetPassword, &ctx())
            .unwrap();
        assert_eq!(r.subject, "Reset your password");
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(r.html.contains("ticket=abc&amp;x=1"));
        assert!(
            r.text
                .contains("https://id.example/u/reset-password?ticket=abc&x=1")
        );
        assert!(r.text.contains("expires in 1 hour"));
    }

    #[test]
    fn a_folder_overrides_some_templates_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("verify_email.subject.txt"),
            "Welcome to {{ issuer }}",
        )
        .unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let r = t.render(Kind::VerifyEmail, &ctx()).unwrap();
        assert_eq!(r.subject, "Welcome to https://id.example/");
        assert!(r.text.contains("expires in 1 hour"), "the rest is bundled");
        std::fs::write(dir.path().join("reset_password.html"), "{{ nope }}").unwrap();
        let e = Templates::load(Some(dir.path())).err().unwrap();
        assert!(e.contains("reset_password"), "{e}");
        std::fs::write(dir.path().join("reset_password.html"), "{% if %}").unwrap();
        let e = Templates::load(Some(dir.path())).err().unwrap();
        assert!(e.contains("reset_password.html"), "{e}");
        assert!(Templates::load(Some(&dir.path().join("missing"))).is_err());
    }

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(lifetime_words(432_000), "5 days");
        assert_eq!(lifetime_words(3600), "1 hour");
        assert_eq!(lifetime_words(5400), "90 minutes");
        assert_eq!(lifetime_words(30), "30 seconds");
    }
}
