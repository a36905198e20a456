//! RFC 9421 (HTTP Message Signatures) pieces shared by webhook signing and request
//! verification: RFC 8941 structured fields (the subset signatures use), the canonical
//! `@target-uri` / `@authority`, and the signature base.

use std::fmt::Write as _;

/// An RFC 8941 bare item.
#[derive(Debug, Clone, PartialEq)]
pub enum Bare {
    Integer(i64),
    Decimal(f64),
    String(String),
    Token(String),
    Bytes(String),
    Boolean(bool),
}

/// An item or inner list with its parameters, in the order received.
#[derive(Debug, Clone, PartialEq)]
pub enum Member {
    Item(Bare, Vec<(String, Bare)>),
    InnerList(Vec<(Bare, Vec<(String, Bare)>)>, Vec<(String, Bare)>),
}

/// Why a structured field did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// Parses an RFC 8941 dictionary strictly; a key given twice is refused (not last-wins).
///
/// # Errors
/// Any syntax error or duplicate key.
pub fn parse_dictionary(text: &str) -> Result<Vec<(String, Member)>, Malformed> {
    let mut parser = Parser { bytes: text.as_bytes(), at: 0 };
    let mut members: Vec<(String, Member)> = Vec::new();
    parser.skip_sp();
    if parser.done() {
        return Ok(members);
    }
    loop {
        let key = parser.key()?;
        let member =
            if parser.eat(b'=') { parser.member()? } else { Member::Item(Bare::Boolean(true), parser.params()?) };
        if members.iter().any(|(k, _)| *k == key) {
            return Err(Malformed(format!("dictionary key {key} appears twice")));
        }
        members.push((key, member));
        parser.skip_ows();
        if parser.done() {
            return Ok(members);
        }
        if !parser.eat(b',') {
            return Err(Malformed(format!("expected a comma at byte {}", parser.at)));
        }
        parser.skip_ows();
        if parser.done() {
            return Err(Malformed("trailing comma".to_owned()));
        }
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn key(&mut self) -> Result<String, Malformed> {
        let start = self.at;
        match self.peek() {
            Some(c) if c.is_ascii_lowercase() || c == b'*' => self.at += 1,
            _ => return Err(Malformed(format!("expected a key at byte {start}"))),
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c)) {
            self.at += 1;
        }
        Ok(String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned())
    }

    fn member(&mut self) -> Result<Member, Malformed> {
        if self.peek() == Some(b'(') {
            self.at += 1;
            let mut items = Vec::new();
            loop {
                self.skip_sp();
                if self.eat(b')') {
                    return Ok(Member::InnerList(items, self.params()?));
                }
                let item = self.bare()?;
                let params = self.params()?;
                items.push((item, params));
                if !matches!(self.peek(), Some(b' ' | b')')) {
                    return Err(Malformed(format!("expected a space or ) at byte {}", self.at)));
                }
            }
        }
        let item = self.bare()?;
        Ok(Member::Item(item, self.params()?))
    }

    fn params(&mut self) -> Result<Vec<(String, Bare)>, Malformed> {
        let mut params: Vec<(String, Bare)> = Vec::new();
        while self.eat(b';') {
            self.skip_sp();
            let key = self.key()?;
            let value = if self.eat(b'=') { self.bare()? } else { Bare::Boolean(true) };
            if params.iter().any(|(k, _)| *k == key) {
                return Err(Malformed(format!("parameter {key} appears twice")));
            }
            params.push((key, value));
        }
        Ok(params)
    }

    fn bare(&mut self) -> Result<Bare, Malformed> {
        let start = self.at;
        match self.peek() {
            Some(b'"') => {
                self.at += 1;
                let mut out = String::new();
                loop {
                    match self.peek() {
                        None => return Err(Malformed("unterminated string".to_owned())),
                        Some(b'\\') => {
                            self.at += 1;
                            match self.peek() {
                                Some(c @ (b'"' | b'\\')) => {
                                    out.push(c as char);
                                    self.at += 1;
                                }
                                _ => return Err(Malformed("bad escape in string".to_owned())),
                            }
                        }
                        Some(b'"') => {
                            self.at += 1;
                            return Ok(Bare::String(out));
                        }
                        Some(c) if (0x20..0x7f).contains(&c) => {
                            out.push(c as char);
                            self.at += 1;
                        }
                        Some(_) => return Err(Malformed("non-printable byte in string".to_owned())),
                    }
                }
            }
            Some(b':') => {
                self.at += 1;
                let from = self.at;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || b"+/=-_".contains(&c)) {
                    self.at += 1;
                }
                let text = String::from_utf8_lossy(&self.bytes[from..self.at]).into_owned();
                if !self.eat(b':') {
                    return Err(Malformed("unterminated byte sequence".to_owned()));
                }
                Ok(Bare::Bytes(text))
            }
            Some(b'?') => {
                self.at += 1;
                match self.peek() {
                    Some(b'1') => {
                        self.at += 1;
                        Ok(Bare::Boolean(true))
                    }
                    Some(b'0') => {
                        self.at += 1;
                        Ok(Bare::Boolean(false))
                    }
                    _ => Err(Malformed("bad boolean".to_owned())),
                }
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                self.at += 1;
                while matches!(self.peek(), Some(c) if c.is_ascii_digit() || c == b'.') {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or_default();
                if text.contains('.') {
                    text.parse().map(Bare::Decimal).map_err(|_| Malformed(format!("bad decimal {text}")))
                } else if text.trim_start_matches('-').len() > 15 {
                    Err(Malformed("integer too long".to_owned()))
                } else {
                    text.parse().map(Bare::Integer).map_err(|_| Malformed(format!("bad integer {text}")))
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => {
                self.at += 1;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c)) {
                    self.at += 1;
                }
                Ok(Bare::Token(String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned()))
            }
            _ => Err(Malformed(format!("unexpected byte at {start}"))),
        }
    }
}

/// Serializes an inner list with its parameters (RFC 8941 canonical form), as
/// `@signature-params` needs it.
pub fn serialize_inner_list(items: &[(Bare, Vec<(String, Bare)>)], params: &[(String, Bare)]) -> String {
    let mut out = String::from("(");
    for (index, (item, item_params)) in items.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        serialize_bare(&mut out, item);
        serialize_params(&mut out, item_params);
    }
    out.push(')');
    serialize_params(&mut out, params);
    out
}

fn serialize_params(out: &mut String, params: &[(String, Bare)]) {
    for (key, value) in params {
        out.push(';');
        out.push_str(key);
        if *value != Bare::Boolean(true) {
            out.push('=');
            serialize_bare(out, value);
        }
    }
}

fn serialize_bare(out: &mut String, value: &Bare) {
    match value {
        Bare::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        Bare::Decimal(d) => {
            let _ = write!(out, "{d}");
        }
        Bare::String(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        Bare::Token(t) => out.push_str(t),
        Bare::Bytes(b) => {
            out.push(':');
            out.push_str(b);
            out.push(':');
        }
        Bare::Boolean(b) => out.push_str(if *b { "?1" } else { "?0" }),
    }
}

/// `@target-uri` and `@authority` of a URL (the AdCP profile of RFC 9421): scheme and host
/// lower-cased, default port dropped, dot segments removed, percent-encodings of unreserved
/// characters decoded and the rest upper-cased; path and query otherwise byte for byte.
///
/// # Errors
/// A URL that does not parse or has no host.
pub fn canonical_target(url: &str) -> Result<(String, String), Malformed> {
    let parsed = reqwest::Url::parse(url).map_err(|e| Malformed(format!("target URI {url:?}: {e}")))?;
    let host = parsed.host_str().ok_or_else(|| Malformed(format!("target URI {url:?} has no host")))?;
    let authority = match parsed.port() {
        Some(port) => format!("{host}:{port}").to_ascii_lowercase(),
        None => host.to_ascii_lowercase(),
    };
    let mut target = format!("{}://{authority}{}", parsed.scheme(), normalize_percent(parsed.path()));
    if let Some(query) = parsed.query().filter(|q| !q.is_empty()) {
        target.push('?');
        target.push_str(&normalize_percent(query));
    }
    Ok((target, authority))
}

/// Decodes `%XX` of unreserved characters (A-Z a-z 0-9 - . _ ~) and upper-cases the hex of
/// the others.
fn normalize_percent(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = &text[i + 1..i + 3];
            let value = u8::from_str_radix(hex, 16).unwrap_or(0);
            if value.is_ascii_alphanumeric() || b"-._~".contains(&value) {
                out.push(value as char);
            } else {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

/// The RFC 9421 §2.5 signature base: one `"name": value` line per covered component, then
/// `"@signature-params"`; no trailing newline.
pub fn signature_base(components: &[(String, String)], signature_params: &str) -> String {
    let mut base = String::new();
    for (name, value) in components {
        let _ = writeln!(base, "\"{name}\": {value}");
    }
    let _ = write!(base, "\"@signature-params\": {signature_params}");
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_input_parses_and_serializes_back() {
        let text = r#"sig1=("@method" "@target-uri" "@authority" "content-type");created=1776520800;expires=1776521100;nonce="KXYnfEfJ0PBRZXQyVXfVQA";keyid="test-ed25519-2026";alg="ed25519";tag="adcp/request-signing/v1""#;
        let parsed = parse_dictionary(text).unwrap();
        let [(label, Member::InnerList(items, params))] = parsed.as_slice() else { panic!("one inner list") };
        assert_eq!(label, "sig1");
        assert_eq!(format!("sig1={}", serialize_inner_list(items, params)), text);
        assert!(parse_dictionary("sig1=(\"a\");x=1, sig1=(\"b\")").is_err(), "duplicate labels");
        assert!(parse_dictionary("sig1=not a valid structured-field value!!!").is_err());
        let unquoted = parse_dictionary("sig1=(\"@method\");keyid=test-ed25519-2026").unwrap();
        let Member::InnerList(_, params) = &unquoted[0].1 else { panic!() };
        assert_eq!(params[0].1, Bare::Token("test-ed25519-2026".into()), "a token, not a string");
    }

    #[test]
    fn targets_are_canonical() {
        let (target, authority) = canonical_target("HTTP://Example.COM:80/a/./b/%7Ec%2fd%e2%98%83?b=2&a=1").unwrap();
        assert_eq!(target, "http://example.com/a/b/~c%2Fd%E2%98%83?b=2&a=1");
        assert_eq!(authority, "example.com");
        let (target, authority) = canonical_target("https://[2001:db8::1]:443/p").unwrap();
        assert_eq!((target.as_str(), authority.as_str()), ("https://[2001:db8::1]/p", "[2001:db8::1]"));
        assert_eq!(canonical_target("http://127.0.0.1:8080/mcp").unwrap().1, "127.0.0.1:8080");
    }
}
