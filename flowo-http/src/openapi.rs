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
        routes::runs::list_job_briefs,
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
    modifiers(&Security, &InputErrors),
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

/// Documents the error answers that any operation of a kind can give, so that no handler has
/// to list them (and none can forget one): 400 for bad parameters or bodies, 401 for a missing
/// or bad credential, 413 and 415 for a body too large or not JSON; and, on ingest, the
/// constraints of an event's fields that the server holds them to.
struct InputErrors;

impl InputErrors {
    fn error(description: &str) -> utoipa::openapi::Response {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    }
}

impl Modify for InputErrors {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        if let Some(schemas) = api.components.as_mut().map(|c| &mut c.schemas) {
            constrain_event_envelope(schemas);
            for name in [
                "LoginRequest",
                "FirstLoginRequest",
                "CreateUser",
                "UpdateUser",
                "CreateToken",
            ] {
                if let Some(schema) = schemas.get_mut(name) {
                    refuse_nul_in_properties(schema);
                }
            }
        }
        let secured_by_default = api.security.as_ref().is_some_and(|s| !s.is_empty());
        for item in api.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                let has_input = op.parameters.as_ref().is_some_and(|p| !p.is_empty())
                    || op.request_body.is_some();
                let secured = match &op.security {
                    None => secured_by_default,
                    Some(reqs) => {
                        // `security(())` is one empty requirement: no credential needed.
                        let empty = serde_json::to_value(reqs).is_ok_and(|v| {
                            v.as_array().is_some_and(|a| {
                                a.iter()
                                    .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
                            })
                        });
                        !empty
                    }
                };
                for param in op.parameters.iter_mut().flatten() {
                    if let Some(schema) = param.schema.as_mut() {
                        refuse_nul(schema);
                    }
                }
                let mut add = |status: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::T(Self::error(description)));
                };
                if has_input {
                    add(
                        "400",
                        "bad input: a malformed or out-of-range parameter or body",
                    );
                }
                if secured {
                    add(
                        "401",
                        "no credential, or an unknown, expired or revoked one",
                    );
                }
                if op.request_body.is_some() {
                    add("413", "the body is over its size limit");
                    add(
                        "415",
                        "the body is not JSON (or, on ingest, not gzip or plain)",
                    );
                }
            }
        }
    }
}

/// The pattern of a string the server refuses NUL in (see [`crate::Limits::check_short`]).
const NO_NUL: &str = "^[^\\u0000]*$";

/// Adds [`NO_NUL`] to a string schema without a pattern of its own.
fn refuse_nul(schema: &mut utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) {
    let Ok(mut value) = serde_json::to_value(&*schema) else {
        return;
    };
    let is_string = match value.get("type") {
        Some(serde_json::Value::String(t)) => t == "string",
        Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    if !is_string || value.get("pattern").is_some() || value.get("format").is_some() {
        return;
    }
    value["pattern"] = NO_NUL.into();
    if let Ok(patched) = serde_json::from_value(value) {
        *schema = patched;
    }
}

/// [`refuse_nul`] for every property of an object schema.
fn refuse_nul_in_properties(schema: &mut utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) {
    let Ok(mut value) = serde_json::to_value(&*schema) else {
        return;
    };
    let Some(properties) = value.get_mut("properties").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for property in properties.values_mut() {
        let Ok(mut one) = serde_json::from_value(property.clone()) else {
            continue;
        };
        refuse_nul(&mut one);
        if let Ok(v) = serde_json::to_value(&one) {
            *property = v;
        }
    }
    if let Ok(patched) = serde_json::from_value(value) {
        *schema = patched;
    }
}

/// An ingested event's `kind` is 1 to 64 characters and its `seq` fits the stores' signed
/// 64-bit integers (`events.rs` refuses others with 400), and `received_at` is the store's to
/// set; the schema comes from flowo-core, which does not know these rules of the server's.
fn constrain_event_envelope(
    schemas: &mut std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    >,
) {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
    use utoipa::openapi::{KnownFormat, RefOr};
    let Some(RefOr::T(Schema::Object(envelope))) = schemas.get_mut("EventEnvelope") else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(kind))) = envelope.properties.get_mut("kind") {
        kind.min_length = Some(1);
        kind.max_length = Some(64);
        kind.pattern = Some(NO_NUL.to_owned());
    }
    // Set by the store: a producer leaves it out.
    if let Some(RefOr::T(Schema::Object(received))) = envelope.properties.get_mut("received_at") {
        received.read_only = Some(true);
    }
    let seq = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0))
        .maximum(Some(i64::MAX))
        .description(Some(
            "Position within the run, assigned by the producer; (run_id, seq) identifies the \
             event.",
        ))
        .build();
    envelope.properties.insert("seq".to_owned(), seq.into());
}

/// The OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "the OpenAPI document")))]
pub async fn get_openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
