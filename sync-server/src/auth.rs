//! Access tokens: HS256 JWTs naming the documents a user may open, read-only or read-write,
//! and who the user is. Verifying, minting, and the identity stamped on presence.
//!
//! The algorithm is pinned: a token whose header says anything but `"alg":"HS256"` (`none`,
//! `RS256`, `ES256`, …) is refused before its signature is looked at. `exp` and `aud` are
//! required. Token text is never logged, and no error message repeats it.
//!
//! A [`Verifier`] may hold a second, rotatable key ([`ShareKey`]): tokens signed with it are
//! accepted like the others until the key is rotated, and then refused, and the connections
//! they opened are closed ([`Grant::ended`]). The desktop app signs its own window's token
//! with the stable secret and its sharing links with the rotatable one, so "Stop sharing"
//! revokes every link at once without touching its own window.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use collab_core::color::{color_for, light_color};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The audience tokens must name unless the server is told otherwise.
pub const DEFAULT_AUDIENCE: &str = "collab-textarea";
/// Shortest secret accepted: 256 bits, as RFC 7518 asks for HS256 keys.
pub const MIN_SECRET_LEN: usize = 32;
/// Longest token read; anything longer is refused unparsed.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Seconds of clock difference tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;
/// Longest display name kept from a token (characters).
const MAX_NAME_CHARS: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused (or a secret could not be used). Messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a token is required")]
    Missing,
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm {0:?} is not accepted (only HS256)")]
    Algorithm(String),
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audience does not match")]
    WrongAudience,
    #[error("token claims are invalid: {0}")]
    BadClaims(String),
    #[error("token does not grant document {0:?}")]
    NotGranted(String),
    #[error("this link no longer works: its key was revoked")]
    Revoked,
    #[error("token does not grant {0} access")]
    NotAllowed(Access),
    #[error("the auth secret must be at least {MIN_SECRET_LEN} bytes")]
    SecretTooShort,
}

impl AuthError {
    /// Whether the token itself is unusable (401), rather than valid but not for this (403).
    pub fn is_unauthorized(&self) -> bool {
        !matches!(self, AuthError::NotGranted(_) | AuthError::NotAllowed(_))
    }
}

/// The HMAC key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// A secret of at least [`MIN_SECRET_LEN`] bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, AuthError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(AuthError::SecretTooShort);
        }
        Ok(Secret(bytes.into()))
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What a token lets its holder do with the documents it names. Ordered: `Read < Write <
/// Admin`, and each level may do everything the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Receive the document and presence; may be present, may not edit.
    Read,
    /// Read and edit.
    Write,
    /// Edit, and manage documents through the HTTP API (delete).
    Admin,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Admin => "admin",
        })
    }
}

/// `aud` as JWT allows it: one string or a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(aud) => aud == wanted,
            Audience::Many(list) => list.iter().any(|aud| aud == wanted),
        }
    }
}

/// The token's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's stable id; client-id ownership binds to it.
    pub sub: String,
    /// Display name shown to others (default: `sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `#rgb` or `#rrggbb` (default: a colour derived from `sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Documents granted: an exact name, or a prefix ending in `*` (`team-a-*`; `*` is all).
    pub docs: Vec<String>,
    pub access: Access,
    pub aud: Audience,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// A guest (someone holding a sharing link): the name others see is the one the guest's
    /// client gives, marked as a guest's, instead of the token's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guest: bool,
}

/// Who a verified token holder is, as others see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub color: String,
    /// Holds a sharing link (`guest` claim): picks their own name, shown as a guest's.
    pub guest: bool,
}

/// What a guest's name is followed by in presence.
/// (A word of its own, so the widget's initials are the name's and the G of "guest".)
pub const GUEST_SUFFIX: &str = " · guest";

impl User {
    /// `state` (an awareness state, a JSON object) with `user.name`, `user.color` and
    /// `user.colorLight` replaced by this user's, whatever the client claimed. Other fields
    /// (the cursor, anything else in `user`) are kept.
    ///
    /// A guest keeps the name their client claims (trimmed, at most 64 characters, the
    /// token's name if empty) followed by [`GUEST_SUFFIX`], and `user.guest` is `true`; a
    /// guest's claimed colour is kept if it is a hex colour.
    pub fn stamp(&self, state: &str) -> String {
        let mut value: serde_json::Value =
            serde_json::from_str(state).unwrap_or_else(|_| serde_json::json!({}));
        if !value.is_object() {
            value = serde_json::json!({});
        }
        let user = &mut value["user"];
        if !user.is_object() {
            *user = serde_json::json!({});
        }
        if self.guest {
            let claimed: String = user["name"]
                .as_str()
                .unwrap_or("")
                .trim()
                .trim_end_matches(GUEST_SUFFIX)
                .trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_NAME_CHARS)
                .collect();
            let name = if claimed.is_empty() {
                self.name.as_str()
            } else {
                claimed.as_str()
            };
            let color = user["color"]
                .as_str()
                .filter(|c| is_hex_color(c))
                .map_or_else(|| self.color.clone(), str::to_owned);
            user["name"] = format!("{name}{GUEST_SUFFIX}").into();
            user["colorLight"] = light_color(&color).into();
            user["color"] = color.into();
            user["guest"] = true.into();
            return value.to_string();
        }
        user["name"] = self.name.clone().into();
        user["color"] = self.color.clone().into();
        user["colorLight"] = light_color(&self.color).into();
        value.to_string()
    }
}

/// A verified token: who, which documents, what access, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user: Arc<User>,
    pub docs: Vec<String>,
    pub access: Access,
    pub expires_at: u64,
    /// Signed with a [`ShareKey`]: ends when that key is rotated.
    pub revocation: Option<Revocation>,
}

impl Grant {
    /// Resolves when this grant stops being valid: [`AuthError::Expired`] once `exp` (plus
    /// the leeway) has passed, or [`AuthError::Revoked`] once the [`ShareKey`] that signed it
    /// is rotated. Never resolves for neither. Owns what it needs (`'static`).
    pub fn ended(&self) -> impl Future<Output = AuthError> + Send + 'static {
        let expires_at = self.expires_at;
        let revocation = self.revocation.clone();
        async move {
            let expiry = async move {
                let left = expires_at
                    .saturating_add(LEEWAY_SECS)
                    .saturating_sub(unix_now());
                tokio::time::sleep(Duration::from_secs(left)).await;
                AuthError::Expired
            };
            match revocation {
                None => expiry.await,
                Some(revocation) => tokio::select! {
                    why = expiry => why,
                    why = revocation.revoked() => why,
                },
            }
        }
    }

    /// `Ok(self)` if the token grants at least `access`.
    pub fn at_least(self, access: Access) -> Result<Grant, AuthError> {
        if self.access >= access {
            Ok(self)
        } else {
            Err(AuthError::NotAllowed(access))
        }
    }

    /// Whether the token names `doc`: exactly, or by a prefix entry ending in `*`.
    pub fn allows(&self, doc: &str) -> bool {
        self.docs.iter().any(|entry| match entry.strip_suffix('*') {
            Some(prefix) => doc.starts_with(prefix),
            None => entry == doc,
        })
    }

    /// `Ok(self)` if the token names `doc`.
    pub fn for_doc(self, doc: &str) -> Result<Grant, AuthError> {
        if self.allows(doc) {
            Ok(self)
        } else {
            Err(AuthError::NotGranted(doc.to_owned()))
        }
    }
}

/// A key that can be replaced while the server runs ("Reset links"): tokens signed with an
/// earlier key are refused from then on, and connections they opened are closed (see
/// [`Grant::ended`]). Cheap to clone; clones share the key.
#[derive(Clone)]
pub struct ShareKey(Arc<ShareKeyInner>);

struct ShareKeyInner {
    current: RwLock<Secret>,
    /// How many times the key was rotated; receivers wait for it to change.
    generation: tokio::sync::watch::Sender<u64>,
}

impl ShareKey {
    pub fn new(secret: Secret) -> ShareKey {
        ShareKey(Arc::new(ShareKeyInner {
            current: RwLock::new(secret),
            generation: tokio::sync::watch::Sender::new(0),
        }))
    }

    /// Replaces the key: every token signed with the old one is refused from now on, and
    /// every connection such a token opened is told to close.
    pub fn rotate(&self, secret: Secret) {
        let mut current = self.0.current.write().unwrap_or_else(|e| e.into_inner());
        *current = secret;
        self.0.generation.send_modify(|g| *g += 1);
    }

    /// The key now, with a revocation handle for what it verifies.
    fn current(&self) -> (Secret, Revocation) {
        let current = self.0.current.read().unwrap_or_else(|e| e.into_inner());
        let receiver = self.0.generation.subscribe();
        let generation = *receiver.borrow();
        (
            current.clone(),
            Revocation {
                generation,
                receiver,
            },
        )
    }
}

impl fmt::Debug for ShareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShareKey(<redacted>)")
    }
}

/// Which rotation of a [`ShareKey`] signed a grant; resolves when the key moves on.
#[derive(Clone)]
pub struct Revocation {
    generation: u64,
    receiver: tokio::sync::watch::Receiver<u64>,
}

impl Revocation {
    /// Resolves with [`AuthError::Revoked`] once the key has been rotated (at once if it
    /// already was).
    pub async fn revoked(mut self) -> AuthError {
        let generation = self.generation;
        // An error means the key was dropped: nothing can rotate it any more.
        if self.receiver.wait_for(|g| *g != generation).await.is_err() {
            std::future::pending::<()>().await;
        }
        AuthError::Revoked
    }
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Revocation(generation {})", self.generation)
    }
}

impl PartialEq for Revocation {
    fn eq(&self, other: &Revocation) -> bool {
        self.generation == other.generation && self.receiver.same_channel(&other.receiver)
    }
}

impl Eq for Revocation {}

/// Checks tokens against one secret (and optionally a rotatable [`ShareKey`]) and an audience.
#[derive(Debug, Clone)]
pub struct Verifier {
    secret: Secret,
    audience: String,
    share: Option<ShareKey>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

impl Verifier {
    pub fn new(secret: Secret, audience: impl Into<String>) -> Verifier {
        Verifier {
            secret,
            audience: audience.into(),
            share: None,
        }
    }

    /// Also accepts tokens signed with `share` (its current key), until it is rotated.
    pub fn with_share_key(mut self, share: Option<ShareKey>) -> Verifier {
        self.share = share;
        self
    }

    /// Verifies `token` at the current time.
    pub fn verify(&self, token: &str) -> Result<Grant, AuthError> {
        self.verify_at(token, unix_now())
    }

    /// Verifies `token` as of `now` (seconds since the Unix epoch): HS256 only, signature,
    /// `exp`, `nbf`, `aud`, then the claims this server needs.
    pub fn verify_at(&self, token: &str, now: u64) -> Result<Grant, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        let header: Header = decode_json(header)?;
        if header.alg != "HS256" {
            return Err(AuthError::Algorithm(truncated(&header.alg, 16)));
        }
        if header.crit.is_some() {
            return Err(AuthError::BadClaims("critical header extensions".into()));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| AuthError::Malformed)?;
        let signed = &token.as_bytes()[..header_and_payload_len(token)];
        let signed_with = |secret: &Secret| {
            let mut mac = secret.mac();
            mac.update(signed);
            mac.verify_slice(&signature).is_ok()
        };
        let revocation = if signed_with(&self.secret) {
            None
        } else {
            match &self.share {
                Some(share) => {
                    let (secret, revocation) = share.current();
                    if !signed_with(&secret) {
                        return Err(AuthError::BadSignature);
                    }
                    Some(revocation)
                }
                None => return Err(AuthError::BadSignature),
            }
        };
        let claims: Claims = decode_json(payload)?;
        if now > claims.exp.saturating_add(LEEWAY_SECS) {
            return Err(AuthError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| now.saturating_add(LEEWAY_SECS) < nbf)
        {
            return Err(AuthError::NotYetValid);
        }
        if !claims.aud.contains(&self.audience) {
            return Err(AuthError::WrongAudience);
        }
        let mut grant = grant_from(claims)?;
        grant.revocation = revocation;
        Ok(grant)
    }
}

fn grant_from(claims: Claims) -> Result<Grant, AuthError> {
    let id = claims.sub.trim();
    if id.is_empty() || id.len() > 256 {
        return Err(AuthError::BadClaims("`sub` must be 1–256 bytes".into()));
    }
    if claims.docs.is_empty() {
        return Err(AuthError::BadClaims("`docs` names no document".into()));
    }
    let name: String = claims
        .name
        .as_deref()
        .unwrap_or(id)
        .trim()
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    let name = if name.is_empty() { id.to_owned() } else { name };
    let color = claims
        .color
        .filter(|c| is_hex_color(c))
        .unwrap_or_else(|| color_for(id));
    Ok(Grant {
        user: Arc::new(User {
            id: id.to_owned(),
            name,
            color,
            guest: claims.guest,
        }),
        docs: claims.docs,
        access: claims.access,
        expires_at: claims.exp,
        revocation: None,
    })
}

/// Signs `claims` as an HS256 JWT.
pub fn mint(secret: &Secret, claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(claims).expect("claims always serialize to JSON"));
    let signing_input = format!("{header}.{payload}");
    let mut mac = secret.mac();
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|err| {
        if err.is_data() {
            AuthError::BadClaims(err.to_string())
        } else {
            AuthError::Malformed
        }
    })
}

fn truncated(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// `#rgb` or `#rrggbb`.
pub fn is_hex_color(color: &str) -> bool {
    let hex = color.strip_prefix('#').unwrap_or("");
    matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn secret() -> Secret {
        Secret::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    fn claims() -> Claims {
        Claims {
            sub: "u1".into(),
            name: Some("Ada".into()),
            color: Some("#ff0000".into()),
            docs: vec!["notes".into(), "team-a-*".into()],
            access: Access::Write,
            aud: Audience::One(DEFAULT_AUDIENCE.into()),
            exp: NOW + 60,
            iat: None,
            nbf: None,
            guest: false,
        }
    }

    fn verifier() -> Verifier {
        Verifier::new(secret(), DEFAULT_AUDIENCE)
    }

    #[test]
    fn a_minted_token_verifies_and_grants_what_it_names() {
        let grant = verifier()
            .verify_at(&mint(&secret(), &claims()), NOW)
            .unwrap();
        assert_eq!(grant.user.name, "Ada");
        assert_eq!(grant.access, Access::Write);
        assert!(grant.allows("notes"));
        assert!(grant.allows("team-a-plans"));
        assert!(!grant.allows("notes2"));
        assert!(!grant.allows("team-b"));
        assert_eq!(
            grant.for_doc("other").unwrap_err(),
            AuthError::NotGranted("other".into())
        );
    }

    #[test]
    fn expiry_audience_and_signature_are_checked() {
        let mut expired = claims();
        expired.exp = NOW - LEEWAY_SECS - 1;
        assert_eq!(
            verifier().verify_at(&mint(&secret(), &expired), NOW),
            Err(AuthError::Expired)
        );
        let mut foreign = claims();
        foreign.aud = Audience::Many(vec!["other".into()]);
        assert_eq!(
            verifier().verify_at(&mint(&secret(), &foreign), NOW),
            Err(AuthError::WrongAudience)
        );
        let other = Secret::new(vec![7u8; 32]).unwrap();
        assert_eq!(
            verifier().verify_at(&mint(&other, &claims()), NOW),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            Secret::new(b"short".to_vec()),
            Err(AuthError::SecretTooShort)
        );
    }

    #[test]
    fn only_hs256_is_accepted() {
        let token = mint(&secret(), &claims());
        let (_, rest) = token.split_once('.').unwrap();
        for alg in ["none", "RS256", "ES256", "HS512", "hs256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
            let forged = format!("{header}.{rest}");
            assert_eq!(
                verifier().verify_at(&forged, NOW),
                Err(AuthError::Algorithm(alg.into()))
            );
        }
        let payload = rest.split_once('.').unwrap().0;
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        assert!(verifier()
            .verify_at(&format!("{header}.{payload}."), NOW)
            .is_err());
    }

    #[test]
    fn claims_are_required_and_identity_is_cleaned() {
        let mut no_exp = serde_json::to_value(claims()).unwrap();
        no_exp.as_object_mut().unwrap().remove("exp");
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(no_exp.to_string());
        let input = format!("{header}.{payload}");
        let mut mac = secret().mac();
        mac.update(input.as_bytes());
        let token = format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert!(matches!(
            verifier().verify_at(&token, NOW),
            Err(AuthError::BadClaims(_))
        ));
        let mut odd = claims();
        odd.name = None;
        odd.color = Some("red;x".into());
        let grant = verifier().verify_at(&mint(&secret(), &odd), NOW).unwrap();
        assert_eq!(grant.user.name, "u1");
        assert!(is_hex_color(&grant.user.color));
        for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(verifier().verify_at(junk, NOW).is_err(), "{junk}");
        }
    }

    #[test]
    fn stamping_replaces_the_claimed_identity_and_keeps_the_cursor() {
        let user = User {
            id: "u1".into(),
            name: "Ada".into(),
            color: "#ff0000".into(),
            guest: false,
        };
        let stamped = user.stamp(r##"{"user":{"name":"Mallory","color":"#000"},"cursor":1}"##);
        let value: serde_json::Value = serde_json::from_str(&stamped).unwrap();
        assert_eq!(value["user"]["name"], "Ada");
        assert_eq!(value["user"]["color"], "#ff0000");
        assert_eq!(value["user"]["colorLight"], "#ff000033");
        assert_eq!(value["cursor"], 1);
        let value: serde_json::Value = serde_json::from_str(&user.stamp("{}")).unwrap();
        assert_eq!(value["user"]["name"], "Ada");
    }

    #[test]
    fn a_guest_names_themselves_and_is_marked_as_a_guest() {
        let guest = User {
            id: "guest-read".into(),
            name: "Guest".into(),
            color: "#0090ff".into(),
            guest: true,
        };
        let stamped = guest.stamp(r##"{"user":{"name":"  Sam · guest ","color":"#123456"}}"##);
        let value: serde_json::Value = serde_json::from_str(&stamped).unwrap();
        assert_eq!(value["user"]["name"], "Sam · guest");
        assert_eq!(value["user"]["color"], "#123456");
        assert_eq!(value["user"]["guest"], true);
        let value: serde_json::Value =
            serde_json::from_str(&guest.stamp(r#"{"user":{"color":"red;x"}}"#)).unwrap();
        assert_eq!(value["user"]["name"], "Guest · guest");
        assert_eq!(value["user"]["color"], "#0090ff");
    }

    #[test]
    fn access_levels_are_ordered_and_checked() {
        assert!(Access::Read < Access::Write && Access::Write < Access::Admin);
        let mut admin = claims();
        admin.access = Access::Admin;
        let grant = verifier().verify_at(&mint(&secret(), &admin), NOW).unwrap();
        assert!(grant.clone().at_least(Access::Write).is_ok());
        let write = verifier()
            .verify_at(&mint(&secret(), &claims()), NOW)
            .unwrap();
        let refused = write.at_least(Access::Admin).unwrap_err();
        assert_eq!(refused, AuthError::NotAllowed(Access::Admin));
        assert!(!refused.is_unauthorized());
        assert_eq!(refused.to_string(), "token does not grant admin access");
    }

    #[tokio::test]
    async fn a_share_key_verifies_until_rotated_and_its_grants_end() {
        let share = ShareKey::new(Secret::new(vec![9u8; 32]).unwrap());
        let verifier = verifier().with_share_key(Some(share.clone()));
        let link = mint(&Secret::new(vec![9u8; 32]).unwrap(), &claims());
        let grant = verifier.verify(&link).unwrap();
        assert!(grant.revocation.is_some());
        let owner = verifier.verify(&mint(&secret(), &claims())).unwrap();
        assert!(owner.revocation.is_none());
        let ended = tokio::spawn(grant.ended());
        share.rotate(Secret::new(vec![8u8; 32]).unwrap());
        assert_eq!(ended.await.unwrap(), AuthError::Revoked);
        assert_eq!(verifier.verify(&link), Err(AuthError::BadSignature));
        let new_link = mint(&Secret::new(vec![8u8; 32]).unwrap(), &claims());
        assert!(verifier.verify(&new_link).is_ok());
    }

    #[test]
    fn errors_never_repeat_the_token() {
        let token = mint(&secret(), &claims());
        let other = Verifier::new(Secret::new(vec![1u8; 32]).unwrap(), "x");
        let err = other.verify_at(&token, NOW).unwrap_err();
        assert!(!err.to_string().contains(&token[..20]));
        assert_eq!(format!("{:?}", secret()), "Secret(<redacted>)");
    }
}
