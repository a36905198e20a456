//! Tool arguments: kept as raw JSON until the handler parses them, so that a malformed argument
//! becomes an AdCP `INVALID_REQUEST` naming the field (and the caller's `context` is still
//! echoed), never an MCP protocol error.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::core::Error;

/// The raw `arguments` object of a tool call.
#[derive(Debug, Clone, Default)]
pub struct Args(pub Map<String, Value>);

impl Args {
    /// The caller's `context`, echoed on every response when it is an object.
    pub fn context(&self) -> Option<&Value> {
        self.0.get("context").filter(|c| c.is_object())
    }

    /// The requested `adcp_major_version`, when it is a number.
    ///
    /// # Errors
    /// `InvalidRequest` when present but not an integer.
    pub fn major_version(&self) -> Result<Option<i64>, Error> {
        match self.0.get("adcp_major_version") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
            Some(_) => Err(Error::invalid("adcp_major_version", "adcp_major_version must be an integer")),
        }
    }

    /// Deserializes the arguments into the tool's request type.
    ///
    /// # Errors
    /// `InvalidRequest` whose `field` is the JSONPath-lite location of the first bad value.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let value = Value::Object(self.0.clone());
        serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner().to_string();
            // serde reports a missing field at its parent; name the field itself.
            let missing = inner.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
            let field = match (path.as_str(), missing) {
                (".", Some(name)) => Some(name.to_owned()),
                (".", None) => None,
                (parent, Some(name)) => Some(format!("{parent}.{name}")),
                (parent, None) => Some(parent.to_owned()),
            };
            let message = match &field {
                Some(field) => format!("invalid value for {field}: {inner}"),
                None => format!("invalid arguments: {inner}"),
            };
            Error::InvalidRequest {
                message,
                field,
                suggestion: Some("check the tool's input schema in tools/list".to_owned()),
            }
        })
    }
}

/// PATCH fields: with `#[serde(default, deserialize_with = "patch")]`, an absent field is `None`
/// (leave it), `null` is `Some(None)` (clear it), a value is `Some(Some(value))`.
///
/// # Errors
/// The inner value's own deserialization errors.
pub fn patch<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
