//! The HTTP/MCP surface of `run()` on a real socket: authentication at the HTTP layer, plain
//! JSON for JSON-only clients, sessions, health, host checks, context echo, idempotent replays.

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use crate::support;

/// The demo agent on a free port.
struct Server(support::Running);

impl std::ops::Deref for Server {
    type Target = support::Running;

    fn deref(&self) -> &support::Running {
        &self.0
    }
}

impl Server {
    async fn start() -> Server {
        Server(support::Running::start(|_| {}).await)
    }

    async fn stop(self) {
        self.0.stop().await;
    }

    async fn post(&self, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(format!("{}/mcp", self.base))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .json(&body);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        request.send().await.unwrap()
    }

    async fn call(&self, token: Option<&str>, tool: &str, arguments: Value) -> Value {
        let response = self
            .post(token, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}))
            .await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
        let body: Value = response.json().await.unwrap();
        body["result"].clone()
    }
}

#[tokio::test]
async fn protected_tools_need_a_valid_token_at_the_http_layer() {
    let server = Server::start().await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_accounts", "arguments": {}}});
    let anonymous = server.post(None, call.clone()).await;
    assert_eq!(anonymous.status(), 401);
    let challenge = anonymous.headers()[WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer realm=\"http://127.0.0.1:"), "{challenge}");
    let bogus = server.post(Some("not-a-real-token"), call.clone()).await;
    assert_eq!(bogus.status(), 401);
    assert!(bogus.headers()[WWW_AUTHENTICATE].to_str().unwrap().contains("error=\"invalid_token\""));
    let result = server.call(Some("test-token"), "list_accounts", json!({})).await;
    assert_eq!(result["isError"], false);
    let seed_header = reqwest::Client::new()
        .post(format!("{}/mcp", server.base))
        .header(ACCEPT, "application/json")
        .header("x-adcp-auth", "test-token")
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(seed_header.status(), 200, "x-adcp-auth works too");
    server.stop().await;
}

#[tokio::test]
async fn discovery_works_without_credentials_and_echoes_context() {
    let server = Server::start().await;
    let result = server.call(None, "get_adcp_capabilities", json!({"context": {"trace": "t-1"}})).await;
    let content = &result["structuredContent"];
    assert_eq!(content["status"], "completed");
    assert_eq!(content["adcp"]["major_versions"], json!([3]));
    assert_eq!(content["context"], json!({"trace": "t-1"}));
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, content, "text fallback carries the same object");

    let error = server.call(None, "get_products", json!({"buying_mode": "bogus", "context": {"trace": "t-2"}})).await;
    assert_eq!(error["isError"], true);
    assert_eq!(error["structuredContent"]["adcp_error"]["code"], "INVALID_REQUEST");
    assert_eq!(error["structuredContent"]["adcp_error"]["field"], "buying_mode");
    assert_eq!(error["structuredContent"]["errors"][0]["code"], "INVALID_REQUEST");
    assert_eq!(error["structuredContent"]["context"], json!({"trace": "t-2"}));

    let version =
        server.call(None, "get_products", json!({"adcp_major_version": 99, "buying_mode": "wholesale"})).await;
    assert_eq!(version["structuredContent"]["adcp_error"]["code"], "VERSION_UNSUPPORTED");
    let ok = server.call(None, "get_products", json!({"adcp_major_version": 3, "buying_mode": "wholesale"})).await;
    assert_eq!(ok["isError"], false);
    server.stop().await;
}

#[tokio::test]
async fn sessions_start_with_initialize_and_unknown_hosts_are_refused() {
    let server = Server::start().await;
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let response = reqwest::Client::new()
        .post(format!("{}/mcp", server.base))
        .header(ACCEPT, "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("mcp-session-id"), "stateful clients get a session");

    let json_only = server.post(None, initialize).await;
    assert_eq!(json_only.status(), 200, "JSON-only clients are never refused with 406");
    let body: Value = json_only.json().await.unwrap();
    assert!(body["result"]["serverInfo"]["name"].is_string());

    let rebinding = reqwest::Client::new()
        .post(format!("{}/mcp", server.base))
        .header(HOST, "evil.example")
        .header(ACCEPT, "application/json")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rebinding.status(), 403);
    let health = reqwest::get(format!("{}/healthz", server.base)).await.unwrap();
    assert_eq!(health.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn sync_accounts_is_idempotent_per_key() {
    let server = Server::start().await;
    let request = json!({
        "idempotency_key": "sync-accounts-key-0001",
        "accounts": [{"brand": {"domain": "acme.example"}, "operator": "acme.example", "billing": "operator"}],
        "context": {"n": 1}
    });
    let first = server.call(Some("test-token"), "sync_accounts", request.clone()).await;
    assert_eq!(first["structuredContent"]["accounts"][0]["action"], "created");
    assert!(first["structuredContent"].get("replayed").is_none());
    let mut again = request.clone();
    again["context"] = json!({"n": 2});
    let replay = server.call(Some("test-token"), "sync_accounts", again).await;
    assert_eq!(replay["structuredContent"]["replayed"], true);
    assert_eq!(replay["structuredContent"]["accounts"], first["structuredContent"]["accounts"]);
    assert_eq!(replay["structuredContent"]["context"], json!({"n": 2}), "context is the caller's, not the cache's");
    let mut changed = request.clone();
    changed["accounts"][0]["billing"] = json!("agent");
    let conflict = server.call(Some("test-token"), "sync_accounts", changed).await;
    let error = &conflict["structuredContent"]["adcp_error"];
    assert_eq!(error["code"], "IDEMPOTENCY_CONFLICT");
    assert!(error.get("field").is_none() && error.get("details").is_none(), "code and message only");
    let missing =
        server.call(Some("test-token"), "sync_accounts", json!({"accounts": request["accounts"].clone()})).await;
    assert_eq!(missing["structuredContent"]["adcp_error"]["field"], "idempotency_key");
    let fresh = server
        .call(
            Some("test-token"),
            "sync_accounts",
            json!({"idempotency_key": "sync-accounts-key-0002", "accounts": request["accounts"].clone()}),
        )
        .await;
    assert_eq!(fresh["structuredContent"]["accounts"][0]["action"], "unchanged");
    server.stop().await;
}

/// A request signed like the AdCP compliance suite signs it, with its published test key.
fn signed_probe(base: &str, path: &str, nonce: &str, body: &str) -> reqwest::RequestBuilder {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::Signer;
    // test-ed25519-2026 of compliance/3.0.6/test-vectors/request-signing/keys.json (public test material).
    let d = URL_SAFE_NO_PAD.decode("A_rC9vrZ2D1xJWLBXGdRW7CYLAh_f83Gqv8nhly7N2M").unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&d.try_into().unwrap());
    let url = format!("{base}{path}");
    let (target, authority) = sales_agent::rfc9421::canonical_target(&url).unwrap();
    let created = chrono::Utc::now().timestamp();
    let params = format!(
        "(\"@method\" \"@target-uri\" \"@authority\" \"content-type\");created={created};expires={};nonce=\"{nonce}\";\
         keyid=\"test-ed25519-2026\";alg=\"ed25519\";tag=\"adcp/request-signing/v1\"",
        created + 300
    );
    let components = [
        ("@method".to_owned(), "POST".to_owned()),
        ("@target-uri".to_owned(), target),
        ("@authority".to_owned(), authority),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    let signature = key.sign(sales_agent::rfc9421::signature_base(&components, &params).as_bytes());
    reqwest::Client::new()
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header("signature-input", format!("sig1={params}"))
        .header("signature", format!("sig1=:{}:", URL_SAFE_NO_PAD.encode(signature.to_bytes())))
        .body(body.to_owned())
}

#[tokio::test]
async fn signed_requests_are_verified_at_the_grading_endpoint() {
    let server = Server::start().await;
    let path = "/mcp/adcp/create_media_buy";
    let unsigned = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .header(CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(unsigned.headers()[WWW_AUTHENTICATE], "Signature error=\"request_signature_required\"");

    let body = r#"{"plan_id":"plan_001"}"#;
    let accepted = signed_probe(&server.base, path, "nonce-it-0001", body).send().await.unwrap();
    assert_eq!(accepted.status(), 200);
    let verified: Value = accepted.json().await.unwrap();
    assert_eq!(verified, json!({"verified": true, "keyid": "test-ed25519-2026", "operation": "create_media_buy"}));
    let replayed = signed_probe(&server.base, path, "nonce-it-0001", body).send().await.unwrap();
    assert_eq!(replayed.status(), 401);
    assert_eq!(replayed.headers()[WWW_AUTHENTICATE], "Signature error=\"request_signature_replayed\"");
    // Signed for one path, sent to another: the signature does not cover it.
    let moved = signed_probe(&server.base, path, "nonce-it-0002", body)
        .build()
        .map(|mut r| {
            *r.url_mut() = format!("{}/mcp/adcp/update_media_buy", server.base).parse().unwrap();
            r
        })
        .unwrap();
    let refused = reqwest::Client::new().execute(moved).await.unwrap();
    assert_eq!(refused.headers()[WWW_AUTHENTICATE], "Signature error=\"request_signature_invalid\"");

    let capabilities = server.call(None, "get_adcp_capabilities", json!({})).await;
    assert_eq!(capabilities["structuredContent"]["request_signing"]["supported"], true);
    server.stop().await;
}

#[test]
fn the_public_test_keys_are_trusted_only_in_sandbox_deployments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.toml");
    std::fs::write(
        &path,
        "[server]\nrequest_signing_test_keys = true\n\n[[tenants]]\ntenant_id = \"live\"\nname = \"Live\"\nsandbox = false\n",
    )
    .unwrap();
    let refused = sales_agent::config::Config::load(Some(&path), sales_agent::config::Overrides::default());
    assert!(refused.unwrap_err().to_string().contains("request_signing_test_keys"));
    std::fs::write(&path, "[[tenants]]\ntenant_id = \"live\"\nname = \"Live\"\nsandbox = false\n").unwrap();
    let live = sales_agent::config::Config::load(Some(&path), sales_agent::config::Overrides::default()).unwrap();
    assert!(!live.request_signing_test_keys, "off unless asked for");
    assert!(support::demo_config("sqlite::memory:").request_signing_test_keys, "on in the demo");
}

#[test]
fn only_sandbox_tenants_may_approve_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.toml");
    let tenant = |sandbox: bool| {
        format!(
            "[[tenants]]\ntenant_id = \"t\"\nname = \"T\"\nsandbox = {sandbox}\n\n[tenants.approvals]\nguaranteed_io = true\nsandbox_auto_approve = true\n"
        )
    };
    std::fs::write(&path, tenant(false)).unwrap();
    let refused = sales_agent::config::Config::load(Some(&path), sales_agent::config::Overrides::default());
    assert!(refused.unwrap_err().to_string().contains("sandbox_auto_approve"));
    std::fs::write(&path, tenant(true)).unwrap();
    let loaded = sales_agent::config::Config::load(Some(&path), sales_agent::config::Overrides::default()).unwrap();
    let approvals = &loaded.tenants[0].tenant.approvals;
    assert!(approvals.guaranteed_io && approvals.sandbox_auto_approve);
}

#[tokio::test]
async fn a_signed_tool_call_is_authenticated_by_its_signature() {
    let server = Server::start().await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_accounts", "arguments": {}}})
        .to_string();
    let signed = signed_probe(&server.base, "/mcp", "nonce-mcp-0001", &call).header(ACCEPT, "application/json");
    let answered = signed.send().await.unwrap();
    assert_eq!(answered.status(), 200);
    let body: Value = answered.json().await.unwrap();
    assert_eq!(body["result"]["isError"], false, "{body}");

    // A replayed signature is refused, whatever token comes with it.
    let replayed = signed_probe(&server.base, "/mcp", "nonce-mcp-0001", &call)
        .header(ACCEPT, "application/json")
        .header(AUTHORIZATION, "Bearer test-token")
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 401);
    assert_eq!(replayed.headers()[WWW_AUTHENTICATE], "Signature error=\"request_signature_replayed\"");
    // Without a signature, tokens work as before.
    assert_eq!(server.call(Some("test-token"), "list_accounts", json!({})).await["isError"], false);
    server.stop().await;
}

#[test]
fn a_tenant_books_in_the_ad_server_it_names_with_credentials_from_a_file() {
    use sales_agent::config::{AdServerConfig, Config, Overrides};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kevel.toml");
    let tenant = |kevel: &str| {
        format!(
            "[[tenants]]\ntenant_id = \"t\"\nname = \"T\"\n\n[tenants.ad_server]\nadapter = \"kevel\"\n\n[tenants.ad_server.kevel]\n{kevel}\n"
        )
    };
    std::fs::write(dir.path().join("kevel.key"), "  secret-key\n").unwrap();
    std::fs::write(
        &path,
        tenant(
            "api_key_file = \"kevel.key\"\nbase_url = \"http://127.0.0.1:9\"\ndefault_priority_id = 3\n\n[tenants.ad_server.kevel.products.\"p1\"]\npriority_id = 5\nsite_zones = [{ site_id = 1, zone_id = 2 }]",
        ),
    )
    .unwrap();
    let loaded = Config::load(Some(&path), Overrides::default()).unwrap();
    let AdServerConfig::Kevel(settings) = &loaded.tenants[0].ad_server else { panic!("kevel expected") };
    assert_eq!((settings.api_key.as_str(), settings.base_url.as_str()), ("secret-key", "http://127.0.0.1:9"));
    assert_eq!((settings.default_priority_id, settings.dry_run), (3, false));
    assert_eq!(settings.products["p1"].site_zones, vec![(1, Some(2))]);
    assert!(!format!("{loaded:?}").contains("secret-key"), "credentials never show in debug output");

    for (kevel, refusal) in [
        ("", "needs an API key"),
        ("api_key_env = \"SA_TEST_NO_SUCH_VARIABLE\"", "needs an API key"),
        ("api_key_file = \"missing.key\"", "reading ad_server.kevel.api_key"),
        ("api_key_file = \"kevel.key\"\nbase_url = \"ftp://x\"", "not an http(s) URL"),
    ] {
        std::fs::write(&path, tenant(kevel)).unwrap();
        let error = Config::load(Some(&path), Overrides::default()).unwrap_err();
        assert!(format!("{error:#}").contains(refusal), "{kevel}: {error:#}");
    }
    // A dry-run needs no credentials, and the command line can switch every tenant.
    std::fs::write(&path, tenant("")).unwrap();
    let dry = Config::load(Some(&path), Overrides { dry_run: Some(true), ..Overrides::default() }).unwrap();
    assert!(matches!(&dry.tenants[0].ad_server, AdServerConfig::Kevel(s) if s.dry_run));
    let mock = Config::load(Some(&path), Overrides { adapter: Some("mock".into()), ..Overrides::default() }).unwrap();
    assert_eq!(mock.tenants[0].ad_server, AdServerConfig::Mock);
}

#[test]
fn a_gam_tenant_reads_its_service_account_and_product_mapping() {
    use sales_agent::config::{AdServerConfig, Config, Overrides};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gam.toml");
    let tenant = |gam: &str| {
        format!(
            "[[tenants]]\ntenant_id = \"t\"\nname = \"T\"\n\n[tenants.ad_server]\nadapter = \"gam\"\n\n[tenants.ad_server.gam]\n{gam}\n"
        )
    };
    std::fs::write(dir.path().join("key.json"), include_str!("../fixtures/gam-service-account.json")).unwrap();
    let mapped = "network_code = \"12345678\"\nservice_account_key_file = \"key.json\"\ntime_zone = \"Europe/Berlin\"\n\
                  default_ad_unit_ids = [\"1\"]\nlocations = { \"US-NY\" = 21167 }\n\n\
                  [tenants.ad_server.gam.products.\"p1\"]\nad_unit_ids = [\"2\"]\nplacement_ids = [3]\n\
                  line_item_type = \"SPONSORSHIP\"\npriority = 4\nsizes = [\"300x250\", \"728x90\"]";
    std::fs::write(&path, tenant(mapped)).unwrap();
    let loaded = Config::load(Some(&path), Overrides::default()).unwrap();
    let AdServerConfig::Gam(settings) = &loaded.tenants[0].ad_server else { panic!("gam expected") };
    assert_eq!((settings.network_code.as_str(), settings.api_version.as_str()), ("12345678", "v202608"));
    assert_eq!(settings.base_url, "https://ads.google.com");
    assert_eq!(settings.time_zone.to_string(), "Europe/Berlin");
    let account = settings.service_account.as_ref().unwrap();
    assert_eq!(account.client_email, "sales-agent@adcp-test.iam.gserviceaccount.com");
    assert_eq!(account.token_uri, "http://127.0.0.1:1/token", "the token endpoint comes from the key file");
    let p1 = &settings.products["p1"];
    assert_eq!((p1.ad_unit_ids.clone(), p1.placement_ids.clone()), (vec!["2".to_owned()], vec![3]));
    assert_eq!((p1.line_item_type.as_deref(), p1.priority), (Some("SPONSORSHIP"), Some(4)));
    assert_eq!(p1.sizes, vec![(300, 250), (728, 90)]);
    assert_eq!(settings.locations["US-NY"], 21167);
    assert!(!format!("{loaded:?}").contains("PRIVATE KEY"), "credentials never show in debug output");
    assert_eq!(loaded.tenants[0].ad_server_refresh, std::time::Duration::from_secs(300), "read back every 5 minutes");
    let refreshed = |line: &str| {
        let file = format!(
            "[[tenants]]\ntenant_id = \"t\"\nname = \"T\"\n\n[tenants.ad_server]\nadapter = \"gam\"\n{line}\n\n\
             [tenants.ad_server.gam]\n{mapped}\n"
        );
        std::fs::write(&path, file).unwrap();
        Config::load(Some(&path), Overrides::default())
    };
    let every_minute = refreshed("refresh_seconds = 60").unwrap();
    assert_eq!(every_minute.tenants[0].ad_server_refresh, std::time::Duration::from_secs(60));
    let error = refreshed("refresh_seconds = 0").unwrap_err();
    assert!(format!("{error:#}").contains("refresh_seconds 0 must be between 1 and 86400"), "{error:#}");

    for (gam, refusal) in [
        ("network_code = \"12345678\"", "needs a service account key"),
        ("service_account_key_file = \"key.json\"", "needs ad_server.gam.network_code"),
        ("network_code = \"net\"\nservice_account_key_file = \"key.json\"", "is not a GAM network code"),
        (
            "network_code = \"1\"\nservice_account_key_file = \"missing.json\"",
            "reading ad_server.gam's service account key",
        ),
        ("network_code = \"1\"\nservice_account_key_env = \"PATH\"", "not a service-account key file"),
        ("network_code = \"1\"\nservice_account_key_file = \"key.json\"\napi_version = \"2026\"", "is not a version"),
        (
            "network_code = \"1\"\nservice_account_key_file = \"key.json\"\ntime_zone = \"Mars/Olympus\"",
            "not an IANA time zone",
        ),
        (
            "network_code = \"1\"\nservice_account_key_file = \"key.json\"\n[tenants.ad_server.gam.products.\"p\"]\nline_item_type = \"BIG\"",
            "is not one of",
        ),
        (
            "network_code = \"1\"\nservice_account_key_file = \"key.json\"\n[tenants.ad_server.gam.products.\"p\"]\nsizes = [\"wide\"]",
            "is not WIDTHxHEIGHT",
        ),
    ] {
        std::fs::write(&path, tenant(gam)).unwrap();
        let error = Config::load(Some(&path), Overrides::default()).unwrap_err();
        assert!(format!("{error:#}").contains(refusal), "{gam}: {error:#}");
    }
    // A dry-run needs neither credentials nor a network code.
    std::fs::write(&path, tenant("")).unwrap();
    let dry = Config::load(Some(&path), Overrides { dry_run: Some(true), ..Overrides::default() }).unwrap();
    assert!(matches!(&dry.tenants[0].ad_server, AdServerConfig::Gam(s) if s.dry_run && s.service_account.is_none()));
}

#[test]
fn a_triton_tenant_reads_its_login_and_paths() {
    use sales_agent::config::{AdServerConfig, Config, Overrides};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triton.toml");
    let tenant = |triton: &str| {
        format!(
            "[[tenants]]\ntenant_id = \"t\"\nname = \"T\"\n\n[tenants.ad_server]\nadapter = \"triton\"\n\n[tenants.ad_server.triton]\n{triton}\n"
        )
    };
    std::fs::write(dir.path().join("triton.password"), "s3cret\n").unwrap();
    let configured = "username = \"ops\"\npassword_file = \"triton.password\"\nbase_url = \"https://tap.example\"\n\
                      [tenants.ad_server.triton.paths]\nflight = \"/v2/flights/{flight_id}\"\n\
                      [tenants.ad_server.triton.products.\"audio\"]\nstation_ids = [\"WXYZ-FM\"]";
    std::fs::write(&path, tenant(configured)).unwrap();
    let loaded = Config::load(Some(&path), Overrides::default()).unwrap();
    let AdServerConfig::Triton(settings) = &loaded.tenants[0].ad_server else { panic!("triton expected") };
    assert_eq!((settings.username.as_str(), settings.password.as_str()), ("ops", "s3cret"));
    assert_eq!(settings.base_url, "https://tap.example");
    assert_eq!(settings.login_url, "https://login.tritondigital.com/oauth2/token");
    assert_eq!(settings.paths.flight, "/v2/flights/{flight_id}");
    assert_eq!(settings.paths.campaign, "/campaigns/{campaign_id}", "unset paths keep their defaults");
    assert_eq!(settings.products["audio"].station_ids, vec!["WXYZ-FM".to_owned()]);
    assert!(!format!("{loaded:?}").contains("s3cret"), "credentials never show in debug output");
    for (triton, refusal) in [
        ("username = \"ops\"", "needs Login API credentials"),
        ("username = \"ops\"\npassword_file = \"triton.password\"\nlogin_url = \"login\"", "not an http(s) URL"),
        (
            "username = \"ops\"\npassword_file = \"triton.password\"\n[tenants.ad_server.triton.paths]\nflight = \"flights\"",
            "must start with /",
        ),
    ] {
        std::fs::write(&path, tenant(triton)).unwrap();
        let error = Config::load(Some(&path), Overrides::default()).unwrap_err();
        assert!(format!("{error:#}").contains(refusal), "{triton}: {error:#}");
    }
    std::fs::write(&path, tenant("")).unwrap();
    let dry = Config::load(Some(&path), Overrides { dry_run: Some(true), ..Overrides::default() }).unwrap();
    assert!(matches!(&dry.tenants[0].ad_server, AdServerConfig::Triton(s) if s.dry_run));
}
