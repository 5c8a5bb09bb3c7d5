//! Access tokens: JWTs naming the documents a user may open, read-only or read-write, and who
//! the user is. Verifying, minting, and the identity stamped on presence. Signatures are
//! checked by the `jsonwebtoken` crate.
//!
//! Tokens are HS256, signed with the server's [`Secret`], or, with [`PublicKeys`] (one PEM
//! key, or a JWK set as identity providers publish), RS256/ES256/EdDSA and the other
//! asymmetric algorithms the key allows. The header's `alg` picks the key: `HS256` only the
//! secret, an asymmetric algorithm only a public key that allows exactly it; anything else
//! (`none`, `HS512`, an algorithm with no key here, …) is refused before the signature is
//! looked at, so a public key is never used as an HMAC secret. In a JWK set the token's
//! `kid` picks the key. `exp` and `aud` are required. Token text is never logged, and no
//! error message repeats it.
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
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Validation};
use serde::{Deserialize, Serialize};

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

/// Why a token was refused (or a secret or public key could not be used). Messages never
/// contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a token is required")]
    Missing,
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("token names no key this server knows (`kid`)")]
    UnknownKey,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audience does not match")]
    WrongAudience,
    #[error("token issuer does not match")]
    WrongIssuer,
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
    #[error("the public key cannot be used: {0}")]
    BadKey(String),
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

    fn decoding_key(&self) -> DecodingKey {
        DecodingKey::from_secret(&self.0).expect("a secret is never empty")
    }

    fn encoding_key(&self) -> EncodingKey {
        EncodingKey::from_secret(&self.0).expect("a secret is never empty")
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

/// Public keys that verify asymmetric tokens: one PEM key, or a JWK set (`{"keys": [...]}`) as
/// identity providers publish it, whose keys tokens pick by their header's `kid`. Each key
/// allows only the algorithms that fit it. Cheap to clone; `Debug` shows no key material.
#[derive(Clone)]
pub struct PublicKeys(Arc<PublicKeysInner>);

#[derive(Clone)]
struct PublicKeysInner {
    /// From a JWK set: a token's `kid` picks the key (it may be left out only when the set
    /// holds one key). From a PEM file: the one key, whatever `kid` says.
    by_kid: bool,
    keys: Vec<PublicKey>,
    /// The `iss` tokens these keys verify must carry, if set.
    issuer: Option<String>,
}

#[derive(Clone)]
struct PublicKey {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

impl PublicKeys {
    /// One public key in PEM (`BEGIN PUBLIC KEY`, or `BEGIN RSA PUBLIC KEY`, or an X.509
    /// `BEGIN CERTIFICATE`). Tokens must name `algorithm`, which must fit the key; `None`
    /// takes it from the key: RSA → RS256, EC P-256 → ES256, EC P-384 → ES384, Ed25519 →
    /// EdDSA.
    pub fn from_pem(pem: &[u8], algorithm: Option<&str>) -> Result<PublicKeys, AuthError> {
        if String::from_utf8_lossy(pem).contains("PRIVATE KEY") {
            return Err(AuthError::BadKey(
                "this is a private key; give the public key".into(),
            ));
        }
        let (key, candidates): (DecodingKey, &[Algorithm]) =
            if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
                (key, &[Algorithm::RS256])
            } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                (key, &[Algorithm::ES256, Algorithm::ES384])
            } else if let Ok(key) = DecodingKey::from_ed_pem(pem) {
                (key, &[Algorithm::EdDSA])
            } else {
                return Err(AuthError::BadKey(
                    "not an RSA, EC (P-256, P-384) or Ed25519 public key in PEM".into(),
                ));
            };
        let algorithm = match algorithm {
            Some(name) => {
                let algorithm = asymmetric(name).ok_or_else(|| {
                    AuthError::BadKey(format!("{name:?} is not an asymmetric JWT algorithm"))
                })?;
                if !fits(&key, algorithm) {
                    return Err(AuthError::BadKey(format!(
                        "the key does not fit {name} (it is a {:?} key)",
                        key.family()
                    )));
                }
                algorithm
            }
            None => *candidates
                .iter()
                .find(|&&alg| fits(&key, alg))
                .ok_or_else(|| AuthError::BadKey("the key cannot be read".into()))?,
        };
        Ok(PublicKeys(Arc::new(PublicKeysInner {
            by_kid: false,
            keys: vec![PublicKey {
                kid: None,
                algorithms: vec![algorithm],
                key,
            }],
            issuer: None,
        })))
    }

    /// A JWK set. Keys for encryption (`"use":"enc"`), symmetric keys and keys of unknown
    /// types or curves are skipped; at least one must remain. A key with `alg` allows that
    /// algorithm only; without it, an RSA key allows RS256/384/512 and PS256/384/512, an EC
    /// key the algorithm of its curve (P-256: ES256, P-384: ES384), an Ed25519 key EdDSA.
    pub fn from_jwks(json: &[u8]) -> Result<PublicKeys, AuthError> {
        #[derive(Deserialize)]
        struct Set {
            keys: Vec<serde_json::Value>,
        }
        let set: Set = serde_json::from_slice(json)
            .map_err(|err| AuthError::BadKey(format!("not a JWK set: {err}")))?;
        let keys: Vec<PublicKey> = set.keys.into_iter().filter_map(jwk_key).collect();
        if keys.is_empty() {
            return Err(AuthError::BadKey(
                "the JWK set holds no usable signing key".into(),
            ));
        }
        Ok(PublicKeys(Arc::new(PublicKeysInner {
            by_kid: true,
            keys,
            issuer: None,
        })))
    }

    /// Tokens these keys verify must also carry `iss` = `issuer` (an identity provider's
    /// issuer URL), if given. HS256 tokens are not affected.
    pub fn with_issuer(self, issuer: Option<String>) -> PublicKeys {
        let mut inner = Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone());
        inner.issuer = issuer;
        PublicKeys(Arc::new(inner))
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.0.keys.len()
    }

    /// Never true: a set without a usable key is refused when it is read.
    pub fn is_empty(&self) -> bool {
        self.0.keys.is_empty()
    }

    /// The key a token with `kid` signed with `algorithm` must verify against.
    fn find(&self, algorithm: Algorithm, kid: Option<&str>) -> Result<&DecodingKey, AuthError> {
        let keys = &self.0.keys;
        let key = if !self.0.by_kid {
            keys.first()
        } else {
            match kid {
                Some(kid) => keys.iter().find(|key| key.kid.as_deref() == Some(kid)),
                None if keys.len() == 1 => keys.first(),
                None => None,
            }
        }
        .ok_or(AuthError::UnknownKey)?;
        if !key.algorithms.contains(&algorithm) {
            return Err(AuthError::Algorithm(format!("{algorithm:?}")));
        }
        Ok(&key.key)
    }
}

impl fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKeys({} keys)", self.len())
    }
}

/// `name` if it is an asymmetric JWT algorithm (RS*, PS*, ES256, ES384, EdDSA).
fn asymmetric(name: &str) -> Option<Algorithm> {
    name.parse::<Algorithm>()
        .ok()
        .filter(|alg| alg.family() != AlgorithmFamily::Hmac)
}

/// Whether `key` can verify `algorithm`'s signatures (its type and curve fit).
fn fits(key: &DecodingKey, algorithm: Algorithm) -> bool {
    key.family() == algorithm.family()
        && jsonwebtoken::crypto::verify("", b"", key, algorithm).is_ok()
}

/// One usable signing key of a JWK set, or `None` to skip it.
fn jwk_key(value: serde_json::Value) -> Option<PublicKey> {
    if value.get("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let named = match value.get("alg") {
        None => None,
        Some(alg) => Some(asymmetric(alg.as_str()?)?),
    };
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    let algorithms = match (&jwk.algorithm, named) {
        (AlgorithmParameters::OctetKey(_) | AlgorithmParameters::Other(_), _) => return None,
        (_, Some(alg)) => vec![alg],
        (AlgorithmParameters::RSA(_), None) => AlgorithmFamily::Rsa.algorithms().to_vec(),
        (AlgorithmParameters::EllipticCurve(ec), None) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        (AlgorithmParameters::OctetKeyPair(okp), None) => match okp.curve {
            EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
            _ => return None,
        },
        _ => return None,
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    if !algorithms.iter().all(|&alg| fits(&key, alg)) {
        return None;
    }
    Some(PublicKey {
        kid: jwk.common.key_id,
        algorithms,
        key,
    })
}

/// Checks tokens against a secret (and optionally a rotatable [`ShareKey`]) and/or
/// [`PublicKeys`], and an audience.
#[derive(Debug, Clone)]
pub struct Verifier {
    secret: Option<Secret>,
    audience: String,
    share: Option<ShareKey>,
    public: Option<PublicKeys>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

impl Verifier {
    /// Accepts HS256 tokens signed with `secret`.
    pub fn new(secret: Secret, audience: impl Into<String>) -> Verifier {
        Verifier {
            secret: Some(secret),
            audience: audience.into(),
            share: None,
            public: None,
        }
    }

    /// Accepts HS256 tokens signed with `secret` and asymmetric tokens `public` verifies;
    /// `None` if there is neither (open mode).
    pub fn with_keys(
        secret: Option<Secret>,
        public: Option<PublicKeys>,
        audience: impl Into<String>,
    ) -> Option<Verifier> {
        if secret.is_none() && public.is_none() {
            return None;
        }
        Some(Verifier {
            secret,
            audience: audience.into(),
            share: None,
            public,
        })
    }

    /// Also accepts tokens signed with `share` (its current key), until it is rotated. Needs
    /// the secret: a share key alone verifies nothing.
    pub fn with_share_key(mut self, share: Option<ShareKey>) -> Verifier {
        self.share = share.filter(|_| self.secret.is_some());
        self
    }

    /// Verifies `token` at the current time.
    pub fn verify(&self, token: &str) -> Result<Grant, AuthError> {
        self.verify_at(token, unix_now())
    }

    /// Verifies `token` as of `now` (seconds since the Unix epoch): the algorithm and key,
    /// the signature, `exp`, `nbf`, `aud`, then the claims this server needs.
    pub fn verify_at(&self, token: &str, now: u64) -> Result<Grant, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(_payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        let header: Header = decode_json(header)?;
        let algorithm = self.accepted(&header.alg)?;
        if header.crit.is_some() {
            return Err(AuthError::BadClaims("critical header extensions".into()));
        }
        let (claims, revocation) = match (algorithm, &self.secret, &self.public) {
            (Algorithm::HS256, Some(secret), _) => self.verify_hmac(token, secret)?,
            (_, _, Some(public)) => {
                let key = public.find(algorithm, header.kid.as_deref())?;
                let issuer = public.0.issuer.as_deref();
                (decode_claims(token, key, algorithm, issuer)?, None)
            }
            _ => return Err(AuthError::Algorithm(truncated(&header.alg, 16))),
        };
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

    /// The algorithm `alg` names if some key here may verify it: HS256 with the secret, an
    /// asymmetric one with public keys.
    fn accepted(&self, alg: &str) -> Result<Algorithm, AuthError> {
        let algorithm = alg.parse::<Algorithm>().ok().filter(|&algorithm| {
            if algorithm.family() == AlgorithmFamily::Hmac {
                algorithm == Algorithm::HS256 && self.secret.is_some()
            } else {
                self.public.is_some()
            }
        });
        algorithm.ok_or_else(|| AuthError::Algorithm(truncated(alg, 16)))
    }

    /// The claims of an HS256 token signed with the secret or, failing that, the share key.
    fn verify_hmac(
        &self,
        token: &str,
        secret: &Secret,
    ) -> Result<(Claims, Option<Revocation>), AuthError> {
        match decode_claims(token, &secret.decoding_key(), Algorithm::HS256, None) {
            Err(AuthError::BadSignature) => {}
            other => return other.map(|claims| (claims, None)),
        }
        let Some(share) = &self.share else {
            return Err(AuthError::BadSignature);
        };
        let (secret, revocation) = share.current();
        let claims = decode_claims(token, &secret.decoding_key(), Algorithm::HS256, None)?;
        Ok((claims, Some(revocation)))
    }
}

/// `token`'s claims if it is signed with `key` by `algorithm` (and names `issuer`, if given).
/// Times and the audience are checked by the caller, against its own clock.
fn decode_claims(
    token: &str,
    key: &DecodingKey,
    algorithm: Algorithm,
    issuer: Option<&str>,
) -> Result<Claims, AuthError> {
    use jsonwebtoken::errors::ErrorKind;
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    if let Some(issuer) = issuer {
        validation.set_issuer(&[issuer]);
        validation.required_spec_claims.insert("iss".to_owned());
    }
    match jsonwebtoken::decode::<Claims>(token, key, &validation) {
        Ok(data) => Ok(data.claims),
        Err(err) => Err(match err.kind() {
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
            ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => AuthError::WrongIssuer,
            ErrorKind::InvalidAlgorithm => AuthError::Algorithm(format!("{algorithm:?}")),
            ErrorKind::Json(err) if err.is_data() => AuthError::BadClaims(err.to_string()),
            ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
                AuthError::BadClaims(format!("`{claim}`"))
            }
            _ => AuthError::Malformed,
        }),
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
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &secret.encoding_key(),
    )
    .expect("claims always serialize, and HMAC signing cannot fail")
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &no_exp,
            &secret().encoding_key(),
        )
        .unwrap();
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

    const RSA: &[u8] = include_bytes!("../tests/data/keys/rsa.pem");
    const RSA_PUB: &[u8] = include_bytes!("../tests/data/keys/rsa.pub.pem");
    const EC: &[u8] = include_bytes!("../tests/data/keys/ec.pem");
    const EC_PUB: &[u8] = include_bytes!("../tests/data/keys/ec.pub.pem");
    const EC384: &[u8] = include_bytes!("../tests/data/keys/ec384.pem");
    const EC384_PUB: &[u8] = include_bytes!("../tests/data/keys/ec384.pub.pem");
    const ED: &[u8] = include_bytes!("../tests/data/keys/ed25519.pem");
    const ED_PUB: &[u8] = include_bytes!("../tests/data/keys/ed25519.pub.pem");

    fn private(pem: &[u8], alg: Algorithm) -> EncodingKey {
        match alg.family() {
            AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(pem),
            AlgorithmFamily::Ec => EncodingKey::from_ec_pem(pem),
            AlgorithmFamily::Ed => EncodingKey::from_ed_pem(pem),
            AlgorithmFamily::Hmac => EncodingKey::from_secret(pem),
        }
        .unwrap()
    }

    fn signed(pem: &[u8], alg: Algorithm, kid: Option<&str>) -> String {
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims(), &private(pem, alg)).unwrap()
    }

    fn public_verifier(keys: PublicKeys) -> Verifier {
        Verifier::with_keys(None, Some(keys), DEFAULT_AUDIENCE).unwrap()
    }

    #[test]
    fn a_pem_key_verifies_the_algorithm_of_its_type_and_nothing_else() {
        for (private_pem, public_pem, alg) in [
            (RSA, RSA_PUB, Algorithm::RS256),
            (EC, EC_PUB, Algorithm::ES256),
            (EC384, EC384_PUB, Algorithm::ES384),
            (ED, ED_PUB, Algorithm::EdDSA),
        ] {
            let verifier = public_verifier(PublicKeys::from_pem(public_pem, None).unwrap());
            let grant = verifier
                .verify_at(&signed(private_pem, alg, Some("any")), NOW)
                .unwrap();
            assert_eq!(grant.user.name, "Ada", "{alg:?}");
            // An HS256 token, even one "signed" with the public key's bytes, is refused.
            let confused = mint(&Secret::new(public_pem.to_vec()).unwrap(), &claims());
            assert_eq!(
                verifier.verify_at(&confused, NOW),
                Err(AuthError::Algorithm("HS256".into()))
            );
        }
        // An X.509 certificate holding the key works like the key.
        for (private_pem, cert, alg) in [
            (
                RSA,
                include_bytes!("../tests/data/keys/rsa.cert.pem").as_slice(),
                Algorithm::RS256,
            ),
            (
                EC,
                include_bytes!("../tests/data/keys/ec.cert.pem").as_slice(),
                Algorithm::ES256,
            ),
        ] {
            let verifier = public_verifier(PublicKeys::from_pem(cert, None).unwrap());
            assert!(verifier
                .verify_at(&signed(private_pem, alg, None), NOW)
                .is_ok());
        }
        let rsa = public_verifier(PublicKeys::from_pem(RSA_PUB, None).unwrap());
        assert_eq!(
            rsa.verify_at(&signed(RSA, Algorithm::RS512, None), NOW),
            Err(AuthError::Algorithm("RS512".into()))
        );
        assert_eq!(
            rsa.verify_at(&signed(EC, Algorithm::ES256, None), NOW),
            Err(AuthError::Algorithm("ES256".into()))
        );
        let rs512 = public_verifier(PublicKeys::from_pem(RSA_PUB, Some("RS512")).unwrap());
        assert!(rs512
            .verify_at(&signed(RSA, Algorithm::RS512, None), NOW)
            .is_ok());
        let ec = public_verifier(PublicKeys::from_pem(EC_PUB, None).unwrap());
        let other = include_bytes!("../tests/data/keys/ec-other.pem");
        assert_eq!(
            ec.verify_at(&signed(other, Algorithm::ES256, None), NOW),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn unusable_public_keys_are_refused_when_read() {
        for (pem, alg) in [
            (RSA_PUB, Some("ES256")),
            (EC_PUB, Some("ES384")),
            (EC_PUB, Some("HS256")),
            (ED_PUB, Some("none")),
            (RSA, None),
            (b"not a key".as_slice(), None),
        ] {
            assert!(
                matches!(PublicKeys::from_pem(pem, alg), Err(AuthError::BadKey(_))),
                "{alg:?}"
            );
        }
        for json in [
            "{}",
            r#"{"keys":[]}"#,
            r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}"#,
        ] {
            assert!(matches!(
                PublicKeys::from_jwks(json.as_bytes()),
                Err(AuthError::BadKey(_))
            ));
        }
    }

    #[test]
    fn a_jwk_set_picks_the_key_by_kid_and_checks_its_algorithm() {
        let jwk = |pem: &[u8], alg: Algorithm, kid: &str, with_alg: bool| {
            let mut value =
                serde_json::to_value(Jwk::from_encoding_key(&private(pem, alg), alg).unwrap())
                    .unwrap();
            value["kid"] = kid.into();
            if !with_alg {
                value.as_object_mut().unwrap().remove("alg");
            }
            value
        };
        let mut encryption = jwk(RSA, Algorithm::RS256, "enc", false);
        encryption["use"] = "enc".into();
        let set = serde_json::json!({"keys": [
            jwk(RSA, Algorithm::RS256, "r1", true),
            jwk(EC, Algorithm::ES256, "e1", false),
            jwk(ED, Algorithm::EdDSA, "d1", false),
            encryption,
            {"kty": "unknown", "kid": "x"},
        ]});
        let keys = PublicKeys::from_jwks(set.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 3);
        let verifier = Verifier::with_keys(Some(secret()), Some(keys), DEFAULT_AUDIENCE).unwrap();
        for (pem, alg, kid) in [
            (RSA, Algorithm::RS256, "r1"),
            (EC, Algorithm::ES256, "e1"),
            (ED, Algorithm::EdDSA, "d1"),
        ] {
            assert!(verifier
                .verify_at(&signed(pem, alg, Some(kid)), NOW)
                .is_ok());
        }
        assert!(verifier.verify_at(&mint(&secret(), &claims()), NOW).is_ok());
        assert_eq!(
            verifier.verify_at(&signed(RSA, Algorithm::RS256, Some("nope")), NOW),
            Err(AuthError::UnknownKey)
        );
        assert_eq!(
            verifier.verify_at(&signed(RSA, Algorithm::RS256, None), NOW),
            Err(AuthError::UnknownKey)
        );
        assert_eq!(
            verifier.verify_at(&signed(RSA, Algorithm::RS256, Some("enc")), NOW),
            Err(AuthError::UnknownKey)
        );
        // `alg` pins r1 to RS256; e1 allows only its curve's algorithm.
        assert_eq!(
            verifier.verify_at(&signed(RSA, Algorithm::PS256, Some("r1")), NOW),
            Err(AuthError::Algorithm("PS256".into()))
        );
        assert_eq!(
            verifier.verify_at(&signed(EC384, Algorithm::ES384, Some("e1")), NOW),
            Err(AuthError::Algorithm("ES384".into()))
        );
        assert_eq!(
            verifier.verify_at(&signed(EC, Algorithm::ES256, Some("d1")), NOW),
            Err(AuthError::Algorithm("ES256".into()))
        );
        // With an issuer, these tokens must carry it; HS256 ones need none.
        let keys = PublicKeys::from_pem(ED_PUB, None)
            .unwrap()
            .with_issuer(Some("https://idp.example/".into()));
        let verifier = Verifier::with_keys(Some(secret()), Some(keys), DEFAULT_AUDIENCE).unwrap();
        let with_iss = |iss: Option<&str>| {
            let mut value = serde_json::to_value(claims()).unwrap();
            if let Some(iss) = iss {
                value["iss"] = iss.into();
            }
            let header = jsonwebtoken::Header::new(Algorithm::EdDSA);
            jsonwebtoken::encode(&header, &value, &private(ED, Algorithm::EdDSA)).unwrap()
        };
        assert!(verifier
            .verify_at(&with_iss(Some("https://idp.example/")), NOW)
            .is_ok());
        for iss in [None, Some("https://idp.example"), Some("other")] {
            assert_eq!(
                verifier.verify_at(&with_iss(iss), NOW),
                Err(AuthError::WrongIssuer),
                "{iss:?}"
            );
        }
        assert!(verifier.verify_at(&mint(&secret(), &claims()), NOW).is_ok());
        // A set of one key needs no `kid`.
        let one = serde_json::json!({"keys": [jwk(ED, Algorithm::EdDSA, "d1", true)]});
        let one = public_verifier(PublicKeys::from_jwks(one.to_string().as_bytes()).unwrap());
        assert!(one
            .verify_at(&signed(ED, Algorithm::EdDSA, None), NOW)
            .is_ok());
    }
}
