//! SOAP 1.1, document/literal wrapped, as Google Ad Manager's API speaks it: a small element
//! tree ([`El`]) that is written in the order it is built (the schema's `xsd:sequence` order is
//! the caller's to keep) and read back from answers, the envelope with GAM's `RequestHeader`,
//! and the client: bearer token, `SOAPAction: ""`, faults parsed and classified for the booking
//! outbox, quota faults and 429s retried in the call with backoff, and dry-run (the envelope is
//! printed, nothing is sent).

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;

use super::http::{RateLimitRetry, Recorder, TokenSource};
use crate::core::booking::AdServerError;

const ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// One XML element: a local name, an optional `xsi:type`, text or children.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct El {
    pub name: String,
    pub xsi_type: Option<String>,
    pub text: Option<String>,
    pub children: Vec<El>,
}

impl El {
    pub fn new(name: &str) -> El {
        El { name: name.to_owned(), ..El::default() }
    }

    /// `<name>text</name>`.
    pub fn leaf(name: &str, text: impl ToString) -> El {
        El { name: name.to_owned(), text: Some(text.to_string()), ..El::default() }
    }

    /// The element with `xsi:type` set (a subtype of the declared type).
    pub fn typed(mut self, xsi_type: &str) -> El {
        self.xsi_type = Some(xsi_type.to_owned());
        self
    }

    pub fn child(mut self, child: El) -> El {
        self.children.push(child);
        self
    }

    /// Adds `<name>text</name>` when `text` is present.
    pub fn maybe(self, name: &str, text: Option<impl ToString>) -> El {
        match text {
            Some(text) => self.child(El::leaf(name, text)),
            None => self,
        }
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a El> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn first(&self, name: &str) -> Option<&El> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the child at `path` (`a/b/c`), trimmed.
    pub fn text_at(&self, path: &str) -> Option<&str> {
        let mut at = self;
        for step in path.split('/') {
            at = at.first(step)?;
        }
        at.text.as_deref().map(str::trim)
    }

    /// Sets a child: replaces the first child of the same name, or inserts it where `order`
    /// (the type's element order) puts it.
    pub fn set(&mut self, order: &[&str], value: El) {
        match self.children.iter().position(|c| c.name == value.name) {
            Some(i) => self.children[i] = value,
            None => {
                let at = self.insertion_point(order, &value.name);
                self.children.insert(at, value);
            }
        }
    }

    /// Removes every child named `name`, then inserts `values` where `order` puts that name.
    pub fn set_all(&mut self, order: &[&str], name: &str, values: Vec<El>) {
        self.children.retain(|c| c.name != name);
        let at = self.insertion_point(order, name);
        self.children.splice(at..at, values);
    }

    /// Where a child named `name` goes: after every child that `order` puts before it (children
    /// whose names `order` does not know stay where they are).
    fn insertion_point(&self, order: &[&str], name: &str) -> usize {
        let rank = |n: &str| order.iter().position(|o| *o == n);
        let Some(mine) = rank(name) else { return self.children.len() };
        self.children.iter().rposition(|c| rank(&c.name).is_some_and(|r| r <= mine)).map_or(0, |i| i + 1)
    }

    /// Writes the element; `prefix` is bound to the API namespace (for `xsi:type` values).
    pub fn write(&self, out: &mut String, prefix: &str) {
        out.push('<');
        out.push_str(&self.name);
        if let Some(xsi_type) = &self.xsi_type {
            out.push_str(" xsi:type=\"");
            out.push_str(prefix);
            out.push(':');
            escape_into(out, xsi_type);
            out.push('"');
        }
        if self.text.is_none() && self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if let Some(text) = &self.text {
            escape_into(out, text);
        }
        for child in &self.children {
            child.write(out, prefix);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }

    fn from_node(node: roxmltree::Node<'_, '_>) -> El {
        let xsi_type = node.attribute((XSI_NS, "type")).map(|t| t.rsplit(':').next().unwrap_or(t).to_owned());
        let children: Vec<El> = node.children().filter(roxmltree::Node::is_element).map(El::from_node).collect();
        let text = if children.is_empty() { node.text().map(str::to_owned) } else { None };
        El { name: node.tag_name().name().to_owned(), xsi_type, text, children }
    }

    /// Parses a document into its root element.
    ///
    /// # Errors
    /// The text is not well-formed XML.
    pub fn parse(text: &str) -> Result<El, String> {
        let document = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
        Ok(El::from_node(document.root_element()))
    }
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// A PQL statement with bind variables (`WHERE name = :name`), as GAM's `Statement`.
#[derive(Debug, Clone, Default)]
pub struct Statement {
    pub query: String,
    values: Vec<(String, &'static str, String)>,
}

impl Statement {
    pub fn new(query: impl Into<String>) -> Statement {
        Statement { query: query.into(), values: Vec::new() }
    }

    pub fn text(mut self, key: &str, value: &str) -> Statement {
        self.values.push((key.to_owned(), "TextValue", value.to_owned()));
        self
    }

    pub fn number(mut self, key: &str, value: i64) -> Statement {
        self.values.push((key.to_owned(), "NumberValue", value.to_string()));
        self
    }

    pub fn element(&self, name: &str) -> El {
        let mut statement = El::new(name).child(El::leaf("query", &self.query));
        for (key, kind, value) in &self.values {
            statement = statement.child(
                El::new("values")
                    .child(El::leaf("key", key))
                    .child(El::new("value").typed(kind).child(El::leaf("value", value))),
            );
        }
        statement
    }
}

/// One error of an `ApiExceptionFault`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// `QuotaError.EXCEEDED_QUOTA`, `ForecastError.NO_FORECAST_YET`, ...
    pub error_string: String,
    pub field_path: String,
    pub trigger: String,
}

/// A SOAP fault: its string and the API errors in its detail.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub fault_string: String,
    pub errors: Vec<ApiError>,
}

impl Fault {
    fn of(body: &El) -> Option<Fault> {
        let fault = body.first("Fault")?;
        let exception = fault.first("detail").and_then(|d| d.first("ApiExceptionFault"));
        let errors = exception
            .into_iter()
            .flat_map(|e| e.children_named("errors"))
            .map(|e| {
                let error_string = e.text_at("errorString").unwrap_or_default().to_owned();
                // Some errors carry only the reason; the type names the error class.
                let error_string = match (error_string.is_empty(), &e.xsi_type, e.text_at("reason")) {
                    (true, Some(kind), Some(reason)) => format!("{kind}.{reason}"),
                    _ => error_string,
                };
                ApiError {
                    error_string,
                    field_path: e.text_at("fieldPath").unwrap_or_default().to_owned(),
                    trigger: e.text_at("trigger").unwrap_or_default().to_owned(),
                }
            })
            .collect();
        Some(Fault { fault_string: fault.text_at("faultstring").unwrap_or_default().to_owned(), errors })
    }

    /// Worth retrying in a moment: quota, a forecast still being computed, GAM's own trouble.
    pub fn is_transient(&self) -> bool {
        const TRANSIENT: [&str; 8] = [
            "QuotaError.EXCEEDED_QUOTA",
            "QuotaError.REPORT_JOB_LIMIT",
            "ForecastError.NO_FORECAST_YET",
            "ForecastError.SERVER_NOT_AVAILABLE",
            "ForecastError.INTERNAL_ERROR",
            "ServerError.",
            "InternalApiError.",
            "ConcurrentModificationError.",
        ];
        let named = |text: &str| TRANSIENT.iter().any(|t| text.contains(t));
        self.errors.iter().any(|e| named(&e.error_string)) || (self.errors.is_empty() && named(&self.fault_string))
    }

    /// The credentials were refused (GAM answers these as faults too).
    pub fn is_authentication(&self) -> bool {
        let named = |text: &str| text.contains("AuthenticationError.") || text.contains("PermissionError.");
        self.errors.iter().any(|e| named(&e.error_string)) || named(&self.fault_string)
    }

    /// The faults' own words: each error with the field it names.
    pub fn describe(&self) -> String {
        if self.errors.is_empty() {
            return self.fault_string.clone();
        }
        self.errors
            .iter()
            .map(|e| {
                let mut text = e.error_string.clone();
                if !e.field_path.is_empty() {
                    text.push_str(&format!(" @ {}", e.field_path));
                }
                if !e.trigger.is_empty() {
                    text.push_str(&format!(" (trigger {:?})", e.trigger));
                }
                text
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One GAM network's SOAP endpoint.
#[derive(Clone)]
pub struct SoapApi {
    /// `https://ads.google.com/apis/ads/publisher/v202608`.
    pub endpoint: String,
    pub namespace: String,
    pub network_code: String,
    pub application_name: String,
    client: reqwest::Client,
    tokens: Option<Arc<dyn TokenSource>>,
    dry_run: bool,
    retry: RateLimitRetry,
    recorder: Option<Recorder>,
}

impl std::fmt::Debug for SoapApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoapApi")
            .field("endpoint", &self.endpoint)
            .field("network_code", &self.network_code)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

impl SoapApi {
    /// `tokens` may be absent only in dry-run.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(
        base_url: &str,
        version: &str,
        network_code: &str,
        application_name: &str,
        tokens: Option<Arc<dyn TokenSource>>,
        dry_run: bool,
        retry: RateLimitRetry,
    ) -> Result<SoapApi, AdServerError> {
        let client = super::http::client("gam", REQUEST_TIMEOUT)?;
        Ok(SoapApi {
            endpoint: format!("{}/apis/ads/publisher/{version}", base_url.trim_end_matches('/')),
            namespace: format!("https://www.google.com/apis/ads/publisher/{version}"),
            network_code: network_code.to_owned(),
            application_name: application_name.to_owned(),
            client,
            tokens,
            dry_run,
            retry,
            recorder: None,
        })
    }

    pub fn rehearsal(&self, recorder: Recorder) -> SoapApi {
        SoapApi { dry_run: true, recorder: Some(recorder), ..self.clone() }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn retry(&self) -> RateLimitRetry {
        self.retry
    }

    /// The whole request document for `operation` (an element named after the operation).
    pub fn envelope(&self, operation: &El) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        out.push_str(&format!(
            r#"<soapenv:Envelope xmlns:soapenv="{ENVELOPE_NS}" xmlns:xsi="{XSI_NS}" xmlns:ns="{}">"#,
            self.namespace
        ));
        out.push_str("<soapenv:Header><ns:RequestHeader><ns:networkCode>");
        escape_into(&mut out, &self.network_code);
        out.push_str("</ns:networkCode><ns:applicationName>");
        escape_into(&mut out, &self.application_name);
        out.push_str("</ns:applicationName></ns:RequestHeader>");
        out.push_str("</soapenv:Header><soapenv:Body>");
        let mut body = String::new();
        operation.write(&mut body, "ns");
        // The operation element declares the API namespace as the default for everything in it.
        let open = format!("<{}", operation.name);
        body.replace_range(..open.len(), &format!(r#"{open} xmlns="{}""#, self.namespace));
        out.push_str(&body);
        out.push_str("</soapenv:Body></soapenv:Envelope>");
        out
    }

    /// Calls `service`'s operation and returns the response element (`{op}Response`). In
    /// dry-run it prints `[dry-run] Would call: POST URL` with the envelope, sends nothing and
    /// returns `None`: the adapter simulates the answer.
    ///
    /// # Errors
    /// `Retryable` for network failures, 5xx without a readable fault, transient faults (quota,
    /// forecasts not ready, GAM's internal errors) that outlast the retries, unreadable answers;
    /// `Permanent` for other faults (naming GAM's errors and fields) and refused credentials.
    pub async fn call(&self, service: &str, operation: El) -> Result<Option<El>, AdServerError> {
        let url = format!("{}/{service}", self.endpoint);
        let document = self.envelope(&operation);
        if self.dry_run {
            super::http::print_dry_run("gam", self.recorder.as_ref(), format!("POST {url} {document}"));
            return Ok(None);
        }
        let what = format!("gam: {service}.{}", operation.name);
        let tokens = self
            .tokens
            .as_ref()
            .ok_or_else(|| AdServerError::Permanent(format!("{what}: no GAM credentials configured")))?;
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let token = tokens.token().await?;
            let response = self
                .client
                .post(&url)
                .header("Content-Type", "text/xml; charset=utf-8")
                .header("SOAPAction", "\"\"")
                .header("Authorization", format!("Bearer {token}"))
                .body(document.clone())
                .send()
                .await
                .map_err(|e| AdServerError::Retryable(format!("{what}: {}", e.without_url())))?;
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|e| AdServerError::Retryable(format!("{what}: reading the answer: {e}")))?;
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                // A token revoked or expired early: one fresh token, then the answer stands.
                tokens.invalidate().await;
                refreshed = true;
                continue;
            }
            let envelope = El::parse(&text).ok();
            let body = envelope.as_ref().and_then(|e| e.first("Body"));
            if let Some(fault) = body.and_then(Fault::of) {
                if fault.is_transient() && attempt < self.retry.attempts {
                    let wait = self.retry.backoff(attempt);
                    tracing::warn!(platform = "gam", %what, attempt, ?wait, fault = %fault.describe(), "retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Err(classify_fault(&what, &fault));
            }
            if status == StatusCode::TOO_MANY_REQUESTS && attempt < self.retry.attempts {
                tokio::time::sleep(self.retry.backoff(attempt)).await;
                continue;
            }
            return match (status, body) {
                (s, Some(body)) if s.is_success() => body
                    .children
                    .first()
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| AdServerError::Retryable(format!("{what}: an empty SOAP body"))),
                (s, _) if s.is_success() => {
                    Err(AdServerError::Retryable(format!("{what}: unreadable answer (not a SOAP envelope)")))
                }
                (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => Err(AdServerError::Permanent(format!(
                    "{what}: HTTP {}: authentication failed; check the tenant's GAM service account and network code",
                    status.as_u16()
                ))),
                (s, _)
                    if s.is_server_error()
                        || s == StatusCode::TOO_MANY_REQUESTS
                        || s == StatusCode::REQUEST_TIMEOUT =>
                {
                    Err(AdServerError::Retryable(format!("{what}: HTTP {}", s.as_u16())))
                }
                (s, _) => Err(AdServerError::Permanent(format!(
                    "{what}: HTTP {}: {}",
                    s.as_u16(),
                    text.trim().chars().take(300).collect::<String>()
                ))),
            };
        }
    }
}

fn classify_fault(what: &str, fault: &Fault) -> AdServerError {
    let said = fault.describe();
    if fault.is_transient() {
        AdServerError::Retryable(format!("{what}: {said}"))
    } else if fault.is_authentication() {
        AdServerError::Permanent(format!(
            "{what}: authentication failed; check the tenant's GAM service account and network code: {said}"
        ))
    } else {
        AdServerError::Permanent(format!("{what}: {said}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_written_in_the_order_built_and_escaped() {
        let op = El::new("performOrderAction")
            .child(El::new("orderAction").typed("ApproveOrders").child(El::leaf("skipInventoryCheck", false)))
            .child(Statement::new("WHERE name = :name").text("name", "a<b & \"c\"").element("filterStatement"));
        let mut out = String::new();
        op.write(&mut out, "ns");
        assert_eq!(
            out,
            "<performOrderAction><orderAction xsi:type=\"ns:ApproveOrders\"><skipInventoryCheck>false</skipInventoryCheck>\
             </orderAction><filterStatement><query>WHERE name = :name</query><values><key>name</key>\
             <value xsi:type=\"ns:TextValue\"><value>a&lt;b &amp; &quot;c&quot;</value></value></values>\
             </filterStatement></performOrderAction>"
        );
    }

    #[test]
    fn children_are_set_in_schema_order() {
        let order = ["a", "b", "c", "d"];
        let mut el = El::new("x").child(El::leaf("a", 1)).child(El::leaf("zz", 0)).child(El::leaf("d", 4));
        el.set(&order, El::leaf("c", 3));
        el.set(&order, El::leaf("a", 9));
        el.set_all(&order, "b", vec![El::leaf("b", 2), El::leaf("b", 2)]);
        let names: Vec<&str> = el.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "b", "c", "zz", "d"]);
        assert_eq!(el.text_at("a"), Some("9"));
    }

    #[test]
    fn faults_are_read_and_classified() {
        let text = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
            xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body><soap:Fault>
            <faultcode>soap:Server</faultcode><faultstring>[QuotaError.EXCEEDED_QUOTA @ ]</faultstring>
            <detail><ApiExceptionFault xmlns="https://www.google.com/apis/ads/publisher/v202608">
            <message>[QuotaError.EXCEEDED_QUOTA @ ]</message>
            <errors xsi:type="QuotaError"><fieldPath/><trigger/><errorString>QuotaError.EXCEEDED_QUOTA</errorString>
            <reason>EXCEEDED_QUOTA</reason></errors></ApiExceptionFault></detail></soap:Fault></soap:Body></soap:Envelope>"#;
        let envelope = El::parse(text).unwrap();
        let fault = Fault::of(envelope.first("Body").unwrap()).unwrap();
        assert!(fault.is_transient());
        assert_eq!(fault.errors[0].error_string, "QuotaError.EXCEEDED_QUOTA");
        let refused = Fault {
            fault_string: String::new(),
            errors: vec![ApiError {
                error_string: "RequiredError.REQUIRED".into(),
                field_path: "lineItem[0].costType".into(),
                trigger: String::new(),
            }],
        };
        assert!(!refused.is_transient());
        assert!(matches!(classify_fault("x", &refused), AdServerError::Permanent(m) if m.contains("costType")));
    }
}
