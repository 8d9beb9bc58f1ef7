//! `amqp://user:pass@host:port/vhost` URLs, parsed here rather than with
//! amqprs's `urispec` feature (one dependency less), following RabbitMQ's
//! URI specification: percent-encoded user, password and virtual host,
//! port 5672 and guest/guest by default.

use crate::error::AmqpError;

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub vhost: String,
    /// The URL without its password, for messages and logs.
    pub redacted: String,
}

pub const DEFAULT_PORT: u16 = 5672;

/// Parses `url`. `amqps://` is refused: TLS is not built into this
/// connector. A missing or empty path means the default virtual host `/`
/// (which a URL spells `%2F`).
pub fn parse(url: &str) -> Result<Target, AmqpError> {
    let redacted = redact(url);
    let fail = |reason: &str| AmqpError::Url {
        url: redacted.clone(),
        reason: reason.to_string(),
    };
    let rest = if let Some(rest) = url.strip_prefix("amqp://") {
        rest
    } else if url.starts_with("amqps://") {
        return Err(fail("amqps (TLS) is not supported; use amqp://"));
    } else {
        return Err(fail("expected amqp://user:password@host:port/vhost"));
    };
    if rest.contains('?') || rest.contains('#') {
        return Err(fail("query parameters are not supported"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => ("guest".to_string(), "guest".to_string()),
        Some(info) => {
            let (user, password) = info.split_once(':').unwrap_or((info, ""));
            (
                decode(user).map_err(|e| fail(&e))?,
                decode(password).map_err(|e| fail(&e))?,
            )
        }
    };
    let (host, port) = split_host_port(hostport).map_err(|e| fail(&e))?;
    if host.is_empty() {
        return Err(fail("no host"));
    }
    if path.contains('/') {
        return Err(fail(
            "the virtual host is one path segment (write `/` as %2F)",
        ));
    }
    let vhost = match decode(path).map_err(|e| fail(&e))? {
        v if v.is_empty() => "/".to_string(),
        v => v,
    };
    Ok(Target {
        host,
        port,
        user,
        password,
        vhost,
        redacted,
    })
}

fn split_host_port(hostport: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        // An IPv6 literal: [::1]:5672
        let end = rest.find(']').ok_or("unclosed `[` in the host")?;
        let port = rest[end + 1..].strip_prefix(':');
        if port.is_none() && end + 1 != rest.len() {
            return Err("unexpected text after the IPv6 address".into());
        }
        (rest[..end].to_string(), port)
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (hostport.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("invalid port `{p}`"))?,
    };
    Ok((host, port))
}

/// Percent-decoding of one URL component.
fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent-encoding in `{s}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{s}` does not decode to UTF-8"))
}

/// `url` with the password replaced by `***`, for error messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _)) => format!(
                "{scheme}://{user}:***@{}{}",
                &authority[at + 1..],
                &rest[authority_end..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let t = parse("amqp://eddy:s%40cret@broker.local:5673/prod").unwrap();
        assert_eq!(t.host, "broker.local");
        assert_eq!(t.port, 5673);
        assert_eq!(t.user, "eddy");
        assert_eq!(t.password, "s@cret");
        assert_eq!(t.vhost, "prod");
        assert_eq!(t.redacted, "amqp://eddy:***@broker.local:5673/prod");
    }

    #[test]
    fn defaults() {
        let t = parse("amqp://localhost").unwrap();
        assert_eq!(
            (t.port, t.user.as_str(), t.password.as_str()),
            (5672, "guest", "guest")
        );
        assert_eq!(t.vhost, "/");
        assert_eq!(parse("amqp://h/").unwrap().vhost, "/");
        assert_eq!(parse("amqp://h/%2F").unwrap().vhost, "/");
        assert_eq!(parse("amqp://h/%2fteam").unwrap().vhost, "/team");
    }

    #[test]
    fn ipv6() {
        let t = parse("amqp://[::1]:5672/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 5672));
        assert_eq!(parse("amqp://[::1]").unwrap().port, 5672);
    }

    #[test]
    fn refusals_do_not_show_the_password() {
        for (url, reason) in [
            ("amqps://u:pw@h/", "amqps"),
            ("http://u:pw@h/", "expected amqp://"),
            ("amqp://u:pw@h:99999/", "invalid port"),
            ("amqp://u:pw@h:0/", "invalid port"),
            ("amqp://u:pw@/", "no host"),
            ("amqp://u:pw@h/a/b", "one path segment"),
            ("amqp://u:pw@h/%zz", "percent-encoding"),
            ("amqp://u:pw@h/?heartbeat=5", "query"),
        ] {
            let err = parse(url).unwrap_err().to_string();
            assert!(err.contains(reason), "{url}: {err}");
            assert!(!err.contains("pw"), "{url}: {err}");
        }
    }
}
