//! The app's signing keys and the tokens it mints with them.
//!
//! Two HS256 keys live in `keys.json` in the data directory (created on first start, readable
//! by the user only): the **owner** key, which never changes and signs the window's own token
//! (admin access to every document), and the **share** key, which signs sharing links and is
//! replaced by "Reset links" and by Stop sharing. The server accepts both; replacing the share
//! key (`ShareKey::rotate`) refuses every link signed before and closes the connections they
//! opened, while the window, holding an owner token, carries on.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sync_server::auth::{self, Access, Audience, Claims, Secret};

/// Key length in bytes (256 bits, as HS256 wants).
const KEY_LEN: usize = 32;
/// How long the window's own token lasts; a new one is minted at every start and whenever
/// the page asks (name or colour changed).
const OWNER_TOKEN_SECS: u64 = 30 * 24 * 3600;

#[derive(Serialize, Deserialize)]
struct KeysFile {
    owner: String,
    share: String,
}

/// The two keys, as loaded.
pub struct Keys {
    path: PathBuf,
    pub owner: Secret,
    pub share: Secret,
    share_hex: String,
    owner_hex: String,
}

impl Keys {
    /// Reads `keys.json` in `dir`, creating it with fresh random keys if it is missing. A
    /// file that exists but cannot be read or parsed is an error (a new key would silently
    /// break every link).
    pub fn load_or_create(dir: &Path) -> Result<Keys, String> {
        let path = dir.join("keys.json");
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: KeysFile = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{} is damaged: {e}", path.display()))?;
                Ok(Keys {
                    owner: secret_from_hex(&file.owner, &path)?,
                    share: secret_from_hex(&file.share, &path)?,
                    owner_hex: file.owner,
                    share_hex: file.share,
                    path,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let owner_hex = random_hex()?;
                let share_hex = random_hex()?;
                let keys = Keys {
                    owner: secret_from_hex(&owner_hex, &path)?,
                    share: secret_from_hex(&share_hex, &path)?,
                    owner_hex,
                    share_hex,
                    path,
                };
                keys.save()?;
                tracing::info!(path = %keys.path.display(), "created signing keys");
                Ok(keys)
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// A new share key, saved before it is returned (so a restart keeps it).
    pub fn new_share_key(&mut self) -> Result<Secret, String> {
        let hex = random_hex()?;
        let secret = secret_from_hex(&hex, &self.path)?;
        let old = std::mem::replace(&mut self.share_hex, hex);
        if let Err(e) = self.save() {
            self.share_hex = old;
            return Err(e);
        }
        self.share = secret.clone();
        Ok(secret)
    }

    /// Writes the file atomically, readable and writable by the user only.
    fn save(&self) -> Result<(), String> {
        let file = KeysFile {
            owner: self.owner_hex.clone(),
            share: self.share_hex.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
        let tmp = self.path.with_extension("json.tmp");
        write_private(&tmp, &bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| format!("{}: {e}", self.path.display()))
    }

    /// The window's token: every document, admin access (it deletes through the API), the
    /// user's name and colour as others see them.
    pub fn owner_token(&self, name: &str, color: &str) -> String {
        let now = auth::unix_now();
        auth::mint(
            &self.owner,
            &Claims {
                sub: "owner".into(),
                name: Some(name.to_owned()),
                color: auth::is_hex_color(color).then(|| color.to_owned()),
                docs: vec!["*".into()],
                access: Access::Admin,
                aud: Audience::One(auth::DEFAULT_AUDIENCE.into()),
                exp: now + OWNER_TOKEN_SECS,
                iat: Some(now),
                nbf: None,
                guest: false,
            },
        )
    }

    /// A sharing link's token: one document, `access` (read or write), valid for
    /// `ttl_secs`; its holders are guests who pick their own names. Returns the token and
    /// when it expires (Unix seconds).
    pub fn link_token(&self, doc: &str, access: Access, ttl_secs: u64) -> (String, u64) {
        let now = auth::unix_now();
        let exp = now + ttl_secs;
        let token = auth::mint(
            &self.share,
            &Claims {
                sub: format!("guest-{access}"),
                name: Some("Guest".into()),
                color: None,
                docs: vec![doc.to_owned()],
                access,
                aud: Audience::One(auth::DEFAULT_AUDIENCE.into()),
                exp,
                iat: Some(now),
                nbf: None,
                guest: true,
            },
        );
        (token, exp)
    }
}

fn secret_from_hex(hex: &str, path: &Path) -> Result<Secret, String> {
    let bytes = from_hex(hex).ok_or_else(|| format!("{}: a key is not hex", path.display()))?;
    Secret::new(bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// `KEY_LEN` random bytes from the operating system, as hex.
fn random_hex() -> Result<String, String> {
    use std::io::Read as _;
    let mut bytes = [0u8; KEY_LEN];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read random bytes from /dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_server::auth::{AuthError, ShareKey, Verifier};

    #[test]
    fn keys_are_created_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::load_or_create(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("keys.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Keys::load_or_create(dir.path()).unwrap();
        assert!(again.owner == keys.owner && again.share == keys.share);
        assert!(keys.owner != keys.share);
        std::fs::write(dir.path().join("keys.json"), "{").unwrap();
        assert!(Keys::load_or_create(dir.path()).is_err());
    }

    #[test]
    fn a_new_share_key_revokes_links_but_not_the_owner_token() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = Keys::load_or_create(dir.path()).unwrap();
        let share = ShareKey::new(keys.share.clone());
        let verifier = Verifier::new(keys.owner.clone(), auth::DEFAULT_AUDIENCE)
            .with_share_key(Some(share.clone()));
        let owner = keys.owner_token("Ada", "#0e7490");
        let (link, _) = keys.link_token("notes", Access::Read, 3600);
        let grant = verifier.verify(&link).unwrap();
        assert!(grant.user.guest && grant.allows("notes") && !grant.allows("other"));
        assert_eq!(grant.access, Access::Read);
        assert_eq!(verifier.verify(&owner).unwrap().access, Access::Admin);
        share.rotate(keys.new_share_key().unwrap());
        assert_eq!(verifier.verify(&link), Err(AuthError::BadSignature));
        assert!(verifier.verify(&owner).is_ok());
        // The new key was saved: a restart signs and verifies with it.
        let reloaded = Keys::load_or_create(dir.path()).unwrap();
        assert!(reloaded.share == keys.share);
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(from_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(random_hex().unwrap().len(), 2 * KEY_LEN);
    }
}
