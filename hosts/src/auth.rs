//! Authentication (SPEC §8): a JWT bearer token (HS256 with a shared
//! secret, or RS256 with a PEM public key) or, only when switched on, the
//! development headers `X-Participant` / `X-Roles`. The result is the
//! caller's [`Actor`]; identity never comes from a request body.

use crate::limits::JWT_LEEWAY_SECS;
use crate::problem::Problem;
use axum::http::{HeaderMap, header};
use hammerfall_ports::{Actor, ParticipantId, Roles};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Header naming the participant under development auth.
pub const DEV_PARTICIPANT_HEADER: &str = "x-participant";
/// Header listing the roles under development auth (`seller,bidder`).
pub const DEV_ROLES_HEADER: &str = "x-roles";

/// How callers are authenticated.
#[derive(Clone, Default)]
pub struct AuthConfig {
    hs256: Option<DecodingKey>,
    rs256: Option<DecodingKey>,
    dev: bool,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("hs256", &self.hs256.is_some())
            .field("rs256", &self.rs256.is_some())
            .field("dev", &self.dev)
            .finish()
    }
}

/// Why the server cannot authenticate anyone.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// Neither a key nor development auth.
    #[error(
        "no way to authenticate callers: pass --jwt-secret (HAMMERFALL_JWT_SECRET) for HS256 \
         tokens, --jwt-public-key PATH (HAMMERFALL_JWT_PUBLIC_KEY) for RS256 tokens, or \
         --dev-auth (HAMMERFALL_DEV_AUTH=1) to trust X-Participant/X-Roles headers in development"
    )]
    NoMethod,
    /// The secret is empty.
    #[error("the JWT secret is empty")]
    EmptySecret,
    /// The public key file could not be read or is not an RSA PEM key.
    #[error("the JWT public key {path} is unusable: {reason}")]
    BadPublicKey {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The claims Hammerfall reads. `exp` (and `nbf` when present) are checked
/// by the validator.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
}

impl AuthConfig {
    /// No method yet; add one with the builders.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts HS256 tokens signed with `secret`.
    pub fn with_hs256_secret(mut self, secret: &[u8]) -> Result<Self, AuthSetupError> {
        if secret.is_empty() {
            return Err(AuthSetupError::EmptySecret);
        }
        self.hs256 = Some(DecodingKey::from_secret(secret));
        Ok(self)
    }

    /// Accepts RS256 tokens verified with the PEM public key `pem`.
    pub fn with_rs256_public_key(mut self, pem: &[u8], path: &str) -> Result<Self, AuthSetupError> {
        let key = DecodingKey::from_rsa_pem(pem).map_err(|e| AuthSetupError::BadPublicKey {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        self.rs256 = Some(key);
        Ok(self)
    }

    /// Trusts `X-Participant` / `X-Roles` (development only).
    pub fn with_dev_auth(mut self, on: bool) -> Self {
        self.dev = on;
        self
    }

    /// True if development headers are trusted.
    pub fn dev_auth(&self) -> bool {
        self.dev
    }

    /// Refuses a configuration that can authenticate nobody.
    pub fn check(self) -> Result<Self, AuthSetupError> {
        if self.hs256.is_none() && self.rs256.is_none() && !self.dev {
            return Err(AuthSetupError::NoMethod);
        }
        Ok(self)
    }

    /// The caller, if the request carries credentials; a 401 problem if it
    /// carries bad ones. Anonymous requests give `Ok(None)`.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Actor>, Problem> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let text = value
                .to_str()
                .map_err(|_| Problem::unauthorized("malformed Authorization header"))?;
            let token = text
                .strip_prefix("Bearer ")
                .or_else(|| text.strip_prefix("bearer "))
                .ok_or_else(|| Problem::unauthorized("expected a Bearer token"))?;
            return self.verify(token.trim()).map(Some);
        }
        if self.dev
            && let Some(participant) = headers.get(DEV_PARTICIPANT_HEADER)
        {
            return dev_actor(participant.to_str().ok(), headers.get(DEV_ROLES_HEADER)).map(Some);
        }
        Ok(None)
    }

    fn verify(&self, token: &str) -> Result<Actor, Problem> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Problem::unauthorized("the token is malformed"))?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::RS256 => self.rs256.as_ref(),
            _ => None,
        }
        .ok_or_else(|| Problem::unauthorized("the token's algorithm is not accepted"))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = JWT_LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            Problem::unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::InvalidSignature => "the token's signature is invalid",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is invalid",
            })
        })?;
        let participant = ParticipantId::new(&data.claims.sub).map_err(|_| {
            Problem::unauthorized("the token's subject is not a valid participant id")
        })?;
        let roles = Roles::from_names(data.claims.roles.iter().map(String::as_str));
        Ok(Actor::new(participant, roles))
    }
}

fn dev_actor(
    participant: Option<&str>,
    roles: Option<&axum::http::HeaderValue>,
) -> Result<Actor, Problem> {
    let participant = participant
        .and_then(|p| ParticipantId::new(p.trim()).ok())
        .ok_or_else(|| Problem::unauthorized("X-Participant is not a valid participant id"))?;
    let roles = match roles {
        None => Roles::NONE,
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| Problem::unauthorized("X-Roles is malformed"))?;
            Roles::from_names(text.split(',').map(str::trim))
        }
    };
    Ok(Actor::new(participant, roles))
}

/// The caller of a request, as the auth middleware found it.
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<Actor>);

impl Caller {
    /// The actor, if authenticated.
    pub fn actor(&self) -> Option<&Actor> {
        self.0.as_ref()
    }

    /// The actor, or 401.
    pub fn require(&self) -> Result<&Actor, Problem> {
        self.0
            .as_ref()
            .ok_or_else(|| Problem::unauthorized("authentication required"))
    }

    /// The actor if it has `role`; 401 without credentials, 403 without the role.
    pub fn require_role(&self, role: Roles, name: &str) -> Result<&Actor, Problem> {
        let actor = self.require()?;
        if actor.roles.contains(role) {
            Ok(actor)
        } else {
            Err(Problem::forbidden(format!("this requires the {name} role")))
        }
    }

    /// True if the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.0.as_ref().is_some_and(Actor::is_admin)
    }

    /// True if the caller is `participant`.
    pub fn is(&self, participant: &ParticipantId) -> bool {
        self.0
            .as_ref()
            .is_some_and(|a| &a.participant_id == participant)
    }
}
