//! Which endpoint `run` follows, and in which region: the command line
//! (`--aws-endpoint`, `--region`) over the config's `[aws]` (`endpoint`,
//! `region`), over the `[aws] profile` of the AWS CLI's config file (its
//! `endpoint_url` and `region`, and nothing else of it), over
//! `us-east-1`.

use crate::model::{AwsSource, DEFAULT_REGION};

/// A profile's `endpoint_url` and `region` in the text of an AWS CLI config
/// file (`[profile NAME]`, or `[default]` / `[profile default]`), or `None`
/// when the file has no such profile. Other keys (credentials among them)
/// are not read.
pub fn profile_settings(text: &str, name: &str) -> Option<(Option<String>, Option<String>)> {
    let mut found = None;
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let section = section.trim();
            let this = section
                .strip_prefix("profile ")
                .map(str::trim)
                .unwrap_or(if section == "default" { "default" } else { "" });
            inside = !this.is_empty() && this == name;
            if inside && found.is_none() {
                found = Some((None, None));
            }
            continue;
        }
        if !inside {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_string();
        let f = found.as_mut().expect("set on entering the section");
        match k.trim() {
            "endpoint_url" => f.0 = Some(v),
            "region" => f.1 = Some(v),
            _ => {}
        }
    }
    found
}

/// The AWS CLI's config file: `AWS_CONFIG_FILE`, else `~/.aws/config`.
fn config_file() -> std::path::PathBuf {
    match std::env::var_os("AWS_CONFIG_FILE") {
        Some(p) => p.into(),
        None => {
            std::path::Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".aws/config")
        }
    }
}

/// The endpoint and region to follow, if any: `file` is the config's
/// `[aws]`, `url` and `region` the command line's.
pub fn resolve(
    file: Option<&AwsSource>,
    url: Option<String>,
    region: Option<String>,
) -> Result<Option<(String, String)>, String> {
    resolve_with(file, url, region, |name| {
        let path = config_file();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "[aws] profile {name:?}: cannot read {}: {e}",
                path.display()
            )
        })?;
        profile_settings(&text, name).ok_or_else(|| {
            format!(
                "[aws] profile {name:?}: no such profile in {}",
                path.display()
            )
        })
    })
}

/// [`resolve`], with the profile read by `profile`.
pub fn resolve_with(
    file: Option<&AwsSource>,
    url: Option<String>,
    region: Option<String>,
    profile: impl Fn(&str) -> Result<(Option<String>, Option<String>), String>,
) -> Result<Option<(String, String)>, String> {
    let empty = AwsSource::default();
    let f = file.unwrap_or(&empty);
    let mut url = url.or_else(|| f.endpoint.clone());
    let mut region = region.or_else(|| f.region.clone());
    if let Some(name) = &f.profile {
        if url.is_none() || region.is_none() {
            let (p_url, p_region) = profile(name)?;
            if url.is_none() {
                url = Some(p_url.ok_or_else(|| {
                    format!("[aws] profile {name:?} has no endpoint_url (and [aws] no endpoint)")
                })?);
            }
            region = region.or(p_region);
        }
    }
    match url {
        Some(u) => Ok(Some((
            u,
            region.unwrap_or_else(|| DEFAULT_REGION.to_string()),
        ))),
        None if region.is_some() => Err(
            "--region needs an endpoint to ask: --aws-endpoint URL, or an [aws] section in FILE"
                .into(),
        ),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "[default]\nregion = us-west-2\n\n[profile moto]\nregion = eu-west-1\n\
                          endpoint_url = http://127.0.0.1:5000\naws_access_key_id = not-read\n\n\
                          [profile bare]\noutput = json\n";

    fn src(endpoint: Option<&str>, region: Option<&str>, profile: Option<&str>) -> AwsSource {
        AwsSource {
            endpoint: endpoint.map(Into::into),
            region: region.map(Into::into),
            profile: profile.map(Into::into),
        }
    }

    fn resolve_here(
        file: Option<&AwsSource>,
        url: Option<&str>,
        region: Option<&str>,
    ) -> Result<Option<(String, String)>, String> {
        resolve_with(file, url.map(Into::into), region.map(Into::into), |n| {
            profile_settings(CONFIG, n).ok_or_else(|| format!("no profile {n}"))
        })
    }

    #[test]
    fn a_profile_gives_its_endpoint_url_and_region_and_nothing_else() {
        assert_eq!(
            profile_settings(CONFIG, "moto"),
            Some((
                Some("http://127.0.0.1:5000".into()),
                Some("eu-west-1".into())
            ))
        );
        assert_eq!(
            profile_settings(CONFIG, "default"),
            Some((None, Some("us-west-2".into())))
        );
        assert_eq!(profile_settings(CONFIG, "bare"), Some((None, None)));
        assert_eq!(profile_settings(CONFIG, "nope"), None);
    }

    #[test]
    fn the_command_line_overrides_the_file_which_overrides_its_profile() {
        let u = |s: &str, r: &str| Ok(Some((s.to_string(), r.to_string())));
        // Nothing anywhere: no endpoint to follow.
        assert_eq!(resolve_here(None, None, None), Ok(None));
        // The command line alone (today's `run --aws-endpoint`).
        assert_eq!(
            resolve_here(None, Some("http://a:1"), None),
            u("http://a:1", "us-east-1")
        );
        // The file's [aws]; the command line's endpoint and region win.
        let f = src(Some("http://f:2"), Some("ap-south-1"), None);
        assert_eq!(
            resolve_here(Some(&f), None, None),
            u("http://f:2", "ap-south-1")
        );
        assert_eq!(
            resolve_here(Some(&f), Some("http://a:1"), None),
            u("http://a:1", "ap-south-1")
        );
        assert_eq!(
            resolve_here(Some(&f), None, Some("us-east-2")),
            u("http://f:2", "us-east-2")
        );
        // A profile fills in what the file does not say, and no more.
        let p = src(None, None, Some("moto"));
        assert_eq!(
            resolve_here(Some(&p), None, None),
            u("http://127.0.0.1:5000", "eu-west-1")
        );
        let p = src(Some("http://f:2"), None, Some("moto"));
        assert_eq!(
            resolve_here(Some(&p), None, None),
            u("http://f:2", "eu-west-1")
        );
        assert_eq!(
            resolve_here(Some(&p), Some("http://a:1"), Some("us-east-2")),
            u("http://a:1", "us-east-2")
        );
        // A profile without endpoint_url, an unknown one, a region alone.
        let p = src(None, None, Some("bare"));
        assert_eq!(
            resolve_here(Some(&p), None, None),
            Err("[aws] profile \"bare\" has no endpoint_url (and [aws] no endpoint)".into())
        );
        let p = src(None, None, Some("nope"));
        assert_eq!(
            resolve_here(Some(&p), None, None),
            Err("no profile nope".into())
        );
        assert_eq!(
            resolve_here(None, None, Some("us-east-2")),
            Err("--region needs an endpoint to ask: --aws-endpoint URL, or an [aws] section in FILE".into())
        );
    }
}
