//! Java's `sasl.jaas.config`: `<LoginModule class> <flag> key="value" ...;`.

use std::collections::BTreeMap;

/// A parsed `sasl.jaas.config`: `<module> <flag> key="value" ...;`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Jaas {
    pub module: String,
    pub options: BTreeMap<String, String>,
}

/// Parses Java's JAAS line. Errors never contain option values.
pub(super) fn parse_jaas(text: &str) -> Result<Jaas, String> {
    const SHAPE: &str = "expected `<LoginModule class> required key=\"value\" ...;`";
    let text = text.trim();
    let text = text.strip_suffix(';').ok_or_else(|| format!("missing the final `;`: {SHAPE}"))?;
    let mut rest = text.trim_start();
    let mut word = || -> Option<String> {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let w = rest[..end].to_owned();
        rest = rest[end..].trim_start();
        (!w.is_empty()).then_some(w)
    };
    let module = word().ok_or_else(|| format!("no login module: {SHAPE}"))?;
    let flag = word().ok_or_else(|| format!("no control flag after {module}: {SHAPE}"))?;
    if !["required", "requisite", "sufficient", "optional"].contains(&flag.as_str()) {
        return Err(format!(
            "`{flag}` is not a JAAS control flag (required, requisite, sufficient, optional)"
        ));
    }
    let mut options = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        if chars.next() != Some('=') {
            return Err(format!("option `{key}` has no `=value`: {SHAPE}"));
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let mut v = String::new();
            loop {
                match chars.next() {
                    None => return Err(format!("the value of `{key}` has no closing quote")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => v.push(c),
                        None => return Err(format!("the value of `{key}` ends in a backslash")),
                    },
                    Some(c) => v.push(c),
                }
            }
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect()
        };
        options.insert(key, value);
    }
    Ok(Jaas { module, options })
}
