//! Who may do what. [`Principal`] is what a presented credential allows; the methods
//! below are the one place that decides whether a principal may read a chain, query a
//! set of sites, administer the server or check in as an appliance, so the HTTP and
//! gRPC edges, the exports and the dashboards ask the same questions the same way.
//! [`store`] keeps the credentials.
//!
//! Presentation: `Authorization: Bearer <secret>` over HTTP, `authorization` metadata
//! over gRPC ([`bearer`] takes the secret out of either).

pub mod store;

use std::collections::BTreeSet;

use ledger_index::Scope;
use ledger_record::ChainId;

use crate::error_code::ErrorCode;

pub use store::{Auth, AuthStoreError, EnrolmentToken};

/// What a presented credential allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The operator: every read, token issuance, revocation.
    Admin,
    /// One appliance: append its own records, read its own records.
    Appliance(ChainId),
    /// A dashboard or auditor: read the records of these sites.
    Reader(BTreeSet<String>),
}

impl Principal {
    /// Whether this principal may read the records of a whole site.
    pub fn may_read_site(&self, site: &str) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Reader(sites) => sites.contains(site),
            Principal::Appliance(_) => false,
        }
    }

    /// Whether this principal may read records of `chain`: an appliance its own chain,
    /// others the chains of the sites they may read.
    pub fn may_read(&self, chain: &ChainId) -> bool {
        match self {
            Principal::Appliance(own) => own == chain,
            other => other.may_read_site(chain.site_id.as_str()),
        }
    }

    /// The sites this principal may query through the dashboards' index queries;
    /// appliance credentials may not query.
    pub fn query_scope(&self) -> Result<Scope, AuthError> {
        match self {
            Principal::Admin => Ok(Scope::All),
            Principal::Reader(sites) => Ok(Scope::Sites(sites.clone())),
            Principal::Appliance(_) => Err(AuthError::ReadTokenRequired),
        }
    }

    /// Succeeds for the admin credential only.
    pub fn require_admin(&self) -> Result<(), AuthError> {
        match self {
            Principal::Admin => Ok(()),
            _ => Err(AuthError::AdminOnly),
        }
    }

    /// The appliance chain of an appliance credential (check-ins).
    pub fn require_appliance(&self) -> Result<&ChainId, AuthError> {
        match self {
            Principal::Appliance(chain) => Ok(chain),
            _ => Err(AuthError::ApplianceOnly),
        }
    }
}

/// Why a request was not authorised. The messages are what clients see.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("this request needs a credential: Authorization: Bearer <credential>")]
    NoCredential,
    #[error("the credential has expired")]
    ExpiredCredential,
    #[error("unknown credential")]
    UnknownCredential,
    #[error("this needs the admin credential")]
    AdminOnly,
    #[error("dashboard queries need a read token or the admin credential")]
    ReadTokenRequired,
    #[error("check-ins need an appliance credential")]
    ApplianceOnly,
    #[error("unknown enrolment token")]
    EnrolmentTokenUnknown,
    #[error("enrolment token {0} was already used; ask the operator for a new one")]
    EnrolmentTokenUsed(String),
    #[error("enrolment token {0} expired; ask the operator for a new one")]
    EnrolmentTokenExpired(String),
    /// The credential store failed; an internal error for the client.
    #[error(transparent)]
    Store(#[from] AuthStoreError),
}

impl AuthError {
    /// The stable machine-readable code of the answer.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::NoCredential | AuthError::ExpiredCredential => ErrorCode::Unauthenticated,
            AuthError::UnknownCredential => ErrorCode::Unauthenticated,
            AuthError::AdminOnly => ErrorCode::AdminOnly,
            AuthError::ReadTokenRequired => ErrorCode::ReadTokenRequired,
            AuthError::ApplianceOnly => ErrorCode::ApplianceOnly,
            AuthError::EnrolmentTokenUnknown => ErrorCode::EnrolmentTokenInvalid,
            AuthError::EnrolmentTokenUsed(_) => ErrorCode::EnrolmentTokenUsed,
            AuthError::EnrolmentTokenExpired(_) => ErrorCode::EnrolmentTokenExpired,
            AuthError::Store(_) => ErrorCode::Internal,
        }
    }
}

/// Takes the secret out of an `Authorization: Bearer <secret>` value.
pub fn bearer(value: Option<&str>) -> Option<&str> {
    let v = value?.trim();
    let (scheme, secret) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(secret.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_record::Id;

    fn chain(s: &str, a: &str) -> ChainId {
        ChainId::new(Id::new(s).unwrap(), Id::new(a).unwrap())
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(None), None);
    }

    #[test]
    fn one_rule_per_question() {
        let own = chain("s", "a");
        let reader = Principal::Reader(["s".to_string()].into_iter().collect());
        let appliance = Principal::Appliance(own.clone());
        assert!(reader.may_read(&own) && !reader.may_read(&chain("t", "a")));
        assert!(appliance.may_read(&own) && !appliance.may_read(&chain("s", "b")));
        assert!(!appliance.may_read_site("s") && Principal::Admin.may_read_site("t"));
        assert_eq!(
            appliance.query_scope().unwrap_err().code(),
            "read_token_required"
        );
        assert_eq!(reader.require_admin().unwrap_err().code(), "admin_only");
        assert_eq!(
            reader.require_appliance().unwrap_err().code(),
            "appliance_only"
        );
        assert_eq!(appliance.require_appliance().unwrap(), &own);
        assert!(Principal::Admin.require_admin().is_ok());
    }
}
