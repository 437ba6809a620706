//! The accounts store on both databases: tenants, users and their tenants, tokens (hash only,
//! revocation, last use), sessions (expiry, ended by disabling), the audit log by tenant, and
//! runs filtered by tenant, status, time and business key.

use std::sync::Arc;

use ferry_engine::store::{
    AuditFilter, FlowRecord, NewAudit, NewRun, NewUser, Outcome, RecordEntry, Role, RunQuery,
    RunStatus, ServiceStore,
};
#[path = "support/pg_schema.rs"]
mod pg_schema;
#[path = "support/both_databases.rs"]
#[macro_use]
mod both_databases;

fn user(email: &str, role: Role, tenants: &[&str]) -> NewUser {
    NewUser {
        email: email.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role,
        tenants: tenants.iter().map(|t| t.to_string()).collect(),
    }
}

async fn flow(store: &Arc<dyn ServiceStore>, id: &str, tenant: &str) {
    store
        .upsert_flow(&FlowRecord {
            id: id.into(),
            name: id.into(),
            definition: "{}".into(),
            version: "v1".into(),
            base_dir: String::new(),
            enabled: true,
            webhook_token: format!("{id}-token"),
            tenant: tenant.into(),
        })
        .await
        .unwrap();
}

both_databases! {
    dyn ServiceStore;
    tenants_and_users_are_stored_with_their_tenants => |store: Arc<dyn ServiceStore>| async move {
        assert!(store.get_tenant("default").await.unwrap().is_some(), "the migration creates `default`");
        store.create_tenant("acme", "Acme").await.unwrap().unwrap();
        store.create_tenant("globex", "Globex").await.unwrap().unwrap();
        assert!(store.create_tenant("acme", "Again").await.unwrap().is_none(), "ids are unique");
        let scoped = store.list_tenants(Some(&["acme".to_string()])).await.unwrap();
        assert_eq!(scoped.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["acme"]);
        assert_eq!(store.list_tenants(None).await.unwrap().len(), 3);

        assert_eq!(store.count_admins().await.unwrap(), 0);
        let admin = store.create_user(&user("Admin@Example.com", Role::Admin, &[])).await.unwrap().unwrap();
        assert_eq!(admin.email, "admin@example.com", "emails are kept lower case");
        assert!(store.create_user(&user("ADMIN@example.com", Role::Admin, &[])).await.unwrap().is_none());
        let support = store.create_user(&user("s@x.com", Role::Support, &["acme", "globex"])).await.unwrap().unwrap();
        assert_eq!(support.tenants, ["acme", "globex"]);
        assert_eq!(store.count_admins().await.unwrap(), 1);
        let (found, hash) = store.user_by_email("S@X.COM").await.unwrap().unwrap();
        assert_eq!(found.id, support.id);
        assert!(hash.starts_with("$argon2id$"));
        let in_globex = store.list_users(Some(&["globex".to_string()])).await.unwrap();
        assert_eq!(in_globex.iter().map(|u| u.id).collect::<Vec<_>>(), [support.id]);
        store.set_password(support.id, "new-hash").await.unwrap();
        assert_eq!(store.user_by_email("s@x.com").await.unwrap().unwrap().1, "new-hash");
    };

    tokens_and_sessions_stop_with_revocation_expiry_and_disabling => |store: Arc<dyn ServiceStore>| async move {
        let u = store.create_user(&user("m@x.com", Role::Merchant, &["default"])).await.unwrap().unwrap();
        let t = store.create_token(u.id, "ci", "hash-1", "fy_abcdefg").await.unwrap();
        assert!(t.last_used_at.is_none());
        assert_eq!(store.user_by_token("hash-1").await.unwrap().unwrap().id, u.id);
        assert!(store.get_token(t.id).await.unwrap().unwrap().last_used_at.is_some(), "use is noted");
        assert!(store.user_by_token("other").await.unwrap().is_none());
        store.revoke_token(t.id).await.unwrap();
        store.revoke_token(t.id).await.unwrap();
        assert!(store.user_by_token("hash-1").await.unwrap().is_none(), "revoked");
        assert!(store.list_tokens(u.id).await.unwrap()[0].revoked_at.is_some());

        store.create_session("s-1", u.id, "2026-11-23T12:00:00.000Z").await.unwrap();
        assert!(store.user_by_session("s-1", "2026-11-23T11:00:00.000Z").await.unwrap().is_some());
        assert!(store.user_by_session("s-1", "2026-11-23T12:00:01.000Z").await.unwrap().is_none(), "expired");
        store.create_token(u.id, "ci", "hash-2", "fy_bcdefgh").await.unwrap();
        store.set_user_disabled(u.id, true).await.unwrap();
        assert!(store.user_by_session("s-1", "2026-11-23T11:00:00.000Z").await.unwrap().is_none(), "sessions end");
        assert!(store.user_by_token("hash-2").await.unwrap().is_none(), "tokens stop");
        store.set_user_disabled(u.id, false).await.unwrap();
        assert!(store.user_by_token("hash-2").await.unwrap().is_some());
        store.create_session("s-2", u.id, "2030-01-01T00:00:00.000Z").await.unwrap();
        store.delete_session("s-2").await.unwrap();
        assert!(store.user_by_session("s-2", "2026-11-23T11:00:00.000Z").await.unwrap().is_none());
    };

    the_audit_log_is_read_by_tenant_filtered_and_paged => |store: Arc<dyn ServiceStore>| async move {
        for (tenant, action) in [(Some("acme"), "flow.update"), (Some("globex"), "record.replay"), (None, "token.create")] {
            store.append_audit(&NewAudit {
                user_email: "a@x.com".into(), tenant_id: tenant.map(str::to_string), action: action.into(),
                object_type: "flow".into(), object_id: "f".into(), ..NewAudit::default()
            }).await.unwrap();
        }
        let all = AuditFilter { limit: 10, ..AuditFilter::default() };
        assert_eq!(store.list_audit(&all).await.unwrap().len(), 3);
        let acme = store.list_audit(&AuditFilter { tenants: Some(vec!["acme".into()]), ..all.clone() }).await.unwrap();
        assert_eq!(acme.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["flow.update"]);
        let newest = store.list_audit(&AuditFilter { limit: 1, ..all.clone() }).await.unwrap();
        assert_eq!(newest[0].action, "token.create", "newest first");
        let older = store.list_audit(&AuditFilter { before: Some(newest[0].id), ..all.clone() }).await.unwrap();
        assert_eq!(older.len(), 2, "`before` pages past the newest");
        assert!(older.iter().all(|e| e.id < newest[0].id));
        let actions = |f: AuditFilter| {
            let store = store.clone();
            async move { store.list_audit(&f).await.unwrap().into_iter().map(|e| e.action).collect::<Vec<_>>() }
        };
        assert_eq!(actions(AuditFilter { action: Some("flow.".into()), ..all.clone() }).await, ["flow.update"]);
        assert_eq!(actions(AuditFilter { action: Some("flow_".into()), ..all.clone() }).await, Vec::<String>::new(), "`_` is no wildcard");
        assert_eq!(actions(AuditFilter { object_id: Some("f".into()), ..all.clone() }).await.len(), 3);
        assert_eq!(actions(AuditFilter { user: Some("A@X".into()), ..all.clone() }).await.len(), 3, "ASCII case ignored");
        assert_eq!(actions(AuditFilter { user: Some("%".into()), ..all.clone() }).await.len(), 0, "`%` is no wildcard");
        assert_eq!(actions(AuditFilter { since: Some("2999-01-01T00:00:00.000Z".into()), ..all.clone() }).await.len(), 0);
        assert_eq!(actions(AuditFilter { until: Some("2999-01-01T00:00:00.000Z".into()), ..all.clone() }).await.len(), 3);
    };

    runs_carry_their_flows_tenant_and_filter_by_it => |store: Arc<dyn ServiceStore>| async move {
        flow(&store, "acme_orders", "acme").await;
        flow(&store, "globex_orders", "globex").await;
        let new_run = |flow_id: &str| NewRun { flow_id: flow_id.into(), flow_version: "v1".into(), trigger: "manual".into() };
        let a = store.create_queued_run(&new_run("acme_orders"), &[]).await.unwrap();
        let b = store.create_run(&new_run("globex_orders")).await.unwrap();
        assert_eq!(store.run_tenant(a).await.unwrap().as_deref(), Some("acme"));
        assert_eq!(store.run_tenant(b).await.unwrap().as_deref(), Some("globex"));
        assert!(store.run_tenant(9999).await.unwrap().is_none());
        store.record_outcomes(&[RecordEntry {
            run_id: b, seq: 0, flow_id: "globex_orders".into(), source_key: Some("#1001".into()),
            outcome: Outcome::Created, step_id: None, input: Some("{}".into()), in_page: None, output: None,
            response_status: Some(201), response_body: None, target_id: Some("T1".into()), error: None,
            attempts: 1, retry_at: None,
        }], &[]).await.unwrap();
        let q = |f: fn(&mut RunQuery)| { let mut q = RunQuery { limit: 10, ..RunQuery::default() }; f(&mut q); q };
        let ids = |runs: Vec<ferry_engine::store::RunRow>| runs.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(store.query_runs(&q(|_| {})).await.unwrap()), [b, a]);
        assert_eq!(ids(store.query_runs(&q(|q| q.tenants = Some(vec!["acme".into()]))).await.unwrap()), [a]);
        assert!(store.query_runs(&q(|q| q.tenants = Some(vec![]))).await.unwrap().is_empty());
        assert_eq!(ids(store.query_runs(&q(|q| q.business_key = Some("#1001".into()))).await.unwrap()), [b]);
        assert_eq!(ids(store.query_runs(&q(|q| q.status = Some(RunStatus::Queued))).await.unwrap()), [a]);
        assert_eq!(ids(store.query_runs(&q(|q| q.flow_id = Some("acme_orders".into()))).await.unwrap()), [a]);
        assert!(store.query_runs(&q(|q| q.from = Some("2099-01-01T00:00:00.000Z".into()))).await.unwrap().is_empty());
        assert_eq!(store.query_runs(&q(|q| q.to = Some("2099-01-01T00:00:00.000Z".into()))).await.unwrap().len(), 2);

        // Flow ids are unique in the installation: another tenant cannot take one.
        let taken = store.upsert_flow(&FlowRecord {
            id: "acme_orders".into(), name: "x".into(), definition: "{}".into(), version: "v2".into(),
            base_dir: String::new(), enabled: true, webhook_token: "t".into(), tenant: "globex".into(),
        }).await;
        assert!(taken.is_err());
        assert_eq!(store.get_flow("acme_orders").await.unwrap().unwrap().tenant, "acme");
        assert!(store.delete_flow("acme_orders").await.unwrap());
        assert!(!store.delete_flow("acme_orders").await.unwrap());
    };
}
