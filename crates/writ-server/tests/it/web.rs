//! What a test client does on the wire, with no dependency on the server crate: PKCE
//! challenges, hidden form fields, cookies, JWT payloads, token-endpoint forms. Shared with the
//! `writ` binary's tests (included there by path, like `pg.rs`).

use serde_json::Value;

/// A password grant's form: `client` logs `user` in for `audience`.
pub fn password_form<'a>(
    client: &'a (String, String),
    user: &'a str,
    pw: &'a str,
    audience: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("grant_type", "password"),
        ("client_id", client.0.as_str()),
        ("client_secret", client.1.as_str()),
        ("username", user),
        ("password", pw),
        ("audience", audience),
    ]
}

/// The S256 PKCE challenge of `verifier`.
pub fn challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// The value of the hidden form field `name` in an HTML page, with entities decoded.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in page: {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// The `name=value` pair of the response's Set-Cookie named `name`.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// Sends the request; its response's JSON body.
pub async fn json_of(req: reqwest::RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// Sends the request; its response's body as text.
pub async fn text_of(req: reqwest::RequestBuilder) -> String {
    req.send().await.unwrap().text().await.unwrap()
}

/// Decodes a JWT's header and payload without verifying (for assertions).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let mut it = token.split('.');
    let mut dec = || {
        let part = it.next().expect("jwt part");
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .expect("b64"),
        )
        .expect("json")
    };
    let h = dec();
    let p = dec();
    (h, p)
}

/// The hosted login form's fields: its hidden `tx` and `csrf`, then the credentials.
pub fn login_form(html: &str, user: &str, pw: &str) -> [(&'static str, String); 4] {
    [
        ("tx", hidden(html, "tx")),
        ("csrf", hidden(html, "csrf")),
        ("username", user.to_owned()),
        ("password", pw.to_owned()),
    ]
}

/// A client that follows no redirect and keeps no cookie: tests pass cookies by hand.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `GET url` from a browser holding `cookie` (following no redirect).
pub async fn get_with_cookie(url: impl reqwest::IntoUrl, cookie: &str) -> reqwest::Response {
    http()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// A browser's form `POST` to `url` (following no redirect), with the `cookie` header and the
/// `Origin` header when given.
pub async fn post_form(
    url: impl reqwest::IntoUrl,
    cookie: Option<&str>,
    origin: Option<&str>,
    form: &(impl serde::Serialize + ?Sized),
) -> reqwest::Response {
    let mut req = http().post(url).form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

/// Reads Server-Sent Events frames of `resp` (`buf` holding what was read past the last frame)
/// until one `authz` event arrives, each chunk within `within`; returns its (id, data). The
/// event must carry an id (see [`next_frame`] for those of a group's record but the last).
pub async fn next_event(
    resp: &mut reqwest::Response,
    buf: &mut String,
    within: std::time::Duration,
) -> (i64, Value) {
    let (id, data) = next_frame(resp, buf, within).await;
    (id.expect("id"), data)
}

/// As [`next_event`], but the id may be missing.
pub async fn next_frame(
    resp: &mut reqwest::Response,
    buf: &mut String,
    within: std::time::Duration,
) -> (Option<i64>, Value) {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            let mut is_authz = false;
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).ok();
                } else if line.trim() == "event: authz" || line.trim() == "event:authz" {
                    is_authz = true;
                }
            }
            if is_authz {
                return (id, data.expect("data"));
            }
            continue;
        }
        let chunk = tokio::time::timeout(within, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no event within {within:?}"))
            .unwrap()
            .expect("stream open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

/// The `kid`s of a JWKS document, in its order.
pub fn jwks_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}
