//! Shapes of the seed-era creative macro tools (seed 001): `get_creative_macros`,
//! `validate_creative_macros` and the admin-only `process_creative_macros`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::core::macros::{CATEGORIES, Filled, MacroCheck, MacroInfo, Processed};

/// Request types; their doc comments are the published input schemas.
pub mod schemas {
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::{Map, Value};

    use super::super::wire::{Envelope, FormatIdRef};

    /// List the creative macros this seller fills, optionally for one category or format.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct GetCreativeMacrosRequest {
        /// dco, measurement or privacy.
        pub category: Option<String>,
        /// Only the macros this format supports.
        pub format_id: Option<FormatIdRef>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Check the macros of creative content before submitting it.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct ValidateCreativeMacrosRequest {
        /// HTML, VAST or URL text containing `{MACRO}` or `${MACRO}` tokens.
        pub creative_content: String,
        /// Also check the macros against this format's supported macros.
        pub format_id: Option<FormatIdRef>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }

    /// Preview macro substitution with a sample impression context (publisher admins only).
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct ProcessCreativeMacrosRequest {
        /// Informational: the admin on whose behalf the preview runs (seed 001).
        pub principal_id: Option<String>,
        pub creative_content: String,
        /// Sample impression context, e.g. {"geo": {"city": "San Francisco"}}.
        pub aee_context: Option<Map<String, Value>>,
        /// Values by macro name, taking precedence over everything else.
        pub macro_values: Option<Map<String, Value>>,
        pub media_buy_id: Option<String>,
        pub package_id: Option<String>,
        pub creative_id: Option<String>,
        /// The click tracker to put in {CLICK_URL}.
        pub click_url: Option<String>,
        #[serde(flatten)]
        pub envelope: Envelope,
    }
}

/// Nested JSON as dotted paths to text (`{"geo":{"city":"X"}}` → `geo.city = X`).
pub fn flatten(object: Option<&Map<String, Value>>) -> BTreeMap<String, String> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    walk(&path, value, out);
                }
            }
            Value::String(text) => {
                out.insert(prefix.to_owned(), text.clone());
            }
            Value::Null => {}
            other => {
                out.insert(prefix.to_owned(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Some(object) = object {
        walk("", &Value::Object(object.clone()), &mut out);
    }
    out
}

fn title(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn macros_response(macros: &[MacroInfo]) -> Map<String, Value> {
    let items: Vec<Value> = macros
        .iter()
        .map(|m| {
            let mut item = json!({
                "macro": m.name,
                "syntax": m.syntax,
                "name": title(m.name),
                "description": m.description,
                "category": m.category.as_str(),
                "filled_by": match m.filled { Filled::Seller => "seller", Filled::Context(_) => "impression_context" },
                "formats": m.formats.iter().map(|f| json!({"agent_url": f.agent_url, "id": f.id})).collect::<Vec<_>>(),
            });
            if let Filled::Context(path) = m.filled {
                item["context_field"] = path.into();
            }
            if !m.aliases.is_empty() {
                item["aliases"] = m.aliases.clone().into();
            }
            item
        })
        .collect();
    let mut body = Map::new();
    body.insert("macros".into(), items.into());
    body.insert("categories".into(), CATEGORIES.iter().map(|c| c.as_str()).collect::<Vec<_>>().into());
    body
}

pub fn validation_response(check: &MacroCheck) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("valid".into(), check.valid().into());
    body.insert("macros_found".into(), check.found.clone().into());
    body.insert("unknown_macros".into(), check.unknown.clone().into());
    body.insert("unsupported_macros".into(), check.unsupported.clone().into());
    body.insert("required_aee_fields".into(), check.context_fields.clone().into());
    body.insert("warnings".into(), check.warnings.clone().into());
    body
}

pub fn processed_response(processed: &Processed) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("processed_content".into(), processed.content.clone().into());
    body.insert("macros_replaced".into(), processed.replaced.clone().into());
    body.insert("macros_unresolved".into(), processed.unresolved.clone().into());
    body
}
