//! The OpenAPI document of every endpoint (`GET /api/v1/openapi.json`), generated from the
//! handlers' annotations, so it cannot drift from the code.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

/// The API document.
#[derive(OpenApi)]
#[openapi(
    info(title = "FlowO API", description = "Record and watch Snakemake workflow runs."),
    paths(
        routes::auth::login,
        routes::auth::logout,
        routes::auth::first_login,
        routes::auth::get_me,
        routes::events::ingest_events,
        routes::events::list_run_events,
        routes::runs::list_runs,
        routes::runs::get_run,
        routes::runs::delete_run,
        routes::runs::list_jobs,
        routes::runs::get_job,
        routes::runs::list_rules,
        routes::runs::get_rule_graph,
        routes::runs::get_timeline,
        routes::runs::list_errors,
        routes::runs::list_sources,
        routes::stats::get_stats,
        routes::stream::get_stream,
        routes::workspaces::list_workspaces,
        routes::workspaces::create_workspace,
        routes::workspaces::list_members,
        routes::workspaces::add_member,
        routes::workspaces::remove_member,
        routes::users::list_users,
        routes::users::create_user,
        routes::users::update_user,
        routes::tokens::list_tokens,
        routes::tokens::create_token,
        routes::tokens::revoke_token,
        routes::audit::list_audit,
        get_openapi,
        routes::health::get_healthz,
        routes::health::get_readyz,
        routes::health::get_metrics,
    ),
    components(schemas(
        flowo_core::store::RunSort,
        flowo_core::store::JobSort,
        flowo_core::store::SortOrder,
        flowo_core::store::AuditAction
    )),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (`flowo_…`) or a session JWT"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// The OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "the OpenAPI document")))]
pub async fn get_openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
