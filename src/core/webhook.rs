//! Buyer-supplied webhook destinations (`push_notification_config`, `reporting_webhook`): what
//! this seller agrees to call. Outside configured exceptions a destination must be `https` and
//! must not name a loopback, private, link-local, shared, multicast or cloud-metadata address,
//! so that a buyer cannot aim the seller's requests at the seller's own network (SSRF).
//!
//! Only the URL's own host is checked here (core does no IO); the delivery worker must check the
//! addresses a host name resolves to before it connects.

// Address types only (`core::net` has no sockets).
use ::core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::Error;
use super::media_buy::Verbatim;

/// Which destinations a tenant accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Accept `http` and loopback or private addresses (sandbox demos, compliance runs with a
    /// local receiver). Never in production.
    pub allow_private: bool,
}

/// A webhook the buyer asked for: its destination and its whole configuration, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub config: Verbatim,
    /// How often delivery reports are sent (reporting webhooks only).
    pub frequency: Option<Frequency>,
}

/// AdCP `reporting_frequency` of a reporting webhook; periods are UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Hourly,
    Daily,
    Monthly,
}

impl Frequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Hourly => "hourly",
            Frequency::Daily => "daily",
            Frequency::Monthly => "monthly",
        }
    }

    pub fn parse(text: &str) -> Option<Frequency> {
        [Frequency::Hourly, Frequency::Daily, Frequency::Monthly].into_iter().find(|f| f.as_str() == text)
    }
}

/// Checks a destination URL; `field` names it in the error.
///
/// # Errors
/// `INVALID_REQUEST` on `field` for a malformed URL or a refused scheme or address.
pub fn check_url(url: &str, field: &str, policy: UrlPolicy) -> Result<(), Error> {
    let refuse = |why: String| {
        Err(Error::invalid_with(
            field,
            format!("{field} rejected: {why}"),
            if policy.allow_private {
                "send an absolute http(s) URL"
            } else {
                "send a public https URL of your own service"
            },
        ))
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return refuse("not an absolute URL".into());
    };
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if policy.allow_private => {}
        "http" => return refuse("plain http is not accepted; use https".into()),
        other => return refuse(format!("scheme {other:?} is not accepted")),
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return refuse("credentials in the URL are not accepted".into());
    }
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((host, _)) => host,
            None => return refuse("unterminated IPv6 address".into()),
        }
    } else {
        authority.rsplit_once(':').map_or(authority, |(host, _port)| host)
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("no valid host".into());
    }
    if policy.allow_private {
        return Ok(());
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        if let Some(range) = internal_range(ip) {
            return refuse(format!("{range} address {ip}"));
        }
        return Ok(());
    }
    let internal_names = ["localhost", "metadata", "metadata.google.internal"];
    let internal_suffixes = [".localhost", ".local", ".internal", ".localdomain", ".home.arpa"];
    if internal_names.contains(&host.as_str()) || internal_suffixes.iter().any(|s| host.ends_with(s)) {
        return refuse(format!("host {host} is internal"));
    }
    if !host.contains('.') {
        return refuse(format!("host {host} is not a public domain name"));
    }
    Ok(())
}

/// Checks an address a destination's host resolved to, before connecting to it (the URL check
/// alone cannot see what a public name points at).
///
/// # Errors
/// The kind of non-public range the address is in, when the policy refuses it.
pub fn check_address(ip: IpAddr, policy: UrlPolicy) -> Result<(), String> {
    match internal_range(ip) {
        Some(range) if !policy.allow_private => Err(format!("{range} address {ip}")),
        _ => Ok(()),
    }
}

/// The kind of non-public range an address is in, if any.
fn internal_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast or reserved")
    } else {
        None
    }
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique local")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCTION: UrlPolicy = UrlPolicy { allow_private: false };

    #[test]
    fn production_accepts_public_https_only() {
        for ok in ["https://buyer.example/webhooks/adcp", "https://buyer.example:8443/x?y=1", "https://93.184.216.34/h"]
        {
            assert!(check_url(ok, "u", PRODUCTION).is_ok(), "{ok}");
        }
        for refused in [
            "http://buyer.example/h",
            "ftp://buyer.example/h",
            "buyer.example/h",
            "https://127.0.0.1:3004/h",
            "https://10.1.2.3/h",
            "https://172.20.0.1/h",
            "https://192.168.1.10/h",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/h",
            "https://0.0.0.0/h",
            "https://[::1]/h",
            "https://[fd00::1]/h",
            "https://[fe80::1]/h",
            "https://[::ffff:127.0.0.1]/h",
            "https://localhost/h",
            "https://api.localhost/h",
            "https://metadata.google.internal/computeMetadata",
            "https://printer.local/h",
            "https://intranet/h",
            "https://user:pw@buyer.example/h",
            "https:///h",
        ] {
            assert!(check_url(refused, "u", PRODUCTION).is_err(), "{refused}");
        }
    }

    #[test]
    fn sandboxes_may_allow_local_receivers() {
        let sandbox = UrlPolicy { allow_private: true };
        assert!(check_url("http://127.0.0.1:3004/mcp", "u", sandbox).is_ok());
        assert!(check_url("ftp://127.0.0.1/h", "u", sandbox).is_err(), "still http(s) only");
        let Err(Error::InvalidRequest { message, field, .. }) =
            check_url("https://127.0.0.1:3004/h", "push_notification_config.url", PRODUCTION)
        else {
            panic!("loopback refused in production");
        };
        assert_eq!(field.as_deref(), Some("push_notification_config.url"));
        assert!(message.contains("loopback"), "{message}");
    }
}
