//! The dashboard at `/`: files of a build (given to the server, so these tests do not depend on
//! whether `frontend/dist` was built), client-side routes answered with `index.html`, caching,
//! compression, security headers, and the page of a binary built without the frontend; paths
//! of the API never fall back to HTML.

use std::io::Read;

use flowo_http::{Dashboard, HttpConfig};

use crate::support::{App, Backend, Reply, TestDb, call};

const INDEX_HTML: &str = "<!doctype html><html><head><script type=\"module\" \
    src=\"/assets/index-3f2a9c1e.js\"></script></head><body><div id=\"root\"></div></body></html>\n";
const SCRIPT: &str = "import{createRoot as r}from\"./vendor-1b2c3d4e.js\";\
    r(document.getElementById(\"root\")).render(\"FlowO dashboard\");\n";
const STYLE: &str = "body{margin:0;font-family:system-ui,sans-serif}\n";
const ICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"/>\n";

/// What a browser navigating to a page sends.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn built() -> Dashboard {
    Dashboard::from_files([
        ("index.html", INDEX_HTML),
        ("assets/index-3f2a9c1e.js", SCRIPT),
        ("assets/index-77aa00bb.css", STYLE),
        ("favicon.svg", ICON),
    ])
}

fn not_built() -> Dashboard {
    Dashboard::from_files(Vec::<(&str, &[u8])>::new())
}

/// The application with `dashboard`; the database lives as long as the returned guard.
async fn app(dashboard: Dashboard) -> (TestDb, App) {
    let db = TestDb::create(Backend::Sqlite)
        .await
        .expect("a SQLite database");
    let config = HttpConfig {
        dashboard,
        ..HttpConfig::default()
    };
    let app = App::new(db.open().await, config).await;
    (db, app)
}

async fn browse(app: &App, uri: &str) -> Reply {
    call("GET", uri)
        .header("accept", BROWSER_ACCEPT)
        .send(app)
        .await
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .map(|v| v.to_str().expect("an ASCII header"))
        .unwrap_or_else(|| panic!("no {name} header in {:?}", reply.headers))
}

#[track_caller]
fn assert_index(reply: Reply, uri: &str) {
    let reply = reply.expect(200);
    assert_eq!(reply.text(), INDEX_HTML, "{uri} answers index.html");
    assert_eq!(header(&reply, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&reply, "cache-control"), "no-cache", "{uri}");
}

#[tokio::test]
async fn root_serves_the_index() {
    let (_db, app) = app(built()).await;
    assert_index(browse(&app, "/").await, "/");
    assert_index(browse(&app, "/index.html").await, "/index.html");
    assert_index(call("GET", "/").send(&app).await, "/ without Accept");
}

#[tokio::test]
async fn client_side_routes_get_the_index() {
    let (_db, app) = app(built()).await;
    for uri in [
        "/runs",
        "/runs/123",
        "/runs/3f2a9c1e-0000-4000-8000-000000000001?tab=jobs",
        "/login?first-login=x",
        "/settings/tokens",
        "/dashboard",
        "/apis",
    ] {
        assert_index(browse(&app, uri).await, uri);
    }
    // Without a wish for HTML, an unknown path is not a page.
    call("GET", "/runs/123")
        .header("accept", "application/json")
        .send(&app)
        .await
        .expect_error(404, "not_found");
    // Nor is a write.
    call("POST", "/runs")
        .header("accept", BROWSER_ACCEPT)
        .send(&app)
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn assets_have_their_type_and_hashed_ones_are_cached_for_good() {
    let (_db, app) = app(built()).await;
    let script = browse(&app, "/assets/index-3f2a9c1e.js").await.expect(200);
    assert_eq!(script.text(), SCRIPT);
    let script_type = header(&script, "content-type");
    assert!(
        script_type == "text/javascript; charset=utf-8"
            || script_type == "application/javascript; charset=utf-8",
        "{script_type}"
    );
    let forever = "public, max-age=31536000, immutable";
    assert_eq!(header(&script, "cache-control"), forever);

    let style = browse(&app, "/assets/index-77aa00bb.css").await.expect(200);
    assert_eq!(style.text(), STYLE);
    assert_eq!(header(&style, "content-type"), "text/css; charset=utf-8");
    assert_eq!(header(&style, "cache-control"), forever);

    // Outside `assets/` names are not content-hashed: revalidated on every use.
    let icon = browse(&app, "/favicon.svg").await.expect(200);
    assert_eq!(icon.text(), ICON);
    assert_eq!(header(&icon, "content-type"), "image/svg+xml");
    assert_eq!(header(&icon, "cache-control"), "no-cache");
}

#[tokio::test]
async fn a_missing_asset_is_a_plain_404() {
    let (_db, app) = app(built()).await;
    for uri in [
        "/assets/index-00000000.js",
        "/assets/",
        "/assets/nested/x.css",
    ] {
        let reply = browse(&app, uri).await.expect(404);
        assert_eq!(
            header(&reply, "content-type"),
            "text/plain; charset=utf-8",
            "{uri}"
        );
        assert!(!reply.text().contains("<html"), "{uri}: {}", reply.text());
    }
}

#[tokio::test]
async fn server_paths_never_fall_back_to_html() {
    for dashboard in [built(), not_built()] {
        let (_db, app) = app(dashboard).await;
        for uri in [
            "/api/v1/nope",
            "/api/v1/runs/not-a-route/at-all",
            "/api",
            "/api/v2/runs",
            "/healthz/x",
            "/readyz/x",
            "/metrics/x",
        ] {
            let reply = browse(&app, uri).await.expect_error(404, "not_found");
            assert!(!reply.text().contains("<html"), "{uri}");
        }
        // Wrong methods on API routes keep their envelope too.
        call("PUT", "/api/v1/runs")
            .header("accept", BROWSER_ACCEPT)
            .send(&app)
            .await
            .expect_error(405, "method_not_allowed");
        // And known ones still answer.
        browse(&app, "/healthz").await.expect(200);
    }
}

#[tokio::test]
async fn dashboard_responses_carry_security_headers() {
    let (_db, app) = app(built()).await;
    for uri in [
        "/",
        "/runs/123",
        "/assets/index-3f2a9c1e.js",
        "/favicon.svg",
    ] {
        let reply = browse(&app, uri).await.expect(200);
        assert_eq!(
            header(&reply, "content-security-policy"),
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; \
             worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; \
             form-action 'self'; object-src 'none'",
            "{uri}"
        );
        assert_eq!(header(&reply, "x-content-type-options"), "nosniff", "{uri}");
        assert_eq!(header(&reply, "referrer-policy"), "same-origin", "{uri}");
        assert_eq!(header(&reply, "x-frame-options"), "DENY", "{uri}");
    }
    // The API's answers are never sniffed either, errors included.
    for (uri, status) in [
        ("/api/v1/openapi.json", 200),
        ("/api/v1/runs", 401),
        ("/api/v1/nope", 404),
        ("/healthz", 200),
    ] {
        let reply = call("GET", uri).send(&app).await.expect(status);
        assert_eq!(header(&reply, "x-content-type-options"), "nosniff", "{uri}");
    }
}

#[tokio::test]
async fn without_a_build_the_root_says_how_to_build_it() {
    let dashboard = not_built();
    assert!(!dashboard.is_built());
    assert!(built().is_built());
    let (_db, app) = app(dashboard).await;
    for uri in ["/", "/runs/123", "/login?first-login=x"] {
        let reply = browse(&app, uri).await.expect(200);
        assert_eq!(header(&reply, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&reply, "cache-control"), "no-cache");
        assert_eq!(header(&reply, "x-frame-options"), "DENY");
        let page = reply.text();
        for needle in [
            "dashboard was not built into this binary",
            "npm ci &amp;&amp; npm run build",
            "rebuild <code>flowo</code>",
            "<code>/api/v1</code> works regardless",
        ] {
            assert!(page.contains(needle), "{uri}: {needle:?} in {page}");
        }
    }
    browse(&app, "/assets/index-3f2a9c1e.js").await.expect(404);
    // The API is unaffected.
    browse(&app, "/api/v1/openapi.json").await.expect(200);
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let (_db, app) = app(built()).await;
    for (uri, length) in [
        ("/", INDEX_HTML.len()),
        ("/runs/123", INDEX_HTML.len()),
        ("/assets/index-3f2a9c1e.js", SCRIPT.len()),
    ] {
        let reply = call("HEAD", uri)
            .header("accept", BROWSER_ACCEPT)
            .send(&app)
            .await
            .expect(200);
        assert!(reply.body.is_empty(), "{uri}: {:?}", reply.text());
        assert_eq!(
            header(&reply, "content-length"),
            length.to_string(),
            "{uri}"
        );
        assert!(header(&reply, "content-type").starts_with("text/"), "{uri}");
    }
    let reply = call("HEAD", "/assets/gone.js").send(&app).await.expect(404);
    assert!(reply.body.is_empty());
}

#[tokio::test]
async fn responses_are_compressed_when_the_client_accepts_it() {
    let (_db, app) = app(built()).await;
    for uri in ["/assets/index-3f2a9c1e.js", "/runs/123"] {
        let expected = if uri.starts_with("/assets/") {
            SCRIPT
        } else {
            INDEX_HTML
        };
        let reply = call("GET", uri)
            .header("accept", BROWSER_ACCEPT)
            .header("accept-encoding", "gzip")
            .send(&app)
            .await
            .expect(200);
        assert_eq!(header(&reply, "content-encoding"), "gzip", "{uri}");
        assert!(
            header(&reply, "vary").contains("accept-encoding"),
            "{:?}",
            reply.headers
        );
        let mut text = String::new();
        flate2::read::GzDecoder::new(&reply.body[..])
            .read_to_string(&mut text)
            .expect("a gzip body");
        assert_eq!(text, expected, "{uri}");

        let reply = call("GET", uri)
            .header("accept", BROWSER_ACCEPT)
            .header("accept-encoding", "br")
            .send(&app)
            .await
            .expect(200);
        assert_eq!(header(&reply, "content-encoding"), "br", "{uri}");

        let plain = browse(&app, uri).await.expect(200);
        assert!(plain.headers.get("content-encoding").is_none(), "{uri}");
        assert_eq!(plain.text(), expected);
    }
}

#[tokio::test]
async fn the_default_configuration_serves_what_was_embedded() {
    let embedded = Dashboard::embedded();
    let (_db, app) = app(HttpConfig::default().dashboard).await;
    let reply = browse(&app, "/").await.expect(200);
    assert_eq!(header(&reply, "content-type"), "text/html; charset=utf-8");
    assert_eq!(
        reply.text().contains("not built into this binary"),
        !embedded.is_built(),
        "{embedded:?}"
    );
}

/// The build's compressed copies (`x.js.br`, `x.js.gz`) are served as they are when the client
/// takes that encoding (brotli first), so nothing is compressed per request; the others get the
/// plain file.
#[tokio::test]
async fn precompressed_copies_are_served_as_they_are() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, SCRIPT.as_bytes()).expect("gzip");
    let gz = gz.finish().expect("gzip");
    // Not real brotli: the server must pass the build's bytes through untouched.
    let br = b"brotli bytes of the script".to_vec();
    let dashboard = Dashboard::from_files([
        ("index.html", INDEX_HTML.as_bytes().to_vec()),
        ("assets/index-3f2a9c1e.js", SCRIPT.as_bytes().to_vec()),
        ("assets/index-3f2a9c1e.js.br", br.clone()),
        ("assets/index-3f2a9c1e.js.gz", gz.clone()),
    ]);
    let (_db, app) = app(dashboard).await;
    let uri = "/assets/index-3f2a9c1e.js";
    for (accept, encoding, body) in [
        ("gzip, deflate, br, zstd", Some("br"), &br[..]),
        ("br;q=0, gzip", Some("gzip"), &gz[..]),
        ("identity", None, SCRIPT.as_bytes()),
    ] {
        let reply = call("GET", uri)
            .header("accept-encoding", accept)
            .send(&app)
            .await
            .expect(200);
        assert_eq!(
            reply
                .headers
                .get("content-encoding")
                .map(|v| v.to_str().expect("ASCII")),
            encoding,
            "{accept}"
        );
        assert_eq!(&reply.body[..], body, "{accept}");
        assert!(
            header(&reply, "content-type").starts_with("text/javascript"),
            "{accept}"
        );
        assert_eq!(
            header(&reply, "cache-control"),
            "public, max-age=31536000, immutable"
        );
    }
}
