//! `comply_test_controller`, the sandbox test controller of the AdCP compliance suite: its
//! request (`scenario` + `params`), the translation of each scenario's params into a
//! `core::sandbox` call, and its answers (`success` with `scenarios`, `previous_state` /
//! `current_state`, `simulated`, `forced`, or a seed's `message`). Its errors are rendered by
//! `error::controller_error_result`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{Call, SalesAgent, wire_tasks};
use crate::core::catalog::{Channel, DeliveryType, PricingOption};
use crate::core::creative::CreativeStatus;
use crate::core::media_buy::{MediaBuyStatus, Verbatim};
use crate::core::sandbox::{
    self, Arm, CreativeSeed, DeliveryDelta, MediaBuySeed, ProductSeed, Seeded, SpendTarget, Transition,
};
use crate::core::tenancy::AccountStatus;
use crate::core::{Error, accounts::AccountRef};

/// Request types; their doc comments are the published input schemas.
pub mod schemas {
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::{Map, Value};

    use super::super::wire_buying::schemas::AccountRefWire;

    /// Sandbox test controller: seed fixtures and force states. `list_scenarios` names the
    /// scenarios; each takes its `params`.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct ComplyTestControllerRequest {
        /// list_scenarios, seed_product, seed_pricing_option, seed_creative, seed_media_buy,
        /// seed_creative_format, force_account_status, force_media_buy_status,
        /// force_creative_status, force_create_media_buy_arm, force_task_completion,
        /// simulate_delivery, simulate_budget_spend.
        pub scenario: Option<String>,
        /// The scenario's parameters.
        pub params: Option<Map<String, Value>>,
        /// The sandbox account seeds go to (default: brand and operator test.example).
        pub account: Option<AccountRefWire>,
        /// AdCP major version the caller speaks; this agent supports 3.
        pub adcp_major_version: Option<i64>,
        /// Opaque caller data, echoed unchanged on the response.
        pub context: Option<Map<String, Value>>,
        /// Extension data.
        pub ext: Option<Map<String, Value>>,
    }
}

/// The scenario's params, with typed accessors that name the field they refuse.
struct Params<'a>(&'a Map<String, Value>);

impl Params<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> Result<Option<String>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) if !text.is_empty() => Ok(Some(text.clone())),
            Some(_) => Err(Error::invalid_with(format!("params.{key}"), "must be a non-empty string", "send a string")),
        }
    }

    fn required(&self, key: &str) -> Result<String, Error> {
        self.string(key)?.ok_or_else(|| {
            Error::invalid_with(format!("params.{key}"), format!("missing required field {key}"), format!("add {key}"))
        })
    }

    fn number(&self, key: &str) -> Result<Option<f64>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .filter(|n| n.is_finite())
                .map(Some)
                .ok_or_else(|| Error::invalid_with(format!("params.{key}"), "must be a number", "send a number")),
        }
    }

    fn status<T>(&self, parse: fn(&str) -> Option<T>, kind: &str) -> Result<T, Error> {
        let text = self.required("status")?;
        parse(&text).ok_or_else(|| {
            Error::invalid_with(
                "params.status",
                format!("invalid {kind} status: {text}"),
                format!("send a {kind} status"),
            )
        })
    }

    /// The fixture object (empty when absent) and its canonical form.
    fn fixture(&self) -> Result<(Map<String, Value>, Verbatim), Error> {
        match self.get("fixture") {
            None => Ok((Map::new(), Verbatim("{}".to_owned()))),
            Some(Value::Object(fixture)) => {
                if ["__proto__", "constructor", "prototype"].iter().any(|k| fixture.contains_key(*k)) {
                    return Err(Error::invalid_with("params.fixture", "reserved key in fixture", "remove it"));
                }
                let canonical = Verbatim(canonical(&Value::Object(fixture.clone())));
                Ok((fixture.clone(), canonical))
            }
            Some(_) => Err(Error::invalid_with("params.fixture", "fixture must be an object", "send an object")),
        }
    }
}

/// JSON with object keys sorted at every level, so that equivalent fixtures compare equal.
fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for key in keys {
                    out.insert(key.clone(), sorted(&map[key]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

fn field_string(fixture: &Map<String, Value>, key: &str) -> Option<String> {
    fixture.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A channel as fixtures name it; `video` and `audio` are the suite's words for online video
/// and streaming audio.
fn channel(text: &str) -> Result<Channel, Error> {
    let name = match text {
        "video" => "olv",
        "audio" => "streaming_audio",
        other => other,
    };
    serde_json::from_value(json!(name)).map_err(|_| {
        Error::invalid_with("params.fixture.channels", format!("unknown channel {text}"), "use an AdCP channel")
    })
}

/// A format id as fixtures give it: a string or `{id}`.
fn format_id_text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned).or_else(|| value.get("id").and_then(Value::as_str).map(str::to_owned))
}

fn product_seed(params: &Params<'_>) -> Result<ProductSeed, Error> {
    let product_id = params.required("product_id")?;
    let (fixture, canonical) = params.fixture()?;
    let delivery_type = match fixture.get("delivery_type") {
        None | Some(Value::Null) => None,
        Some(value) => Some(serde_json::from_value::<DeliveryType>(value.clone()).map_err(|_| {
            Error::invalid_with(
                "params.fixture.delivery_type",
                "delivery_type is guaranteed or non_guaranteed",
                "fix delivery_type",
            )
        })?),
    };
    let channels = match fixture.get("channels").and_then(Value::as_array) {
        None => vec![],
        Some(list) => list.iter().filter_map(Value::as_str).map(channel).collect::<Result<_, _>>()?,
    };
    let format_ids = fixture
        .get("format_ids")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(format_id_text).collect())
        .unwrap_or_default();
    let pricing_options = match fixture.get("pricing_options").and_then(Value::as_array) {
        None => vec![],
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(index, option)| {
                serde_json::from_value::<PricingOption>(option.clone()).map_err(|e| {
                    Error::invalid_with(
                        format!("params.fixture.pricing_options[{index}]"),
                        format!("not a pricing option: {e}"),
                        "send pricing_option_id, pricing_model, currency and fixed_price or floor_price",
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(ProductSeed {
        product_id,
        name: field_string(&fixture, "name"),
        description: field_string(&fixture, "description"),
        delivery_type,
        channels,
        format_ids,
        pricing_options,
        fixture: canonical,
    })
}

fn pricing_option(params: &Params<'_>) -> Result<(String, PricingOption, Verbatim), Error> {
    let product_id = params.required("product_id")?;
    let pricing_option_id = params.required("pricing_option_id")?;
    let (mut fixture, canonical) = params.fixture()?;
    fixture.insert("pricing_option_id".into(), pricing_option_id.into());
    let option = serde_json::from_value::<PricingOption>(Value::Object(fixture)).map_err(|e| {
        Error::invalid_with(
            "params.fixture",
            format!("not a pricing option: {e}"),
            "send pricing_model, currency and fixed_price or floor_price",
        )
    })?;
    Ok((product_id, option, canonical))
}

fn time_field(fixture: &Map<String, Value>, path: &[&str]) -> Result<Option<DateTime<Utc>>, Error> {
    let mut value = Some(&Value::Object(fixture.clone())).cloned();
    for key in path {
        value = value.and_then(|v| v.get(*key).cloned());
    }
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(&text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .or_else(|_| {
                chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                    .map(|d| Some(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()))
            })
            .map_err(|_| {
                Error::invalid_with(
                    format!("params.fixture.{}", path.join(".")),
                    "not an RFC 3339 time or a date",
                    "e.g. 2026-04-01T00:00:00Z",
                )
            }),
        Some(_) => {
            Err(Error::invalid_with(format!("params.fixture.{}", path.join(".")), "not a time", "send a string"))
        }
    }
}

fn transition(moved: &Transition) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("success".into(), true.into());
    body.insert("previous_state".into(), moved.previous.clone().into());
    body.insert("current_state".into(), moved.current.clone().into());
    body
}

fn seeded(seeded: Seeded) -> Map<String, Value> {
    let message = match seeded {
        Seeded::First => "Fixture seeded",
        Seeded::Again => "Fixture re-seeded (equivalent)",
    };
    let mut body = Map::new();
    body.insert("success".into(), true.into());
    body.insert("message".into(), message.into());
    body
}

impl SalesAgent {
    /// `comply_test_controller`: one scenario per call (sandbox tenants only; the tool table
    /// hides it from everyone else).
    pub(super) async fn comply_test_controller(&self, call: Call) -> Result<Map<String, Value>, Error> {
        let request: schemas::ComplyTestControllerRequest = call.args.parse()?;
        let principal = super::required(&call.principal)?;
        let tenant = self.app.tenant_for(Some(principal))?;
        let now = self.app.clock().now();
        let Some(scenario) = request.scenario.filter(|s| !s.is_empty()) else {
            return Err(Error::invalid_with("scenario", "missing required field scenario", "send list_scenarios"));
        };
        if scenario == "list_scenarios" {
            let mut body = Map::new();
            body.insert("success".into(), true.into());
            body.insert("scenarios".into(), json!(sandbox::SCENARIOS));
            return Ok(body);
        }
        if !sandbox::SCENARIOS.contains(&scenario.as_str()) {
            return Err(Error::UnknownScenario { scenario });
        }
        let empty = Map::new();
        let params = Params(request.params.as_ref().unwrap_or(&empty));
        let account = || -> Result<AccountRef, Error> {
            match &request.account {
                Some(wire) if wire.account_id.is_some() || (wire.brand.is_some() && wire.operator.is_some()) => {
                    wire.to_core()
                }
                _ => Ok(sandbox::default_account()),
            }
        };
        let db = self.app.db();
        let wire = &wire_tasks::Deferred;
        match scenario.as_str() {
            "seed_product" => Ok(seeded(sandbox::seed_product(db, tenant, &product_seed(&params)?, now).await?)),
            "seed_pricing_option" => {
                let (product_id, option, fixture) = pricing_option(&params)?;
                Ok(seeded(sandbox::seed_pricing_option(db, tenant, &product_id, &option, &fixture, now).await?))
            }
            "seed_creative_format" => {
                let format_id = params.required("format_id")?;
                let (fixture, canonical) = params.fixture()?;
                let channel = match fixture.get("type").and_then(Value::as_str) {
                    Some(kind) => channel(kind).unwrap_or(Channel::Display),
                    None => Channel::Display,
                };
                let name = field_string(&fixture, "name");
                Ok(seeded(
                    sandbox::seed_creative_format(db, tenant, &format_id, name.as_deref(), channel, &canonical, now)
                        .await?,
                ))
            }
            "seed_creative" => {
                let creative_id = params.required("creative_id")?;
                let (fixture, canonical) = params.fixture()?;
                let status = match field_string(&fixture, "status") {
                    None => None,
                    Some(text) => Some(CreativeStatus::parse(&text).ok_or_else(|| {
                        Error::invalid_with(
                            "params.fixture.status",
                            format!("invalid creative status: {text}"),
                            "e.g. approved",
                        )
                    })?),
                };
                let seed = CreativeSeed {
                    creative_id,
                    name: field_string(&fixture, "name"),
                    format_id: fixture.get("format_id").and_then(format_id_text),
                    status,
                    fixture: canonical,
                };
                Ok(seeded(sandbox::seed_creative(db, tenant, principal, &account()?, &seed, now).await?))
            }
            "seed_media_buy" => {
                let media_buy_id = params.required("media_buy_id")?;
                let (fixture, canonical) = params.fixture()?;
                let status = match field_string(&fixture, "status") {
                    None => None,
                    Some(text) => Some(MediaBuyStatus::parse(&text).ok_or_else(|| {
                        Error::invalid_with(
                            "params.fixture.status",
                            format!("invalid media buy status: {text}"),
                            "e.g. active",
                        )
                    })?),
                };
                let seed = MediaBuySeed {
                    media_buy_id,
                    status,
                    currency: field_string(&fixture, "currency"),
                    start_time: time_field(&fixture, &["flight", "start"])?,
                    end_time: time_field(&fixture, &["flight", "end"])?,
                    fixture: canonical,
                };
                Ok(seeded(sandbox::seed_media_buy(db, tenant, principal, &account()?, &seed, now).await?))
            }
            "force_account_status" => {
                let account_id = params.required("account_id")?;
                let status = params.status(AccountStatus::parse, "account")?;
                Ok(transition(&sandbox::force_account_status(db, tenant, principal, &account_id, status, now).await?))
            }
            "force_media_buy_status" => {
                let media_buy_id = params.required("media_buy_id")?;
                let status = params.status(MediaBuyStatus::parse, "media buy")?;
                let reason = params.string("rejection_reason")?;
                let moved = sandbox::force_media_buy_status(
                    db,
                    wire,
                    tenant,
                    principal,
                    &media_buy_id,
                    status,
                    reason.as_deref(),
                    now,
                )
                .await?;
                Ok(transition(&moved))
            }
            "force_creative_status" => {
                let creative_id = params.required("creative_id")?;
                let status = params.status(CreativeStatus::parse, "creative")?;
                let reason = params.string("rejection_reason")?;
                let moved =
                    sandbox::force_creative_status(db, tenant, principal, &creative_id, status, reason.as_deref(), now)
                        .await?;
                Ok(transition(&moved))
            }
            "force_create_media_buy_arm" => {
                let arm_text = params.required("arm")?;
                let arm = Arm::parse(&arm_text).ok_or_else(|| {
                    Error::invalid_with(
                        "params.arm",
                        format!("unknown arm {arm_text}"),
                        "use submitted or input-required",
                    )
                })?;
                let task_id = params.string("task_id")?;
                if task_id.as_ref().is_some_and(|id| id.len() > 128) {
                    return Err(Error::invalid_with(
                        "params.task_id",
                        "task_id is at most 128 characters",
                        "shorten it",
                    ));
                }
                let message = params.string("message")?;
                let forced =
                    sandbox::force_create_arm(db, tenant, principal, arm, task_id.as_deref(), message.as_deref(), now)
                        .await?;
                let mut directive = Map::new();
                directive.insert("arm".into(), forced.arm.as_str().into());
                if let Some(task_id) = forced.task_id {
                    directive.insert("task_id".into(), task_id.into());
                }
                let mut body = Map::new();
                body.insert("success".into(), true.into());
                body.insert("forced".into(), Value::Object(directive));
                body.insert("message".into(), format!("The next create_media_buy answers {}", arm.as_str()).into());
                Ok(body)
            }
            "force_task_completion" => {
                let task_id = params.required("task_id")?;
                let result = match params.get("result") {
                    Some(Value::Object(result)) => Value::Object(result.clone()).to_string(),
                    _ => {
                        return Err(Error::invalid_with(
                            "params.result",
                            "result must be an object (the completed task's response)",
                            "send the response the task completes with",
                        ));
                    }
                };
                if result.len() > 256 * 1024 {
                    return Err(Error::invalid_with("params.result", "result is larger than 256 KB", "send less"));
                }
                let moved = sandbox::force_task_completion(db, wire, tenant, principal, &task_id, result, now).await?;
                Ok(transition(&moved))
            }
            "simulate_delivery" => {
                let media_buy_id = params.required("media_buy_id")?;
                let spend = match params.get("reported_spend") {
                    None => None,
                    Some(value) => {
                        let amount = value.get("amount").and_then(Value::as_f64);
                        let currency = value.get("currency").and_then(Value::as_str);
                        match (amount, currency) {
                            (Some(amount), Some(currency)) => Some((amount, currency.to_owned())),
                            _ => {
                                return Err(Error::invalid_with(
                                    "params.reported_spend",
                                    "reported_spend needs amount and currency",
                                    "e.g. {\"amount\": 150, \"currency\": \"USD\"}",
                                ));
                            }
                        }
                    }
                };
                let delta = DeliveryDelta {
                    impressions: params.number("impressions")?.unwrap_or(0.0),
                    clicks: params.number("clicks")?.unwrap_or(0.0),
                    conversions: params.number("conversions")?.unwrap_or(0.0),
                    spend,
                };
                let (buy, total) =
                    sandbox::simulate_delivery(db, tenant, principal, &media_buy_id, &delta, now).await?;
                let money = |amount: f64| json!({ "amount": amount, "currency": buy.currency });
                let mut simulated = json!({
                    "media_buy_id": media_buy_id,
                    "impressions": delta.impressions,
                    "clicks": delta.clicks,
                    "conversions": delta.conversions,
                });
                if let Some((amount, _)) = &delta.spend {
                    simulated["reported_spend"] = money(*amount);
                }
                let mut body = Map::new();
                body.insert("success".into(), true.into());
                body.insert("simulated".into(), simulated);
                body.insert(
                    "cumulative".into(),
                    json!({
                        "impressions": total.impressions,
                        "clicks": total.clicks,
                        "conversions": total.conversions,
                        "reported_spend": money(total.spend),
                    }),
                );
                Ok(body)
            }
            "simulate_budget_spend" => {
                let percentage = params.number("spend_percentage")?.ok_or_else(|| {
                    Error::invalid_with("params.spend_percentage", "missing required field spend_percentage", "e.g. 95")
                })?;
                let target = match (params.string("media_buy_id")?, params.string("account_id")?) {
                    (Some(id), _) => SpendTarget::MediaBuy(id),
                    (None, Some(id)) => SpendTarget::Account(id),
                    (None, None) => {
                        return Err(Error::invalid_with(
                            "params.media_buy_id",
                            "simulate_budget_spend needs media_buy_id or account_id",
                            "add media_buy_id",
                        ));
                    }
                };
                let catalog = self.app.catalog(tenant).await?;
                let spent = sandbox::simulate_budget_spend(
                    db,
                    self.app.ad_server(&tenant.tenant_id),
                    &catalog,
                    tenant,
                    principal,
                    &target,
                    percentage,
                    now,
                )
                .await?;
                let money =
                    |amount: f64| json!({ "amount": (amount * 100.0).round() / 100.0, "currency": spent.currency });
                let mut body = Map::new();
                body.insert("success".into(), true.into());
                body.insert(
                    "simulated".into(),
                    json!({
                        "spend_percentage": percentage,
                        "computed_spend": money(spent.spend),
                        "budget": money(spent.budget),
                    }),
                );
                Ok(body)
            }
            other => Err(Error::UnknownScenario { scenario: other.to_owned() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_fixtures_have_one_canonical_form() {
        let a = json!({"b": 1, "a": {"d": [1, {"y": 2, "x": 1}], "c": null}});
        let b = json!({"a": {"c": null, "d": [1, {"x": 1, "y": 2}]}, "b": 1});
        assert_eq!(canonical(&a), canonical(&b));
        assert_ne!(canonical(&json!({"a": [1, 2]})), canonical(&json!({"a": [2, 1]})), "array order counts");
    }

    #[test]
    fn fixture_channels_accept_the_suites_words() {
        assert_eq!(channel("video").unwrap(), Channel::Olv);
        assert_eq!(channel("ctv").unwrap(), Channel::Ctv);
        assert!(channel("hologram").is_err());
    }
}
