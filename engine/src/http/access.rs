//! Who may do what: the permission matrix (action × role) and the tenant rule, in one place.
//!
//! Every handler asks [`Principal::check`] (an object of some tenant) or [`Principal::require`]
//! (a collection, then filtered by [`Principal::scope`]). The order is fixed: an object of a
//! tenant the caller does not see answers 404, exactly like a missing id and with none of its
//! data; only then may the role refuse with 403 `forbidden`. `docs/security.md` documents the
//! same matrix per endpoint, and `engine/tests/api_isolation.rs` checks every endpoint against it.

use crate::store::{Role, User};

use super::error::ApiError;

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create tenants, list every tenant.
    ManageTenants,
    /// Read a tenant the caller works for.
    ReadTenant,
    /// Create, list and disable users.
    ManageUsers,
    /// List flows (id, name, version, enabled).
    ListFlows,
    /// Read a flow's definition (get, export); may hold connection settings.
    ReadFlowDefinition,
    /// Create, update, delete and validate flows.
    WriteFlows,
    /// Start a run.
    TriggerRun,
    /// Read runs, their records (input, output, target response) and the error queue.
    ReadRuns,
    /// Replay failed records.
    ReplayFailed,
    /// Read schedules.
    ReadSchedules,
    /// Read the audit log.
    ReadAudit,
    /// Own account: `me`, password, own API tokens, logout.
    OwnAccount,
    /// Create, list, show, change, delete and test a tenant's stored connections.
    ManageConnections,
    /// Read the connector kinds with their operations and record schemas.
    ReadConnectors,
    /// Enable a template for a tenant (creates a flow bound to stored connections).
    EnableTemplates,
    /// Read a tenant's default alert settings (recipients and webhook URLs).
    ReadAlertSettings,
    /// Set or remove a tenant's default alert settings.
    WriteAlertSettings,
    /// Send a test alert to a flow's channels (mail and webhook calls go out).
    TestAlerts,
    /// Read the alert delivery log of the flows the caller sees.
    ReadAlertDeliveries,
}

/// The matrix: for each action, whether admin, integrator, merchant, support may do it.
pub const MATRIX: &[(Action, [bool; 4])] = {
    use Action::*;
    &[
        //                    admin  integr merch  support
        (ManageTenants, [true, false, false, false]),
        (ReadTenant, [true, true, true, true]),
        (ManageUsers, [true, false, false, false]),
        (ListFlows, [true, true, true, true]),
        (ReadFlowDefinition, [true, true, true, false]),
        (WriteFlows, [true, true, false, false]),
        (TriggerRun, [true, true, true, false]),
        (ReadRuns, [true, true, true, true]),
        (ReplayFailed, [true, true, true, true]),
        (ReadSchedules, [true, true, true, true]),
        (ReadAudit, [true, true, true, true]),
        (OwnAccount, [true, true, true, true]),
        (ManageConnections, [true, true, true, false]),
        (ReadConnectors, [true, true, true, true]),
        (EnableTemplates, [true, true, true, false]),
        (ReadAlertSettings, [true, true, true, true]),
        (WriteAlertSettings, [true, true, true, false]),
        (TestAlerts, [true, true, true, false]),
        (ReadAlertDeliveries, [true, true, true, true]),
    ]
};

/// Whether `role` may do `action`.
pub fn allows(role: Role, action: Action) -> bool {
    let column = match role {
        Role::Admin => 0,
        Role::Integrator => 1,
        Role::Merchant => 2,
        Role::Support => 3,
    };
    MATRIX
        .iter()
        .find(|(a, _)| *a == action)
        .is_some_and(|(_, roles)| roles[column])
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user: User,
    /// Hash of the session id when the request came with the session cookie.
    pub session_hash: Option<String>,
    /// The session's CSRF token, for `/me` to hand to the UI (`None` for a bearer token).
    pub csrf_token: Option<String>,
}

impl Principal {
    /// Tenants whose objects the caller sees: `None` for an admin (all of them).
    pub fn scope(&self) -> Option<&[String]> {
        match self.user.role {
            Role::Admin => None,
            _ => Some(&self.user.tenants),
        }
    }

    /// Whether objects of `tenant` are visible to the caller.
    pub fn sees(&self, tenant: &str) -> bool {
        self.scope()
            .is_none_or(|tenants| tenants.iter().any(|t| t == tenant))
    }

    /// 403 unless the role may do `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if allows(self.user.role, action) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "a {} may not do this ({action:?})",
                self.user.role
            )))
        }
    }

    /// The tenant rule then the matrix, for an object of `tenant` (`None`: no such object).
    /// `missing` is the answer for a missing or invisible object.
    pub fn check(
        &self,
        action: Action,
        tenant: Option<&str>,
        missing: impl FnOnce() -> ApiError,
    ) -> Result<(), ApiError> {
        match tenant {
            Some(t) if self.sees(t) => self.require(action),
            _ => Err(missing()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_one_row() {
        use Action::*;
        for action in [
            ManageTenants,
            ReadTenant,
            ManageUsers,
            ListFlows,
            ReadFlowDefinition,
            WriteFlows,
            TriggerRun,
            ReadRuns,
            ReplayFailed,
            ReadSchedules,
            ReadAudit,
            OwnAccount,
            ManageConnections,
            ReadConnectors,
            EnableTemplates,
            ReadAlertSettings,
            WriteAlertSettings,
            TestAlerts,
            ReadAlertDeliveries,
        ] {
            assert_eq!(MATRIX.iter().filter(|(a, _)| *a == action).count(), 1);
        }
        assert!(allows(Role::Admin, ManageUsers));
        assert!(!allows(Role::Support, WriteFlows));
        assert!(!allows(Role::Support, ReadFlowDefinition));
        assert!(allows(Role::Support, ReplayFailed));
        assert!(!allows(Role::Merchant, WriteFlows));
        assert!(allows(Role::Merchant, ManageConnections));
        assert!(!allows(Role::Support, ManageConnections));
        assert!(!allows(Role::Support, EnableTemplates));
        assert!(allows(Role::Support, ReadAlertSettings));
        assert!(!allows(Role::Support, WriteAlertSettings));
        assert!(allows(Role::Merchant, WriteAlertSettings));
        assert!(allows(Role::Support, ReadAlertDeliveries));
    }
}
