//! Secrets in links (sign-in links, invitations): random, URL-safe, and stored only as a hash;
//! and the keys that sign short codes (check-in).

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The SHA-256 of a link's secret: what the database keeps instead of the secret.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A new 256-bit secret for a link, URL-safe.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A key Roster keeps for itself to sign short codes (HMAC-SHA256): the same on every server
/// of an installation (stored in `server_secrets` under its name, made by the first start).
#[derive(Clone)]
pub struct SigningKey(std::sync::Arc<[u8; 32]>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

type Hmac = hmac::Hmac<Sha256>;

impl SigningKey {
    /// The installation's key called `name`, made (at random) when there is none yet.
    pub async fn load(pool: &sqlx::PgPool, name: &str) -> Result<Self, sqlx::Error> {
        let mut fresh = [0u8; 32];
        rand::rng().fill_bytes(&mut fresh);
        sqlx::query!(
            "insert into server_secrets (name, secret) values ($1, $2) on conflict (name) do nothing",
            name,
            &fresh[..],
        )
        .execute(pool)
        .await?;
        let stored = sqlx::query_scalar!("select secret from server_secrets where name = $1", name)
            .fetch_one(pool)
            .await?;
        let key: [u8; 32] = stored
            .get(..32)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| sqlx::Error::Protocol(format!("server secret {name} is too short")))?;
        Ok(Self(std::sync::Arc::new(key)))
    }

    /// A key from known bytes (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(std::sync::Arc::new(bytes))
    }

    /// The first `N` bytes of the message's tag.
    pub fn sign<const N: usize>(&self, message: &[u8]) -> [u8; N] {
        use hmac::Mac;
        let mut mac =
            <Hmac as Mac>::new_from_slice(&self.0[..]).expect("HMAC takes any key length");
        mac.update(message);
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; N];
        out.copy_from_slice(&tag[..N]);
        out
    }

    /// Whether `tag` is the start of the message's tag (compared in constant time).
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        use hmac::Mac;
        let mut mac =
            <Hmac as Mac>::new_from_slice(&self.0[..]).expect("HMAC takes any key length");
        mac.update(message);
        !tag.is_empty() && mac.verify_truncated_left(tag).is_ok()
    }
}
