//! The MCP surface: the tool table, argument parsing, and the mapping of core results to AdCP
//! responses. Only this module and `http` know JSON-RPC and MCP.
//!
//! Each tool handler is thin: parse the arguments, check the caller, call one core function,
//! render the result. Responses are flat (DIGEST §2.2): the AdCP object is the MCP
//! `structuredContent`, with `status` and the echoed `context` at top level, and the same JSON
//! in `content[0].text`.

mod args;
mod error;
pub mod seed;
pub mod seed_assets;
pub mod seed_buying;
pub mod wire;
pub mod wire_buying;
pub mod wire_controller;
pub mod wire_creatives;
pub mod wire_delivery;
pub mod wire_feedback;
pub mod wire_macros;
pub mod wire_tasks;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, InitializeResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde_json::{Map, Value, json};
use sha2::Digest;
use tracing::Instrument;

pub use args::Args;

use crate::app::App;
use crate::core::buying::{Changed, Created, MediaBuyQuery};
use crate::core::idempotency::{self, Begin, IdempotencyScope};
use crate::core::ports::AuditFilter;
use crate::core::tasks::Resolution;
use crate::core::tenancy::Principal;
use crate::core::{
    Error, accounts, approval, buying, capabilities, creatives, delivery, discovery, feedback, macros, proposals,
};

/// The authenticated caller of a request, put into the HTTP request extensions by `http`.
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<Principal>);

/// Who may call a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; answers for the default tenant when anonymous.
    Public,
    /// Any authenticated principal.
    Principal,
    /// Publisher administrators (principals created with `--admin`).
    Admin,
    /// Principals of sandbox tenants; for everyone else the tool does not exist.
    Sandbox,
}

type Handler =
    for<'a> fn(&'a SalesAgent, Call) -> Pin<Box<dyn Future<Output = Result<Map<String, Value>, Error>> + Send + 'a>>;

struct ToolSpec {
    tool: Tool,
    access: Access,
    dialect: Dialect,
    /// Requests in the seed's form (which then answer in the seed dialect), for tools that take
    /// both.
    seed_form: Option<fn(&Args) -> bool>,
    handler: Handler,
}

/// How a tool answers: AdCP 3.0, or the seed documents' shapes and error format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Flat AdCP responses; errors as `adcp_error` + `errors[]`.
    Adcp,
    /// The seed-era tools: their own shapes; errors as `{"error": {code, message, field,
    /// suggestion}}`.
    Seed,
    /// The sandbox test controller: `success` plus its own arms, no `status`; errors as
    /// `{success: false, error, error_detail}`.
    Controller,
}

/// What a handler gets: the raw arguments, the caller and the testing hooks it asked for.
pub struct Call {
    pub args: Args,
    pub principal: Option<Principal>,
    pub hooks: Hooks,
}

/// The seed's testing hooks, from request headers: `X-Auto-Advance: true` approves at once what
/// would wait for a person, `X-Dry-Run: true` validates without writing. Core refuses both
/// outside sandbox tenants.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hooks {
    pub auto_advance: bool,
    pub dry_run: bool,
}

impl Hooks {
    fn from_headers(headers: &http::HeaderMap) -> Hooks {
        let on = |name: &str| {
            headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        };
        Hooks { auto_advance: on("x-auto-advance"), dry_run: on("x-dry-run") }
    }

    fn mutation<'a, T>(
        self,
        now: chrono::DateTime<chrono::Utc>,
        seal: &'a idempotency::Seal<'a, T>,
        original: &'a str,
    ) -> buying::Mutation<'a, T> {
        buying::Mutation {
            now,
            seal: Some(seal),
            request: original,
            wire: &wire_tasks::Deferred,
            dry_run: self.dry_run,
            auto_advance: self.auto_advance,
            rehearse: None,
        }
    }
}

/// The MCP server handle; cheap to clone (the streamable HTTP service makes one per session).
#[derive(Clone)]
pub struct SalesAgent {
    app: App,
    tools: Arc<Vec<ToolSpec>>,
}

/// Whether calling `tool` needs credentials. Unknown tools do, so that probing is not free.
pub fn requires_auth(tool: &str) -> bool {
    !matches!(tool_access(tool), Some(Access::Public))
}

fn tool_access(name: &str) -> Option<Access> {
    TOOL_ACCESS.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

const TOOL_ACCESS: &[(&str, Access)] = &[
    ("get_adcp_capabilities", Access::Public),
    ("get_products", Access::Public),
    ("list_creative_formats", Access::Public),
    ("list_authorized_properties", Access::Public),
    ("sync_accounts", Access::Principal),
    ("list_accounts", Access::Principal),
    ("create_media_buy", Access::Principal),
    ("update_media_buy", Access::Principal),
    ("get_media_buys", Access::Principal),
    ("sync_creatives", Access::Principal),
    ("list_creatives", Access::Principal),
    ("get_media_buy_delivery", Access::Principal),
    ("provide_performance_feedback", Access::Principal),
    ("update_performance_index", Access::Principal),
    ("get_creative_macros", Access::Public),
    ("validate_creative_macros", Access::Principal),
    ("process_creative_macros", Access::Admin),
    ("tasks/get", Access::Principal),
    ("tasks_get", Access::Principal),
    ("tasks/list", Access::Principal),
    ("tasks_list", Access::Principal),
    ("list_human_tasks", Access::Admin),
    ("get_pending_tasks", Access::Admin),
    ("create_human_task", Access::Admin),
    ("assign_task", Access::Admin),
    ("complete_task", Access::Admin),
    ("complete_human_task", Access::Admin),
    ("get_all_media_buy_delivery", Access::Principal),
    ("discover_products", Access::Public),
    ("list_products", Access::Public),
    ("get_targeting_capabilities", Access::Public),
    ("check_aee_requirements", Access::Public),
    ("get_creatives", Access::Principal),
    ("check_media_buy_status", Access::Principal),
    ("update_media_buy_status", Access::Principal),
    ("get_avails", Access::Principal),
    ("update_package", Access::Principal),
    ("add_creative_assets", Access::Principal),
    ("approve_adaptation", Access::Principal),
    ("get_audit_log", Access::Admin),
    ("review_pending_creatives", Access::Admin),
    ("comply_test_controller", Access::Sandbox),
];

fn spec<T: JsonSchema + 'static>(
    name: &'static str,
    description: &'static str,
    read_only: bool,
    handler: Handler,
) -> ToolSpec {
    let schema = rmcp::handler::server::tool::schema_for_type::<T>();
    let annotations = ToolAnnotations::new().read_only(read_only).destructive(false).idempotent(true).open_world(false);
    let access = tool_access(name).unwrap_or(Access::Principal);
    ToolSpec {
        tool: Tool::new(name, description, schema).annotate(annotations),
        access,
        dialect: Dialect::Adcp,
        seed_form: None,
        handler,
    }
}

/// `create_media_buy`'s published schema also describes seed 001's form: packages may be the
/// package ids `get_avails` returned, with a numeric `total_budget`, one seed `targeting_overlay`
/// and `pacing`.
fn with_seed_create_form(mut spec: ToolSpec) -> ToolSpec {
    let mut schema = (*spec.tool.input_schema).clone();
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        if let Some(Value::Object(packages)) = properties.get_mut("packages")
            && let Some(items) = packages.remove("items")
        {
            packages.insert(
                "items".into(),
                json!({"anyOf": [items, {"type": "string", "description": "Seed form: a package_id from get_avails."}]}),
            );
        }
        if let Some(total) = properties.remove("total_budget") {
            properties.insert(
                "total_budget".into(),
                json!({"anyOf": [total, {"type": "number", "description": "Seed form: the budget to spread over the quoted packages, in proportion to their cost."}]}),
            );
        }
        properties.insert(
            "targeting_overlay".into(),
            json!({"type": ["object", "null"], "description": "Seed form: one targeting overlay for every package, in the seed's keys (geo_country_any_of, geo_region_any_of, device_type_any_of, os_any_of, language_any_of, frequency_cap, ...)."}),
        );
        properties.insert(
            "pacing".into(),
            json!({"type": ["string", "null"], "enum": ["even", "asap", "front_loaded", null], "description": "Seed form: pacing of every package."}),
        );
        properties.insert(
            "daily_budget".into(),
            json!({"type": ["number", "null"], "description": "Seed form: a daily spend cap for the buy, shared by the packages in proportion to their budgets; null for none."}),
        );
    }
    spec.tool.input_schema = std::sync::Arc::new(schema);
    spec.seed_form = Some(seed_buying::is_seed_create);
    spec
}

/// `update_media_buy`'s published schema also describes seed 001's top-level keys.
fn with_seed_update_form(mut spec: ToolSpec) -> ToolSpec {
    let mut schema = (*spec.tool.input_schema).clone();
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for (key, value) in [
            (
                "active",
                json!({"type": ["boolean", "null"], "description": "Seed form: false pauses the buy, true resumes it."}),
            ),
            (
                "flight_start_date",
                json!({"type": ["string", "null"], "description": "Seed form: new first day (YYYY-MM-DD, UTC)."}),
            ),
            (
                "flight_end_date",
                json!({"type": ["string", "null"], "description": "Seed form: new last day (YYYY-MM-DD, UTC), inclusive."}),
            ),
            (
                "total_budget",
                json!({"type": ["number", "null"], "description": "Seed form: new total, shared among the packages given no budget in proportion to their budgets."}),
            ),
        ] {
            properties.insert(key.into(), value);
        }
    }
    spec.tool.input_schema = std::sync::Arc::new(schema);
    spec.seed_form = Some(seed_buying::is_seed_update);
    spec
}

/// A seed-era tool: the seed's shapes and error format.
fn seed_spec<T: JsonSchema + 'static>(
    name: &'static str,
    description: &'static str,
    read_only: bool,
    handler: Handler,
) -> ToolSpec {
    ToolSpec { dialect: Dialect::Seed, ..spec::<T>(name, description, read_only, handler) }
}

impl SalesAgent {
    pub fn new(app: App) -> SalesAgent {
        let tools = vec![
            spec::<wire::GetCapabilitiesRequest>(
                "get_adcp_capabilities",
                "Discover what this AdCP sales agent supports: protocol versions, idempotency, accounts, pricing models, portfolio and policies. No credentials needed.",
                true,
                |agent, call| Box::pin(agent.get_adcp_capabilities(call)),
            ),
            spec::<wire::GetProductsRequest>(
                "get_products",
                "Find advertising products. buying_mode \"brief\" ranks the catalog against a natural-language brief and says why in brief_relevance; \"wholesale\" returns the catalog; \"refine\" adjusts an earlier answer. Supports filters and cursor pagination.",
                true,
                |agent, call| Box::pin(agent.get_products(call)),
            ),
            spec::<wire::ListFormatsRequest>(
                "list_creative_formats",
                "List the creative formats this publisher accepts, with each asset's requirements (sizes, file types, durations, file size); get_creative_macros lists the macros each format supports. Filter by format_ids, asset_types, dimensions or name.",
                true,
                |agent, call| Box::pin(agent.list_creative_formats(call)),
            ),
            spec::<wire::ListPropertiesRequest>(
                "list_authorized_properties",
                "List the publisher's properties (sites, apps, streams), its publisher domains and advertising policies (prohibited categories, creative requirements).",
                true,
                |agent, call| Box::pin(agent.list_authorized_properties(call)),
            ),
            spec::<wire::SyncAccountsRequest>(
                "sync_accounts",
                "Declare the accounts you buy for (brand, operator, billing, payment terms). Each is created, updated, left unchanged or refused with a reason. Requires idempotency_key.",
                false,
                |agent, call| Box::pin(agent.sync_accounts(call)),
            ),
            spec::<wire::ListAccountsRequest>(
                "list_accounts",
                "List the accounts you can buy for, with their status. Cursor pagination.",
                true,
                |agent, call| Box::pin(agent.list_accounts(call)),
            ),
            with_seed_create_form(spec::<wire_buying::schemas::CreateMediaBuyRequest>(
                "create_media_buy",
                "Buy products: packages of (product_id, pricing_option_id, budget[, bid_price]) over a flight, for a brand under an account. Returns media_buy_id, package_ids, status (pending_creatives until creatives are assigned), creative_deadline and revision. Requires idempotency_key. Also takes seed 001's form: packages as the package ids get_avails returned, total_budget (a number, spread over them), one targeting_overlay in the seed's keys, pacing; answered in the seed's shape with request_form seed_001.",
                false,
                |agent, call| {
                    Box::pin(async move {
                        if seed_buying::is_seed_create(&call.args) {
                            agent.create_media_buy_seed(call).await
                        } else {
                            agent.create_media_buy(call).await
                        }
                    })
                },
            )),
            with_seed_update_form(spec::<wire_buying::schemas::UpdateMediaBuyRequest>(
                "update_media_buy",
                "Change a media buy with PATCH semantics: paused true/false, canceled true, flight dates, per-package budget, bid, pacing, goal, dates, targeting and creative assignments, new packages. Send revision for optimistic concurrency. Requires idempotency_key. Also takes seed 001's form (active, flight_start_date, flight_end_date, a numeric total_budget shared among the packages given no budget, packages with active, cpm, daily caps, creative_ids); answered in the seed's shape with request_form seed_001.",
                false,
                |agent, call| {
                    Box::pin(async move {
                        if seed_buying::is_seed_update(&call.args) {
                            agent.update_media_buy_seed(call).await
                        } else {
                            agent.update_media_buy(call).await
                        }
                    })
                },
            )),
            spec::<wire_buying::schemas::GetMediaBuysRequest>(
                "get_media_buys",
                "Read your media buys with their packages, status, valid actions and optional history; by media_buy_ids or by status (default active). Cursor pagination.",
                true,
                |agent, call| Box::pin(agent.get_media_buys(call)),
            ),
            spec::<wire_creatives::schemas::SyncCreativesRequest>(
                "sync_creatives",
                "Upload or update creatives in your library (each validated against its format's asset requirements) and assign them to packages. Per-creative action, status, errors and assignment results. Requires idempotency_key.",
                false,
                |agent, call| Box::pin(agent.sync_creatives(call)),
            ),
            spec::<wire_creatives::schemas::ListCreativesRequest>(
                "list_creatives",
                "List your creative library: filter by status, ids, name, tags, formats, media buys or packages; sort; cursor pagination. Archived creatives only when asked for by status.",
                true,
                |agent, call| Box::pin(agent.list_creatives(call)),
            ),
            spec::<wire_delivery::schemas::GetMediaBuyDeliveryRequest>(
                "get_media_buy_delivery",
                "Delivery of your media buys from the ad server: impressions, spend, clicks and completions in total, per package (with pacing index and delivery status) and per day. By media_buy_ids or status; optional date range.",
                true,
                |agent, call| Box::pin(agent.get_media_buy_delivery(call)),
            ),
            spec::<wire_feedback::schemas::ProvideFeedbackRequest>(
                "provide_performance_feedback",
                "Tell the seller how a media buy (or one package or creative) performed over a period: performance_index 1.0 = as expected, above = better. Feedback informs product recommendations. Requires idempotency_key.",
                false,
                |agent, call| Box::pin(agent.provide_performance_feedback(call)),
            ),
            seed_spec::<wire_feedback::schemas::UpdatePerformanceIndexRequest>(
                "update_performance_index",
                "Seed-era performance feedback: performance_data per product (answers with suggested optimization actions per package) or feedback scores from 1 to 5 (answers with the recorded index).",
                false,
                |agent, call| Box::pin(agent.update_performance_index(call)),
            ),
            seed_spec::<wire_macros::schemas::GetCreativeMacrosRequest>(
                "get_creative_macros",
                "List the creative macros this seller fills ({CACHEBUSTER}, {CITY}, ...; seed-era ${DCO_GEO_CITY} names as aliases), with category, where each value comes from, and the formats supporting each. Filter by category (dco, measurement, privacy) or format_id.",
                true,
                |agent, call| Box::pin(agent.get_creative_macros(call)),
            ),
            seed_spec::<wire_macros::schemas::ValidateCreativeMacrosRequest>(
                "validate_creative_macros",
                "Check the macros in creative content before submitting it: macros found, unknown ones, ones the given format does not support, and the impression context fields they need.",
                true,
                |agent, call| Box::pin(agent.validate_creative_macros(call)),
            ),
            seed_spec::<wire_macros::schemas::ProcessCreativeMacrosRequest>(
                "process_creative_macros",
                "Admin only: preview macro substitution on creative content with a sample impression context (aee_context), explicit macro_values and buy, package and creative ids. Unfilled macros stay in place and are listed.",
                true,
                |agent, call| Box::pin(agent.process_creative_macros(call)),
            ),
            spec::<wire_tasks::schemas::TasksGetRequest>(
                "tasks/get",
                "Poll a task from a submitted response (an operation waiting for publisher approval): status (submitted, working, completed, failed, rejected), and once done the operation's response in result (media_buy_id, packages, ...). Only your own tasks.",
                true,
                |agent, call| Box::pin(agent.tasks_get(call)),
            ),
            spec::<wire_tasks::schemas::TasksGetRequest>(
                "tasks_get",
                "Same as tasks/get, for clients whose tool names cannot contain a slash.",
                true,
                |agent, call| Box::pin(agent.tasks_get(call)),
            ),
            spec::<wire_tasks::schemas::TasksListRequest>(
                "tasks/list",
                "List your tasks (operations that waited for publisher approval), filtered by status or task type, newest first; for reconciliation after lost webhooks. Cursor pagination.",
                true,
                |agent, call| Box::pin(agent.tasks_list(call)),
            ),
            spec::<wire_tasks::schemas::TasksListRequest>(
                "tasks_list",
                "Same as tasks/list, for clients whose tool names cannot contain a slash.",
                true,
                |agent, call| Box::pin(agent.tasks_list(call)),
            ),
            seed_spec::<wire_tasks::schemas::ListHumanTasksRequest>(
                "list_human_tasks",
                "Admin only: the human task queue (approvals and manual work) of every buyer, filtered by status (pending, assigned, in_progress, completed, failed, escalated), task_type, priority, overdue or principal. Oldest first; cursor pagination.",
                true,
                |agent, call| Box::pin(agent.list_human_tasks(call)),
            ),
            seed_spec::<wire_tasks::schemas::GetPendingTasksRequest>(
                "get_pending_tasks",
                "Admin only: open tasks waiting for a decision (pending, assigned, in progress or escalated), with total and overdue counts; filter by task_type and priority.",
                true,
                |agent, call| Box::pin(agent.get_pending_tasks(call)),
            ),
            seed_spec::<wire_tasks::schemas::CreateHumanTaskRequest>(
                "create_human_task",
                "Admin only: put a task for publisher ops in the queue (task_type, priority, description, due_in_hours, the buy or buyer it concerns).",
                false,
                |agent, call| Box::pin(agent.create_human_task(call)),
            ),
            seed_spec::<wire_tasks::schemas::AssignTaskRequest>(
                "assign_task",
                "Admin only: assign an open task to a person; start true marks it in progress (buyers then see working).",
                false,
                |agent, call| Box::pin(agent.assign_task(call)),
            ),
            seed_spec::<wire_tasks::schemas::CompleteTaskRequest>(
                "complete_task",
                "Admin only: resolve a task. approved runs the operation the buyer submitted (exactly once) and the buyer sees its result; rejected refuses it; completed or cannot_complete close manual tasks. Recorded in the audit log.",
                false,
                |agent, call| Box::pin(agent.complete_task(call)),
            ),
            seed_spec::<wire_tasks::schemas::CompleteHumanTaskRequest>(
                "complete_human_task",
                "Admin only: approve or reject a human approval task (seed name of complete_task): action approve runs the buyer's operation, reject refuses it; notes are kept.",
                false,
                |agent, call| Box::pin(agent.complete_human_task(call)),
            ),
            seed_spec::<seed::schemas::GetAllMediaBuyDeliveryRequest>(
                "get_all_media_buy_delivery",
                "Seed-era delivery summary of your media buys (every buyer's for a publisher admin) up to a date: status, spend, impressions, pacing, days elapsed of total, with totals and the count delivering.",
                true,
                |agent, call| Box::pin(agent.get_all_media_buy_delivery(call)),
            ),
            seed_spec::<wire_tasks::schemas::ReviewPendingCreativesRequest>(
                "review_pending_creatives",
                "Admin only: creatives waiting for publisher review, of every buyer. Without creative_id lists them; with creative_id and action approve or reject (with reason) decides one; the buyer's review task completes when its last creative is decided.",
                false,
                |agent, call| Box::pin(agent.review_pending_creatives(call)),
            ),
            spec::<wire_tasks::schemas::GetAuditLogRequest>(
                "get_audit_log",
                "Admin only: the audit log of state changes and human decisions (who, when, before, after), newest first; filter by object_type (media_buy, task), object_id or actor. Cursor pagination.",
                true,
                |agent, call| Box::pin(agent.get_audit_log(call)),
            ),
            seed_spec::<seed::schemas::DiscoverProductsRequest>(
                "discover_products",
                "Seed-era product discovery: the products that fit a natural-language campaign_brief, best first, with min_spend, cpm_range, formats, targeting_available and match_reasons.",
                true,
                |agent, call| Box::pin(agent.discover_products(call)),
            ),
            seed_spec::<seed::schemas::ListProductsRequest>(
                "list_products",
                "Seed-era product list: the catalog (ranked and explained in brief_relevance when a brief is given), filtered by delivery_type, is_fixed_price, formats and creative_types.",
                true,
                |agent, call| Box::pin(agent.list_products(call)),
            ),
            seed_spec::<seed::schemas::GetTargetingCapabilitiesRequest>(
                "get_targeting_capabilities",
                "Targeting overlay dimensions per channel (web, mobile_app, ctv, audio or AdCP channels) and, with include_aee_dimensions, the impression signals the publisher provides.",
                true,
                |agent, call| Box::pin(agent.get_targeting_capabilities(call)),
            ),
            seed_spec::<seed::schemas::CheckAeeRequirementsRequest>(
                "check_aee_requirements",
                "Whether the publisher provides the impression signals (AEE dimensions) a campaign needs on a channel: supported, missing_dimensions, available_dimensions.",
                true,
                |agent, call| Box::pin(agent.check_aee_requirements(call)),
            ),
            seed_spec::<seed::schemas::GetCreativesRequest>(
                "get_creatives",
                "Seed-era creative list: your creatives with format, review status and the buys and packages they are assigned to; filter by media_buy_id, status and format.",
                true,
                |agent, call| Box::pin(agent.get_creatives(call)),
            ),
            seed_spec::<seed::schemas::CheckMediaBuyStatusRequest>(
                "check_media_buy_status",
                "Seed-era status of a media buy (pending_activation, pending_approval, scheduled, active, paused, completed, failed, ...) with each package's status, pacing and delivery percentage.",
                true,
                |agent, call| Box::pin(agent.check_media_buy_status(call)),
            ),
            seed_spec::<seed_buying::schemas::GetAvailsRequest>(
                "get_avails",
                "Seed-era availability and pricing: for product_ids, a flight (start_date, end_date), a budget and a targeting_overlay in the seed's keys, the ad server's forecast per product as a package: package_id (buy it with create_media_buy's seed form within 72 hours), impressions, cpm, total_cost, availability; with total_budget, total_impressions and budget_utilization.",
                true,
                |agent, call| Box::pin(agent.get_avails(call)),
            ),
            seed_spec::<seed_buying::schemas::UpdatePackageRequest>(
                "update_package",
                "Seed-era package changes (PATCH): per package active (pause/resume), budget, impressions, cpm (auction bid), daily_budget and daily_impressions caps (null removes), pacing, creative_ids (replace), targeting_overlay in the seed's keys (null removes). All or nothing; budget increases may wait for publisher approval.",
                false,
                |agent, call| Box::pin(agent.update_package(call)),
            ),
            seed_spec::<seed_assets::schemas::AddCreativeAssetsRequest>(
                "add_creative_assets",
                "Seed-era creative upload for a media buy: each asset (format video/audio/display, media_url, click_url, size or duration, package_assignments) becomes a creative in the packages' matching format, validated, reviewed and assigned; answers asset_statuses with suggested_adaptations to the buy's other formats.",
                false,
                |agent, call| Box::pin(agent.add_creative_assets(call)),
            ),
            seed_spec::<seed_assets::schemas::ApproveAdaptationRequest>(
                "approve_adaptation",
                "Accept or decline an adaptation add_creative_assets suggested (creative_id, adaptation_id, approve, modifications.name). Accepting makes the adapted creative <creative_id>_<format>, in review by the publisher, who produces the adapted media; accepting twice gives the same creative.",
                false,
                |agent, call| Box::pin(agent.approve_adaptation(call)),
            ),
            seed_spec::<seed::schemas::UpdateMediaBuyStatusRequest>(
                "update_media_buy_status",
                "Seed-era poll of an operation that waited (a create or update submitted for approval): status, responsible_party, and once done media_buy_id, implementation_date and affected_packages.",
                true,
                |agent, call| Box::pin(agent.update_media_buy_status(call)),
            ),
            ToolSpec {
                dialect: Dialect::Controller,
                ..spec::<wire_controller::schemas::ComplyTestControllerRequest>(
                    "comply_test_controller",
                    "Sandbox only: the compliance test controller. Seeds fixtures (seed_product, seed_pricing_option, seed_creative, seed_media_buy, seed_creative_format) and forces states (force_account_status, force_media_buy_status, force_creative_status, force_create_media_buy_arm, force_task_completion, simulate_delivery, simulate_budget_spend); list_scenarios names them.",
                    false,
                    |agent, call| Box::pin(agent.comply_test_controller(call)),
                )
            },
        ];
        let seed_tools = app.config().seed_tools;
        let tools = tools
            .into_iter()
            .filter(|t| seed_tools || t.dialect != Dialect::Seed || t.access == Access::Admin)
            .map(|t| if seed_tools { t } else { ToolSpec { seed_form: None, ..t } })
            .collect();
        SalesAgent { app, tools: Arc::new(tools) }
    }

    /// The published tools, in table order.
    pub fn tools(&self) -> Vec<Tool> {
        self.tools.iter().map(|spec| spec.tool.clone()).collect()
    }

    /// The tools `principal` may call: publisher-admin tools only for administrators.
    pub fn tools_for(&self, principal: Option<&Principal>) -> Vec<Tool> {
        self.tools.iter().filter(|spec| self.visible(spec.access, principal)).map(|spec| spec.tool.clone()).collect()
    }

    /// Whether a tool exists for the caller: admin tools are listed to admins only, the sandbox
    /// controller to principals of sandbox tenants only.
    fn visible(&self, access: Access, principal: Option<&Principal>) -> bool {
        match access {
            Access::Public | Access::Principal => true,
            Access::Admin => principal.is_some_and(|p| p.admin),
            Access::Sandbox => {
                principal.is_some_and(|p| self.app.tenant_for(Some(p)).is_ok_and(|tenant| tenant.sandbox))
            }
        }
    }

    /// Runs a tool and renders its AdCP response or error.
    pub async fn call(
        &self,
        name: &str,
        args: Args,
        principal: Option<Principal>,
        hooks: Hooks,
    ) -> Option<CallToolResult> {
        let spec = self.tools.iter().find(|spec| spec.tool.name == name)?;
        // Outside sandbox tenants the controller does not exist, not even as a refusal.
        if spec.access == Access::Sandbox && !self.visible(Access::Sandbox, principal.as_ref()) {
            return None;
        }
        let context = args.context().cloned();
        // Mutations echo the buyer's idempotency_key, so that a buyer (or the compliance suite)
        // can tie the answer to the key it will retry with.
        let idempotency_key = args.0.get("idempotency_key").filter(|k| k.is_string()).cloned();
        let dialect = match spec.seed_form {
            Some(is_seed_form) if is_seed_form(&args) => Dialect::Seed,
            _ => spec.dialect,
        };
        let result = match (spec.access, &principal) {
            (Access::Principal | Access::Admin | Access::Sandbox, None) => {
                // The HTTP layer answers 401 before we get here; this guards other transports.
                Err(Error::PermissionDenied(
                    "this tool needs credentials (x-adcp-auth or Authorization: Bearer)".into(),
                ))
            }
            (Access::Admin, Some(principal)) if !principal.admin => Err(Error::PermissionDenied(format!(
                "{name} is for the publisher's administrators; principal {} is not one",
                principal.principal_id
            ))),
            _ => match args.major_version().and_then(capabilities::check_version) {
                Err(error) => Err(error),
                Ok(()) => (spec.handler)(self, Call { args, principal, hooks }).await,
            },
        };
        Some(match (result, dialect) {
            (Ok(mut body), Dialect::Adcp) => {
                if let Some(key) = idempotency_key {
                    body.entry("idempotency_key").or_insert(key);
                }
                success(body, context.as_ref())
            }
            (Ok(body), Dialect::Seed | Dialect::Controller) => seed_success(body, context.as_ref()),
            (Err(error), Dialect::Adcp) => error::error_result(&error, context.as_ref()),
            (Err(error), Dialect::Seed) => error::seed_error_result(&error, context.as_ref()),
            (Err(error), Dialect::Controller) => error::controller_error_result(&error, context.as_ref()),
        })
    }

    async fn get_adcp_capabilities(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire::GetCapabilitiesRequest = call.args.parse()?;
        let tenant = self.app.tenant_for(call.principal.as_ref())?;
        let catalog = self.app.catalog(tenant).await?;
        let described = capabilities::describe(tenant, &catalog);
        Ok(wire::capabilities_response(
            &described,
            request.protocols.as_deref(),
            self.app.config().request_signing_test_keys,
        ))
    }

    async fn get_products(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire::GetProductsRequest = call.args.parse()?;
        let tenant = self.app.tenant_for(call.principal.as_ref())?;
        let fields = request.fields.clone();
        let property_list = request.property_list.is_some();
        let mut query = request.into_query()?;
        let catalog = if matches!(query.mode, discovery::BuyingMode::Brief(_) | discovery::BuyingMode::Refine(_)) {
            let (catalog, records) = self.app.catalog_and_records(tenant).await?;
            query.records = records;
            catalog
        } else {
            self.app.catalog(tenant).await?
        };
        let now = self.app.clock().now();
        let principal = call.principal.as_ref();
        let (answer, proposals) =
            proposals::get_products(self.app.db(), &catalog, self.app.ranker(), tenant, principal, &query, now).await?;
        Ok(wire::products_response(&answer, &proposals, fields.as_deref(), property_list))
    }

    async fn list_creative_formats(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire::ListFormatsRequest = call.args.parse()?;
        let tenant = self.app.tenant_for(call.principal.as_ref())?;
        let catalog = self.app.catalog(tenant).await?;
        let page = discovery::find_formats(&catalog, &request.into_query())?;
        Ok(wire::formats_response(&page))
    }

    async fn list_authorized_properties(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire::ListPropertiesRequest = call.args.parse()?;
        let tenant = self.app.tenant_for(call.principal.as_ref())?;
        let catalog = self.app.catalog(tenant).await?;
        Ok(wire::properties_response(tenant, &catalog, request.tags.as_deref()))
    }

    async fn get_creative_macros(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_macros::schemas::GetCreativeMacrosRequest = call.args.parse()?;
        let tenant = self.app.tenant_for(call.principal.as_ref())?;
        let catalog = self.app.catalog(tenant).await?;
        let format_id = request.format_id.map(Into::into);
        let macros = macros::get_creative_macros(&catalog, tenant, request.category.as_deref(), format_id.as_ref())?;
        Ok(wire_macros::macros_response(&macros))
    }

    async fn validate_creative_macros(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_macros::schemas::ValidateCreativeMacrosRequest = call.args.parse()?;
        let tenant = self.app.tenant_for(call.principal.as_ref())?;
        let catalog = self.app.catalog(tenant).await?;
        let format_id = request.format_id.map(Into::into);
        let check = macros::validate_creative_macros(&catalog, tenant, &request.creative_content, format_id.as_ref())?;
        Ok(wire_macros::validation_response(&check))
    }

    async fn process_creative_macros(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_macros::schemas::ProcessCreativeMacrosRequest = call.args.parse()?;
        let context = wire_macros::flatten(request.aee_context.as_ref());
        let overrides = wire_macros::flatten(request.macro_values.as_ref());
        let seller = macros::SellerValues {
            media_buy_id: request.media_buy_id,
            package_id: request.package_id,
            creative_id: request.creative_id,
            click_url: request.click_url,
        };
        let now = self.app.clock().now();
        let processed = macros::process_creative_macros(&request.creative_content, &context, &overrides, &seller, now)?;
        Ok(wire_macros::processed_response(&processed))
    }

    async fn sync_accounts(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire::SyncAccountsRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let dry_run = request.dry_run.unwrap_or(false);
        let key = idempotency::check_key(request.idempotency_key.as_deref())?.to_owned();
        let command = request.into_command();
        self.idempotent(principal, "", &key, &call.args, async {
            let now = self.app.clock().now();
            let outcomes = accounts::sync_accounts(self.app.db(), tenant, principal, command, now).await?;
            Ok(wire::sync_accounts_response(&outcomes, dry_run))
        })
        .await
    }

    async fn list_accounts(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire::ListAccountsRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let page = accounts::list_accounts(self.app.db(), principal, &request.into_query()?).await?;
        Ok(wire::accounts_response(&page))
    }

    async fn create_media_buy(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_buying::schemas::CreateMediaBuyRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let key = idempotency::check_key(request.idempotency_key.as_deref())?.to_owned();
        let command = request.to_core()?;
        let catalog = self.app.catalog(tenant).await?;
        let sealing = Sealing::new(principal, &call.args, key);
        if !call.hooks.dry_run
            && let Some(replayed) = self.replayed(&sealing).await?
        {
            return Ok(replayed);
        }
        let proposal_id = command.proposal_id.clone();
        // X-Dry-Run rehearses the booking on the tenant's ad server in dry-run: the answer shows
        // the platform calls that would be made.
        let rehearsal = call.hooks.dry_run.then(|| self.app.rehearsal(&tenant.tenant_id));
        let render = |created: &Created| {
            let mut body = wire_tasks::created_response(created, tenant.sandbox);
            match (created, &proposal_id, &rehearsal) {
                (Created::Buy(_), Some(id), _) => {
                    body.insert("proposal_id".into(), id.clone().into());
                }
                (Created::DryRun { .. }, _, Some(rehearsal)) => {
                    body.insert("ext".into(), json!({ "dry_run": rehearsed(rehearsal) }));
                }
                _ => {}
            }
            body
        };
        let seal = sealing.seal(&render);
        let original = Value::Object(call.args.0.clone()).to_string();
        let mut mutation = call.hooks.mutation(self.app.clock().now(), &seal, &original);
        mutation.rehearse = rehearsal.as_ref().map(|r| r.ad_server.as_ref() as &dyn crate::core::booking::Booker);
        let created = buying::create_media_buy(self.app.db(), &catalog, tenant, principal, &command, &mutation).await;
        self.sealed(&sealing, created, &render).await
    }

    async fn update_media_buy(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_buying::schemas::UpdateMediaBuyRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let key = idempotency::check_key(request.idempotency_key.as_deref())?.to_owned();
        let command = request.to_core()?;
        let catalog = self.app.catalog(tenant).await?;
        let sealing = Sealing::new(principal, &call.args, key);
        if !call.hooks.dry_run
            && let Some(replayed) = self.replayed(&sealing).await?
        {
            return Ok(replayed);
        }
        let now = self.app.clock().now();
        let rehearsal = call.hooks.dry_run.then(|| self.app.rehearsal(&tenant.tenant_id));
        let render = |changed: &Changed| {
            let mut body = wire_tasks::changed_response(changed, now, tenant.sandbox);
            if let (Changed::DryRun { .. }, Some(rehearsal)) = (changed, &rehearsal) {
                body.insert("ext".into(), json!({ "dry_run": rehearsed(rehearsal) }));
            }
            body
        };
        let seal = sealing.seal(&render);
        let original = Value::Object(call.args.0.clone()).to_string();
        let mut mutation = call.hooks.mutation(now, &seal, &original);
        mutation.rehearse = rehearsal.as_ref().map(|r| r.ad_server.as_ref() as &dyn crate::core::booking::Booker);
        let changed = buying::update_media_buy(self.app.db(), &catalog, tenant, principal, &command, &mutation).await;
        self.sealed(&sealing, changed, &render).await
    }

    async fn get_media_buys(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_buying::schemas::GetMediaBuysRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let ad_server = self.app.ad_server(&tenant.tenant_id);
        let query = MediaBuyQuery { ad_server_state: ad_server.remote(), ..request.to_core()? };
        let now = self.app.clock().now();
        let page = buying::get_media_buys(self.app.db(), tenant, principal, &query, now).await?;
        let catalog = if self.app.config().seed_tools { Some(self.app.catalog(tenant).await?) } else { None };
        let values = page
            .items
            .iter()
            .map(|view| {
                let mut value = wire_buying::media_buy_value(
                    &view.media_buy,
                    view.history.as_deref(),
                    request.include_snapshot == Some(true),
                    &view.reviews,
                );
                if let Some(catalog) = &catalog {
                    seed::add_seed_004_fields(&mut value, &view.media_buy, &view.reviews, catalog, now);
                }
                if let Some(record) = &view.booking {
                    value["ext"]["ad_server"] = wire_buying::ad_server_value(ad_server.name(), record);
                }
                value
            })
            .collect();
        Ok(wire_buying::media_buys_response(&page, values))
    }

    async fn sync_creatives(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_creatives::schemas::SyncCreativesRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let key = idempotency::check_key(request.idempotency_key.as_deref())?.to_owned();
        let command = request.to_core()?;
        let catalog = self.app.catalog(tenant).await?;
        let original = Value::Object(call.args.0.clone()).to_string();
        self.idempotent(principal, &account_scope(&call.args), &key, &call.args, async {
            let now = self.app.clock().now();
            let synced = creatives::sync_creatives(
                self.app.db(),
                &catalog,
                tenant,
                principal,
                &command,
                &original,
                &wire_tasks::Deferred,
                now,
            )
            .await?;
            let results = wire_creatives::sync_response(&synced.outcomes, command.dry_run, tenant.sandbox);
            Ok(match &synced.review {
                Some(task) => wire_tasks::sync_submitted(task, results),
                None => results,
            })
        })
        .await
    }

    async fn list_creatives(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_creatives::schemas::ListCreativesRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let query = request.to_core()?;
        let page = creatives::list_creatives(self.app.db(), tenant, principal, &query).await?;
        Ok(wire_creatives::list_response(&page, &query, request.include_assignments == Some(true)))
    }

    async fn get_media_buy_delivery(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_delivery::schemas::GetMediaBuyDeliveryRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let query = request.to_core()?;
        let catalog = self.app.catalog(tenant).await?;
        let now = self.app.clock().now();
        let report = delivery::get_media_buy_delivery(
            self.app.db(),
            self.app.ad_server(&tenant.tenant_id),
            &catalog,
            tenant,
            principal,
            &query,
            now,
        )
        .await?;
        Ok(wire_delivery::delivery_response(&report, request.include_package_daily_breakdown == Some(true)))
    }

    async fn provide_performance_feedback(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_feedback::schemas::ProvideFeedbackRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let key = idempotency::check_key(request.idempotency_key.as_deref())?.to_owned();
        let item = request.to_core()?;
        self.idempotent(principal, &account_scope(&call.args), &key, &call.args, async {
            let now = self.app.clock().now();
            feedback::record(self.app.db(), tenant, principal, &request.media_buy_id, &[item], now).await?;
            let mut body = Map::new();
            body.insert("success".into(), true.into());
            if tenant.sandbox {
                body.insert("sandbox".into(), true.into());
            }
            Ok(body)
        })
        .await
    }

    async fn update_performance_index(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_feedback::schemas::UpdatePerformanceIndexRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let now = self.app.clock().now();
        let items = request.to_core()?;
        let (_, suggestions) =
            feedback::record(self.app.db(), tenant, principal, &request.media_buy_id, &items, now).await?;
        Ok(if request.performance_data.is_some() {
            wire_feedback::seed_actions_response(&suggestions)
        } else {
            wire_feedback::seed_scores_response(&request, now)
        })
    }

    async fn tasks_get(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_tasks::schemas::TasksGetRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let task = approval::get_task(self.app.db(), tenant, principal, &request.task_id).await?;
        let include_result = request.include_result != Some(false);
        Ok(wire_tasks::task_value(&task, include_result, request.include_history == Some(true)))
    }

    async fn tasks_list(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_tasks::schemas::TasksListRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let (filter, applied) = request.to_core(tenant)?;
        let newest_first = filter.newest_first;
        let page = approval::list_tasks(self.app.db(), principal, filter, &request.pagination.clone().into()).await?;
        Ok(wire_tasks::tasks_list_response(&page, applied, newest_first))
    }

    async fn list_human_tasks(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_tasks::schemas::ListHumanTasksRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let now = self.app.clock().now();
        let filter = request.to_core(tenant, now)?;
        let page = approval::list_tasks(self.app.db(), principal, filter, &request.pagination.clone().into()).await?;
        Ok(wire_tasks::human_tasks_response(&page, now))
    }

    async fn get_pending_tasks(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_tasks::schemas::GetPendingTasksRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let now = self.app.clock().now();
        let filter = request.to_core(tenant, now)?;
        let page = approval::list_tasks(self.app.db(), principal, filter, &request.pagination.clone().into()).await?;
        Ok(wire_tasks::human_tasks_response(&page, now))
    }

    async fn create_human_task(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_tasks::schemas::CreateHumanTaskRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let new = request.to_core(tenant)?;
        let now = self.app.clock().now();
        let task =
            approval::create_human_task(self.app.db(), &wire_tasks::Deferred, tenant, principal, new, now).await?;
        let detail = format!("Task {} created, due by {}", task.task_id, task.due_at.to_rfc3339());
        Ok(wire_tasks::task_changed_response(&task, detail, now))
    }

    async fn assign_task(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_tasks::schemas::AssignTaskRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let now = self.app.clock().now();
        let start = request.start == Some(true);
        let task =
            approval::assign_task(self.app.db(), tenant, principal, &request.task_id, &request.assigned_to, start, now)
                .await?;
        let detail = format!("Task {} assigned to {}", task.task_id, request.assigned_to.trim());
        Ok(wire_tasks::task_changed_response(&task, detail, now))
    }

    async fn complete_task(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_tasks::schemas::CompleteTaskRequest = call.args.parse()?;
        let resolution = wire_tasks::resolution(&request.resolution, "resolution")?;
        let actor = request.resolved_by.as_deref();
        self.resolve(call, &request.task_id, resolution, actor, request.resolution_detail.as_deref()).await
    }

    async fn complete_human_task(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_tasks::schemas::CompleteHumanTaskRequest = call.args.parse()?;
        let resolution = wire_tasks::resolution(&request.action, "action")?;
        self.resolve(call, &request.task_id, resolution, None, request.notes.as_deref()).await
    }

    /// Resolves a task as the calling admin (or the person named for the record).
    async fn resolve(
        &self,
        call: Call,
        task_id: &str,
        resolution: Resolution,
        resolved_by: Option<&str>,
        notes: Option<&str>,
    ) -> Result<Map<String, Value>, Error> {
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let catalog = self.app.catalog(tenant).await?;
        let now = self.app.clock().now();
        let actor = match resolved_by.map(str::trim).filter(|name| !name.is_empty()) {
            Some(name) => format!("{} ({name})", principal.principal_id),
            None => principal.principal_id.clone(),
        };
        let task = approval::decide_by_id(
            self.app.db(),
            &catalog,
            &wire_tasks::Deferred,
            tenant,
            principal,
            &actor,
            task_id,
            resolution,
            notes,
            now,
        )
        .await?;
        let detail = format!(
            "Task {} completed with resolution {}; {}",
            task.task_id,
            resolution.as_str(),
            wire_tasks::outcome_line(&task)
        );
        Ok(wire_tasks::task_changed_response(&task, detail, now))
    }

    async fn review_pending_creatives(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_tasks::schemas::ReviewPendingCreativesRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let Some(creative_id) = request.creative_id.as_deref() else {
            let pending = approval::pending_creatives(self.app.db(), tenant, 500).await?;
            return Ok(wire_tasks::pending_creatives_response(&pending));
        };
        let verdict = wire_tasks::verdict(request.action.as_deref(), request.reason.as_deref())?;
        let now = self.app.clock().now();
        let principal_id = request.principal_id.as_deref();
        let (creative, task) = approval::review_creative(
            self.app.db(),
            &wire_tasks::Deferred,
            tenant,
            principal,
            principal_id,
            creative_id,
            verdict,
            now,
        )
        .await?;
        Ok(wire_tasks::reviewed_response(&creative, &principal.principal_id, task.as_ref()))
    }

    async fn get_audit_log(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: wire_tasks::schemas::GetAuditLogRequest = call.args.parse()?;
        let principal = required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let filter = AuditFilter {
            tenant_id: tenant.tenant_id.clone(),
            object_type: request.object_type.clone(),
            object_id: request.object_id.clone(),
            actor: request.actor.clone(),
        };
        let page = approval::audit_log(self.app.db(), &filter, &request.pagination.clone().into()).await?;
        Ok(wire_tasks::audit_response(&page))
    }

    /// Runs a mutating operation at most once per (principal, account, key): replays return the
    /// stored response with `replayed: true`; failures release the key.
    async fn idempotent(
        &self,
        principal: &Principal,
        account_scope: &str,
        key: &str,
        args: &Args,
        operation: impl Future<Output = Result<Map<String, Value>, Error>>,
    ) -> Result<Map<String, Value>, Error> {
        let store = self.app.db();
        let scope = IdempotencyScope {
            principal_id: principal.principal_id.clone(),
            account_scope: account_scope.to_owned(),
            key: key.to_owned(),
        };
        let hash = request_hash(args);
        match idempotency::begin(store, &scope, &hash, self.app.clock().now()).await? {
            Begin::Replay(stored) => replay(&stored),
            Begin::Execute => match operation.await {
                Ok(body) => {
                    let stored = Value::Object(body.clone()).to_string();
                    idempotency::finish(store, &scope, &stored).await?;
                    Ok(body)
                }
                Err(error) => {
                    if let Err(release) = idempotency::abandon(store, &scope).await {
                        tracing::error!(error = %release, "could not release idempotency key");
                    }
                    Err(error)
                }
            },
        }
    }
}

/// The idempotency context of an operation whose response commits with its own write
/// ([`idempotency::Seal`]): one transaction instead of claim, write and complete.
struct Sealing {
    scope: IdempotencyScope,
    request_hash: String,
}

impl Sealing {
    fn new(principal: &Principal, args: &Args, key: String) -> Sealing {
        let scope =
            IdempotencyScope { principal_id: principal.principal_id.clone(), account_scope: account_scope(args), key };
        Sealing { scope, request_hash: request_hash(args) }
    }

    /// The seal that stores the response `render` gives, as JSON text.
    fn seal<'a, T>(&'a self, render: &'a (dyn Fn(&T) -> Map<String, Value> + Send + Sync)) -> idempotency::Seal<'a, T> {
        let render = Box::new(move |outcome: &T| Value::Object(render(outcome)).to_string());
        idempotency::Seal { scope: &self.scope, request_hash: &self.request_hash, render }
    }
}

impl SalesAgent {
    /// The stored response when the key was used before (or its conflict or expiry).
    async fn replayed(&self, sealing: &Sealing) -> Result<Option<Map<String, Value>>, Error> {
        let now = self.app.clock().now();
        match idempotency::check(self.app.db(), &sealing.scope, &sealing.request_hash, now).await? {
            Begin::Replay(stored) => replay(&stored).map(Some),
            Begin::Execute => Ok(None),
        }
    }

    /// The answer to a sealed operation: its rendered outcome, or, when a concurrent identical
    /// request won the key, that request's stored response.
    async fn sealed<T>(
        &self,
        sealing: &Sealing,
        outcome: Result<T, Error>,
        render: &(dyn Fn(&T) -> Map<String, Value> + Send + Sync),
    ) -> Result<Map<String, Value>, Error> {
        match outcome {
            Ok(outcome) => Ok(render(&outcome)),
            Err(Error::Store(crate::core::StoreError::KeyTaken)) => {
                self.replayed(sealing).await?.ok_or(Error::IdempotencyInProgress)
            }
            Err(error) => Err(error),
        }
    }
}

/// What an `X-Dry-Run` rehearsal shows: the ad server and the platform calls it would make.
fn rehearsed(rehearsal: &crate::adapters::Rehearsal) -> Value {
    json!({"ad_server": rehearsal.ad_server.name(), "platform_calls": rehearsal.calls()})
}

fn replay(stored: &str) -> Result<Map<String, Value>, Error> {
    let mut body: Map<String, Value> =
        serde_json::from_str(stored).map_err(|e| Error::Store(crate::core::StoreError::Corrupt(e.to_string())))?;
    body.insert("replayed".into(), true.into());
    Ok(body)
}

fn required(principal: &Option<Principal>) -> Result<&Principal, Error> {
    principal.as_ref().ok_or_else(|| {
        Error::PermissionDenied("this tool needs credentials (x-adcp-auth or Authorization: Bearer)".into())
    })
}

/// The idempotency scope's account part: the canonical form of the request's account reference.
fn account_scope(args: &Args) -> String {
    args.0.get("account").map(|account| serde_jcs::to_string(account).unwrap_or_default()).unwrap_or_default()
}

/// SHA-256 of the RFC 8785 canonical form of the request minus the fields AdCP excludes from
/// idempotency equivalence (`idempotency_key`, `context`, `governance_context`,
/// `push_notification_config.authentication.credentials`).
pub fn request_hash(args: &Args) -> String {
    let mut request = args.0.clone();
    for field in ["idempotency_key", "context", "governance_context"] {
        request.remove(field);
    }
    if let Some(Value::Object(config)) = request.get_mut("push_notification_config")
        && let Some(Value::Object(authentication)) = config.get_mut("authentication")
    {
        authentication.remove("credentials");
    }
    let canonical = serde_jcs::to_string(&Value::Object(request)).unwrap_or_default();
    hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
}

/// A successful response: the body with `status` (the task status unless the body has its own)
/// and the caller's `context`.
fn success(mut body: Map<String, Value>, context: Option<&Value>) -> CallToolResult {
    body.entry("status").or_insert_with(|| "completed".into());
    if let Some(context) = context {
        body.insert("context".into(), context.clone());
    }
    CallToolResult::structured(Value::Object(body))
}

/// A seed-era tool's answer: its own shape, with the caller's `context` echoed.
fn seed_success(mut body: Map<String, Value>, context: Option<&Value>) -> CallToolResult {
    if let Some(context) = context {
        body.insert("context".into(), context.clone());
    }
    CallToolResult::structured(Value::Object(body))
}

impl ServerHandler for SalesAgent {
    fn get_info(&self) -> InitializeResult {
        let mut info = InitializeResult::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new("adcp-sales-agent", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "AdCP 3.0 media-buy sales agent. Start with get_adcp_capabilities, then get_products with a brief. \
             Send your token as `Authorization: Bearer` or `x-adcp-auth`."
                .to_owned(),
        );
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools_for(caller(&context).as_ref())))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = Args(request.arguments.unwrap_or_default());
        let principal = caller(&context);
        let hooks = context
            .extensions
            .get::<http::request::Parts>()
            .map(|parts| Hooks::from_headers(&parts.headers))
            .unwrap_or_default();
        let span = tracing::info_span!(
            "tool",
            name = %request.name,
            principal = ?principal.as_ref().map(|p| p.principal_id.as_str())
        );
        match self.call(&request.name, args, principal, hooks).instrument(span).await {
            Some(result) => Ok(CallToolResponse::Complete(result)),
            None => Err(ErrorData::invalid_params(format!("tool not found: {}", request.name), None)),
        }
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|spec| spec.tool.name == name).map(|spec| spec.tool.clone())
    }
}

fn caller(context: &RequestContext<RoleServer>) -> Option<Principal> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
        .and_then(|caller| caller.0.clone())
}

/// The tools/list document, as published under `schemas/`.
pub fn tools_document(agent: &SalesAgent) -> Value {
    let tools: Vec<Value> = agent.tools().iter().map(|t| serde_json::to_value(t).unwrap_or(Value::Null)).collect();
    serde_json::json!({ "tools": tools })
}
