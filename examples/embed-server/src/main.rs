//! Embedding FlowO's HTTP API in your own axum application.
//!
//! Your program owns the server and the store; FlowO's router is one part of the app, here
//! nested under `/flowo` next to a route of your own. The program opens an embedded store,
//! makes a user with an API token on first start, and prints how to call the API.
//!
//! ```sh
//! cargo run -p embed-server -- [DATABASE_URL] [BIND]
//! # default: sqlite://./embed-server.db on 127.0.0.1:3200
//! curl -H "Authorization: Bearer <token>" http://127.0.0.1:3200/flowo/api/v1/runs
//! ```

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use flowo_core::Store;
use flowo_core::account::{NewApiToken, Role, TokenScope};
use flowo_http::{AppState, HttpConfig};

/// Your application: your routes, with FlowO's mounted under `/flowo`.
fn app(state: AppState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { "my lab portal; FlowO lives under /flowo" }),
        )
        .nest("/flowo", flowo_http::router(state))
}

/// On a store without users, a user and an ingest+read capable admin token for this demo.
async fn demo_token(store: &Arc<dyn Store>) -> anyhow::Result<Option<String>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let user = store
        .create_user("portal@localhost", Role::Admin, None)
        .await?;
    let token = flowo_http::auth::generate_token();
    store
        .create_token(NewApiToken {
            user_id: user.id,
            name: "embed-server demo".into(),
            scope: TokenScope::Admin,
            workspace_id: None,
            prefix: token.prefix.clone(),
            hash: token.hash.clone(),
            expires_at: None,
        })
        .await?;
    Ok(Some(token.token))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "sqlite://./embed-server.db".to_owned());
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:3200".to_owned());
    let store = flowo_store::open(&url, &flowo_store::StoreOptions::default())
        .await
        .with_context(|| format!("cannot open {}", flowo_store::mask_password(&url)))?;
    if let Some(token) = demo_token(&store).await? {
        println!("API token (shown once): {token}");
    }
    let state = AppState::new(store, HttpConfig::default()).await?;
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    println!("serving on http://{bind}/ (FlowO API at http://{bind}/flowo/api/v1/)");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn flowo_answers_under_its_mount_point_next_to_our_routes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("e.db").display());
        let store = flowo_store::open(&url, &flowo_store::StoreOptions::default())
            .await
            .expect("store");
        let token = demo_token(&store)
            .await
            .expect("token")
            .expect("first start");
        assert!(
            demo_token(&store).await.expect("again").is_none(),
            "made once"
        );
        let state = AppState::new(store, HttpConfig::default())
            .await
            .expect("state");
        let app = app(state);
        let get = |uri: &str, auth: Option<&str>| {
            let mut req = Request::get(uri);
            if let Some(t) = auth {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            req.body(Body::empty()).expect("request")
        };
        let ours = app.clone().oneshot(get("/", None)).await.expect("response");
        assert_eq!(ours.status(), StatusCode::OK);
        let anonymous = app
            .clone()
            .oneshot(get("/flowo/api/v1/runs", None))
            .await
            .expect("response");
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let runs = app
            .clone()
            .oneshot(get("/flowo/api/v1/runs", Some(&token)))
            .await
            .expect("response");
        assert_eq!(runs.status(), StatusCode::OK);
        let body = runs.into_body().collect().await.expect("body").to_bytes();
        let page: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(page["items"], serde_json::json!([]));
        let health = app
            .oneshot(get("/flowo/healthz", None))
            .await
            .expect("response");
        assert_eq!(health.status(), StatusCode::OK);
    }
}
