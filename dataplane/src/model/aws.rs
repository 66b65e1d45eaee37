//! `[aws]`: the AWS-compatible endpoint a lab follows (issue 19, part 2).
//! `dataplane run FILE` with an `[aws]` section follows that endpoint as
//! `run --aws-endpoint URL --region R` does; the command line overrides
//! the file.

/// The region an endpoint is asked about unless told otherwise.
pub const DEFAULT_REGION: &str = "us-east-1";

/// What `[aws]` says; `check` validated each value, none is resolved yet
/// (a profile is read when the agent starts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AwsSource {
    /// `http://HOST:PORT` of an emulator on this machine.
    pub endpoint: Option<String>,
    /// The region to ask about (`DEFAULT_REGION` when neither this nor the
    /// profile gives one).
    pub region: Option<String>,
    /// A profile of the AWS CLI's config file: its `endpoint_url` and
    /// `region` (only those) where `endpoint` and `region` are not given.
    pub profile: Option<String>,
}

/// Whether `s` is an `http://HOST:PORT` URL (no path but `/`), or why not.
pub fn check_endpoint_url(s: &str) -> Result<(), String> {
    let rest = match s.strip_prefix("http://") {
        Some(r) => r,
        None if s.starts_with("https://") => {
            return Err(format!(
                "{s}: https is not supported (an emulator on this machine speaks http)"
            ))
        }
        None => return Err(format!("{s}: expected http://HOST:PORT")),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let port_ok = authority
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    if authority.contains('/') || !port_ok {
        return Err(format!("{s}: expected http://HOST:PORT (a port, no path)"));
    }
    Ok(())
}

/// Whether `s` reads as an AWS region name (`us-east-1`, `eu-central-2`,
/// `us-gov-west-1`).
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// Whether `s` is a profile name the AWS CLI accepts in its files.
pub fn is_profile(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'@'))
}
