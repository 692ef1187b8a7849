//! Sign-in with Keycloak over OpenID Connect: `/auth/login`, `/auth/callback`, and the
//! identity-provider half of `/auth/logout`.
//!
//! Authorization code flow with PKCE (S256), state and nonce. Realm roles are read where
//! Keycloak puts them, in the access token (a JWT verified against the realm's JWKS), with
//! the ID token and userinfo as fallbacks.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::auth::db::Identity;
use app::state::{IdentityCheck, Recheck};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdToken, IdTokenClaims, IssuerUrl, LogoutRequest, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse,
    UserInfoClaims,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};

use crate::config::OidcConfig;

/// The realm role that makes a platform admin.
pub const PLATFORM_ADMIN_ROLE: &str = "roster-admin";
/// Provider metadata and keys are fetched again after this long (Keycloak rotates keys).
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Keys are fetched again for an unknown signature at most this often.
const KEY_REFRESH_MIN_AGE: Duration = Duration::from_secs(60);
/// After a failed fetch, the keys Roster has keep working and the next fetch waits this long:
/// while the provider is down, requests are not held up asking it again and again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// How long asking the provider (discovery, a refresh) may take before it counts as down.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection to the provider stays open unused for the next request.
const PROVIDER_IDLE: Duration = Duration::from_secs(2);
/// How long a recheck or a sign-in waits for the provider, on a person's request.
const ON_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// A provider found down is not asked again for rechecks for this long: signed-in people get
/// their pages at once. (Someone signing in asks it each time: they wait up to
/// `ON_REQUEST_TIMEOUT` for "unreachable", and get in as soon as it is back.)
const DOWN_FOR: Duration = Duration::from_secs(10);
/// The only signature algorithms Roster accepts on tokens: asymmetric ones, whose keys are the
/// realm's public keys. (An HMAC algorithm would be keyed with the client secret, and whoever
/// holds that secret could mint tokens of their own choosing.)
const ASYMMETRIC: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];
/// A sign-in started but not finished within this long must start again.
pub const FLOW_TTL_SECS: i64 = 15 * 60;

/// Keycloak's `realm_access` claim.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RealmAccess {
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The claims Roster reads beyond the standard ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeycloakClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm_access: Option<RealmAccess>,
    /// Keycloak's token type: `Bearer` for access tokens, `ID` for ID tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}
impl AdditionalClaims for KeycloakClaims {}

type KeycloakToken = IdToken<
    KeycloakClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the session keeps between `/auth/login` and `/auth/callback`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub started_at: i64,
}

/// Why a sign-in failed; the callback answers each with a 4xx page (details go to the log).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the sign-in was not started here or has expired")]
    NoPendingLogin,
    #[error("the state parameter does not match")]
    StateMismatch,
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    #[error("the tokens did not verify: {0}")]
    InvalidToken(String),
}

/// What a finished sign-in yields.
pub struct SignedIn {
    pub identity: Identity,
    /// The raw ID token, kept for logout.
    pub id_token: String,
    /// For rechecks while the person stays signed in.
    pub refresh_token: Option<String>,
}

/// What an access token's claims said about the person beyond who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimsPresent {
    /// It carried an email address (a profile to refresh).
    pub profile: bool,
    /// It carried `realm_access` (roles to refresh).
    pub roles: bool,
}

/// The provider's discovery document and keys, when fetched, and when to try again.
struct Cached {
    meta: Arc<ProviderMetadataWithLogout>,
    fetched_at: Instant,
    next_fetch: Instant,
}

/// The configured provider, its (cached) metadata and an HTTP client.
pub struct Oidc {
    config: OidcConfig,
    redirect_url: RedirectUrl,
    post_logout_url: PostLogoutRedirectUrl,
    http: reqwest::Client,
    metadata: RwLock<Option<Cached>>,
    /// Held while the metadata is fetched: one fetch at a time.
    fetching: Mutex<()>,
    /// Until when the provider counts as down (it did not answer a request).
    down_until: std::sync::Mutex<Option<Instant>>,
}

impl Oidc {
    pub fn new(config: OidcConfig, public_url: &url::Url) -> Result<Self, String> {
        let base = public_url.as_str().trim_end_matches('/');
        let redirect_url =
            RedirectUrl::new(format!("{base}/auth/callback")).map_err(|e| e.to_string())?;
        let post_logout_url =
            PostLogoutRedirectUrl::new(format!("{base}/")).map_err(|e| e.to_string())?;
        IssuerUrl::new(config.issuer.clone()).map_err(|e| format!("ROSTER_OIDC_ISSUER: {e}"))?;
        let http = reqwest::Client::builder()
            // The provider's redirects must never be followed on our behalf (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            // A kept connection is dropped after 2 s idle, before the provider drops it
            // (Node closes idle ones after 5 s, proxies and Keycloak later): a request
            // written into a connection the other end is closing fails half-way, and a
            // sign-in would fail with it.
            .pool_idle_timeout(PROVIDER_IDLE)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            config,
            redirect_url,
            post_logout_url,
            http,
            metadata: RwLock::new(None),
            fetching: Mutex::new(()),
            down_until: std::sync::Mutex::new(None),
        })
    }

    /// The provider's discovery document and keys: the cached ones while fresh, else fetched
    /// again (also when `refresh`, as for a key Roster has not seen). One fetch runs at a time;
    /// while one runs, callers with cached keys use those instead of waiting. When the
    /// provider cannot be reached, the cached keys keep working: tokens it signed before keep
    /// verifying while it is down.
    async fn metadata(&self, refresh: bool) -> Result<Arc<ProviderMetadataWithLogout>, OidcError> {
        let (cached, seen) = match self.metadata.read().await.as_ref() {
            Some(c) => {
                let due = refresh || c.fetched_at.elapsed() >= METADATA_TTL;
                if !due || Instant::now() < c.next_fetch {
                    return Ok(c.meta.clone());
                }
                (Some(c.meta.clone()), Some(c.fetched_at))
            }
            None => (None, None),
        };
        let _turn = match (&cached, self.fetching.try_lock()) {
            (_, Ok(turn)) => turn,
            // Another request is fetching: use what there is rather than wait for it.
            (Some(meta), Err(_)) => return Ok(meta.clone()),
            (None, Err(_)) => self.fetching.lock().await,
        };
        // Fetched by someone else while this one waited for its turn.
        if let Some(c) = self.metadata.read().await.as_ref() {
            if Some(c.fetched_at) != seen {
                return Ok(c.meta.clone());
            }
        }
        let fetched = async {
            let issuer = IssuerUrl::new(self.config.issuer.clone())
                .map_err(|e| OidcError::Unreachable(e.to_string()))?;
            ProviderMetadataWithLogout::discover_async(issuer, &self.http)
                .await
                .map_err(|e| OidcError::Unreachable(error_chain(&e)))
        }
        .await;
        let mut slot = self.metadata.write().await;
        match fetched {
            Ok(meta) => {
                let meta = Arc::new(meta);
                let now = Instant::now();
                *slot = Some(Cached {
                    meta: meta.clone(),
                    fetched_at: now,
                    next_fetch: now,
                });
                Ok(meta)
            }
            Err(e) => match slot.as_mut() {
                Some(c) => {
                    tracing::warn!(error = %e, "identity provider unreachable; the keys fetched before stay in use");
                    c.next_fetch = Instant::now() + RETRY_AFTER_FAILURE;
                    Ok(c.meta.clone())
                }
                None => Err(e),
            },
        }
    }

    /// Whether the provider was found down lately (see `DOWN_FOR`).
    fn known_down(&self) -> bool {
        let down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        down.is_some_and(|until| Instant::now() < until)
    }

    /// Notes that the provider did not answer.
    fn mark_down(&self) {
        let mut down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        *down = Some(Instant::now() + DOWN_FOR);
    }

    /// Whether the provider answers now, so a sign-in is not sent to a provider that is down
    /// (one small request per sign-in started).
    async fn reachable(&self) -> Result<(), OidcError> {
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
        let answer = self
            .http
            .get(&url)
            .timeout(ON_REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                self.mark_down();
                OidcError::Unreachable(error_chain(&e))
            })?;
        if !answer.status().is_success() {
            return Err(OidcError::Unreachable(format!(
                "discovery answered {}",
                answer.status()
            )));
        }
        Ok(())
    }

    /// Fetches the discovery document once, so a wrong issuer shows up in the start-up log.
    pub async fn warm_up(&self) {
        match self.metadata(true).await {
            Ok(_) => {
                tracing::info!(issuer = %self.config.issuer, "OpenID Connect provider discovered")
            }
            Err(e) => {
                tracing::warn!(issuer = %self.config.issuer, error = %e, "OpenID Connect discovery failed; will retry at sign-in")
            }
        }
    }

    fn client(&self, meta: &ProviderMetadataWithLogout) -> Client {
        CoreClient::from_provider_metadata(
            meta.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(
                self.config.client_secret.expose_secret().to_string(),
            )),
        )
        .set_redirect_uri(self.redirect_url.clone())
    }

    /// Starts a sign-in: the provider URL to send the browser to, and what the session keeps.
    pub async fn begin(&self) -> Result<(url::Url, PendingLogin), OidcError> {
        self.reachable().await?;
        let meta = self.metadata(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client(&meta)
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            started_at: chrono::Utc::now().timestamp(),
        };
        Ok((url, pending))
    }

    /// Finishes a sign-in: checks state, redeems the code with the PKCE verifier, verifies the
    /// ID token (signature, issuer, audience, expiry, nonce) and reads the realm roles.
    pub async fn finish(
        &self,
        pending: PendingLogin,
        state: &str,
        code: &str,
    ) -> Result<SignedIn, OidcError> {
        if chrono::Utc::now().timestamp() - pending.started_at > FLOW_TTL_SECS {
            return Err(OidcError::NoPendingLogin);
        }
        if !constant_time_eq(pending.state.as_bytes(), state.as_bytes()) {
            return Err(OidcError::StateMismatch);
        }
        let meta = self.metadata(false).await?;
        let client = self.client(&meta);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Refused(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Refused(error_chain(&e)))?;
        let raw_id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::InvalidToken("no ID token in the token response".into()))?
            .to_string();
        let nonce = Nonce::new(pending.nonce.clone());
        let id_claims = match self.verify_id_token(&client, &raw_id_token, &nonce) {
            Ok(claims) => claims,
            // The realm may have rotated its keys since discovery: fetch them once more.
            Err(_) => {
                let fresh = self.metadata(true).await?;
                let client = self.client(&fresh);
                self.verify_id_token(&client, &raw_id_token, &nonce)?
            }
        };
        let access_token = tokens.access_token().secret();
        let roles = match self.realm_roles_from_access_token(
            &client,
            access_token,
            id_claims.subject().as_str(),
        ) {
            Some(roles) => roles,
            None => match id_claims.additional_claims().realm_access.clone() {
                Some(access) => access.roles,
                None => {
                    self.realm_roles_from_userinfo(&client, tokens.access_token(), &id_claims)
                        .await
                }
            },
        };
        Ok(SignedIn {
            identity: self.identity(&id_claims, &roles),
            id_token: raw_id_token,
            refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
        })
    }

    /// Asks the provider again about a signed-in person, with their refresh token: refused
    /// (`invalid_grant`: account disabled, session ended) means `Revoked`; a new access token
    /// tells their current realm roles; no answer within `ON_REQUEST_TIMEOUT` is `Unreachable`
    /// (and the provider counts as down for `DOWN_FOR`: others are not held up asking it).
    pub async fn recheck(&self, refresh_token: &str) -> Recheck {
        if self.known_down() {
            return Recheck::Unreachable;
        }
        let Ok(meta) = self.metadata(false).await else {
            return Recheck::Unreachable;
        };
        let client = self.client(&meta);
        let token = RefreshToken::new(refresh_token.to_string());
        let Ok(request) = client.exchange_refresh_token(&token) else {
            return Recheck::Unreachable;
        };
        let answer =
            tokio::time::timeout(ON_REQUEST_TIMEOUT, request.request_async(&self.http)).await;
        let tokens = match answer {
            Ok(Ok(tokens)) => tokens,
            Ok(Err(RequestTokenError::ServerResponse(e)))
                if *e.error() == CoreErrorResponseType::InvalidGrant =>
            {
                return Recheck::Revoked;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %error_chain(&e), "identity recheck failed");
                if matches!(e, RequestTokenError::Request(_)) {
                    self.mark_down();
                }
                return Recheck::Unreachable;
            }
            Err(_) => {
                tracing::warn!("identity recheck timed out");
                self.mark_down();
                return Recheck::Unreachable;
            }
        };
        let roles = match self.verify_access_token(&client, tokens.access_token().secret()) {
            Ok(claims) if self.is_for_us(&claims, &[]) => claims
                .additional_claims()
                .realm_access
                .clone()
                .map(|a| a.roles)
                .unwrap_or_default(),
            _ => {
                tracing::warn!("the refreshed access token did not verify; roles unchanged");
                return Recheck::Unreachable;
            }
        };
        Recheck::Valid {
            is_platform_admin: roles.iter().any(|r| r == PLATFORM_ADMIN_ROLE),
            refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
        }
    }

    /// The person the verified claims name, with the realm roles `roles`.
    fn identity(
        &self,
        claims: &IdTokenClaims<KeycloakClaims, CoreGenderClaim>,
        roles: &[String],
    ) -> Identity {
        let email = claims
            .email()
            .map(|e| e.as_str().to_string())
            .unwrap_or_default();
        // Only a verified address may match an invitation (a provider may let people type any).
        let email_verified = claims.email_verified().unwrap_or(false);
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string())
            .or_else(|| claims.preferred_username().map(|u| u.as_str().to_string()))
            .unwrap_or_else(|| email.clone());
        Identity {
            issuer: self.config.issuer.clone(),
            subject: claims.subject().as_str().to_string(),
            email,
            email_verified,
            name,
            is_platform_admin: roles.iter().any(|r| r == PLATFORM_ADMIN_ROLE),
        }
    }

    /// A Bearer access token from an API client: a JWT signed with the realm's keys (fetched
    /// once more when the key is unknown, as after a rotation), issued by the realm, unexpired,
    /// and for Roster's client or one of `api_clients` (`azp`, or one of `aud`). Returns the
    /// person, with the realm roles the token carries.
    pub async fn verify_bearer(
        &self,
        raw: &str,
        api_clients: &[String],
    ) -> Result<(Identity, ClaimsPresent), OidcError> {
        let meta = self.metadata(false).await?;
        let claims = match self.verify_access_token(&self.client(&meta), raw) {
            Ok(claims) => claims,
            // Perhaps signed with a key the realm added since: look once more, at most once a
            // minute (bad tokens must not make Roster hammer the provider).
            Err(e) if self.keys_age().await < KEY_REFRESH_MIN_AGE => return Err(e),
            Err(_) => {
                let fresh = self.metadata(true).await?;
                self.verify_access_token(&self.client(&fresh), raw)?
            }
        };
        // An ID token (shown to browsers in logout links) is not an access token.
        if claims.additional_claims().typ.as_deref() != Some("Bearer") {
            return Err(OidcError::InvalidToken("not an access token".into()));
        }
        if !self.is_for_us(&claims, api_clients) {
            return Err(OidcError::InvalidToken(
                "the access token is for another client".into(),
            ));
        }
        let realm_access = claims.additional_claims().realm_access.clone();
        let present = ClaimsPresent {
            profile: claims.email().is_some(),
            roles: realm_access.is_some(),
        };
        let roles = realm_access.map(|access| access.roles).unwrap_or_default();
        Ok((self.identity(&claims, &roles), present))
    }

    /// Whether an access token was issued for Roster's client or one of `api_clients` (its
    /// `azp`, or one of its `aud`: Keycloak names resource servers in `aud`).
    fn is_for_us(
        &self,
        claims: &IdTokenClaims<KeycloakClaims, CoreGenderClaim>,
        api_clients: &[String],
    ) -> bool {
        let ours = |id: &str| id == self.config.client_id || api_clients.iter().any(|c| c == id);
        claims
            .authorized_party()
            .is_some_and(|azp| ours(azp.as_str()))
            || claims.audiences().iter().any(|aud| ours(aud.as_str()))
    }

    /// How long ago the realm's keys were fetched.
    async fn keys_age(&self) -> Duration {
        self.metadata
            .read()
            .await
            .as_ref()
            .map_or(Duration::MAX, |c| c.fetched_at.elapsed())
    }

    fn verify_access_token(
        &self,
        client: &Client,
        raw: &str,
    ) -> Result<IdTokenClaims<KeycloakClaims, CoreGenderClaim>, OidcError> {
        let token =
            KeycloakToken::from_str(raw).map_err(|e| OidcError::InvalidToken(e.to_string()))?;
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(ASYMMETRIC)
            .allow_all_jose_types()
            // Keycloak's access tokens name resource servers in `aud`; checked above instead.
            .require_audience_match(false);
        token
            .into_claims(&verifier, |_: Option<&Nonce>| Ok(()))
            .map_err(|e| OidcError::InvalidToken(e.to_string()))
    }

    fn verify_id_token(
        &self,
        client: &Client,
        raw: &str,
        nonce: &Nonce,
    ) -> Result<IdTokenClaims<KeycloakClaims, CoreGenderClaim>, OidcError> {
        let token =
            KeycloakToken::from_str(raw).map_err(|e| OidcError::InvalidToken(e.to_string()))?;
        let verifier = client.id_token_verifier().set_allowed_algs(ASYMMETRIC);
        token
            .into_claims(&verifier, nonce)
            .map_err(|e| OidcError::InvalidToken(e.to_string()))
    }

    /// Realm roles from a Keycloak access token, if it is a JWT signed by the realm, issued by
    /// it, unexpired, for this client (`azp`, or `aud`), and about the same person.
    fn realm_roles_from_access_token(
        &self,
        client: &Client,
        raw: &str,
        subject: &str,
    ) -> Option<Vec<String>> {
        let claims = match self.verify_access_token(client, raw) {
            Ok(claims) => claims,
            Err(e) => {
                tracing::warn!(error = %e, "access token did not verify; not reading roles from it");
                return None;
            }
        };
        let for_us = self.is_for_us(&claims, &[]);
        if !for_us || claims.subject().as_str() != subject {
            tracing::warn!(
                "access token is for another client or person; not reading roles from it"
            );
            return None;
        }
        claims
            .additional_claims()
            .realm_access
            .clone()
            .map(|access| access.roles)
    }

    async fn realm_roles_from_userinfo(
        &self,
        client: &Client,
        access_token: &openidconnect::AccessToken,
        id_claims: &IdTokenClaims<KeycloakClaims, CoreGenderClaim>,
    ) -> Vec<String> {
        let Ok(request) = client.user_info(access_token.clone(), Some(id_claims.subject().clone()))
        else {
            return Vec::new();
        };
        let info: Result<UserInfoClaims<KeycloakClaims, CoreGenderClaim>, _> =
            request.request_async(&self.http).await;
        match info {
            Ok(info) => info
                .additional_claims()
                .realm_access
                .clone()
                .map(|a| a.roles)
                .unwrap_or_default(),
            Err(e) => {
                tracing::debug!(error = %error_chain(&e), "no roles from userinfo");
                Vec::new()
            }
        }
    }

    /// Where to send the browser to end the Keycloak session too (RP-initiated logout).
    pub async fn logout_url(&self, raw_id_token: &str) -> Option<url::Url> {
        let meta = self.metadata(false).await.ok()?;
        let end_session = meta.additional_metadata().end_session_endpoint.clone()?;
        let mut request = LogoutRequest::from(end_session)
            .set_client_id(ClientId::new(self.config.client_id.clone()))
            .set_post_logout_redirect_uri(self.post_logout_url.clone());
        if let Ok(token) = KeycloakToken::from_str(raw_id_token) {
            request = request.set_id_token_hint(&token);
        }
        Some(request.http_get_url())
    }
}

impl IdentityCheck for Oidc {
    fn recheck<'a>(
        &'a self,
        refresh_token: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Recheck> + Send + 'a>> {
        Box::pin(Oidc::recheck(self, refresh_token))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
