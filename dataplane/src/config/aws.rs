//! `[aws]`: the AWS-compatible endpoint a lab follows (`model::AwsSource`).
//!
//! ```toml
//! [aws]
//! endpoint = "http://127.0.0.1:5000"   # an emulator on this machine (moto, LocalStack)
//! region = "us-east-1"                 # default: the profile's, else us-east-1
//! profile = "moto"                     # optional: a profile of the AWS CLI's config
//!                                      # file; its endpoint_url and region fill in
//!                                      # what is not given here
//! ```
//!
//! `check` validates each value; the profile is read when `run` starts.

use super::diagnostics::Checker;
use super::tree::Tbl;
use crate::model::{check_endpoint_url, is_profile, is_region, AwsSource};

pub(super) const AWS_KEYS: &[&str] = &["endpoint", "region", "profile"];

impl<'s> Checker<'s> {
    pub(super) fn aws(&mut self, root: &Tbl<'_>) -> Option<AwsSource> {
        let e = root.get("aws")?;
        let t = self.table(&e.node, "aws", "a table ([aws])", AWS_KEYS)?;
        let mut a = AwsSource::default();
        if let Some(u) = self.opt_str(&t, "endpoint", "a URL such as \"http://127.0.0.1:5000\"") {
            match check_endpoint_url(u.v) {
                Ok(()) => a.endpoint = Some(u.v.to_string()),
                Err(m) => self.err(u.pos, "aws.endpoint", m),
            }
        }
        if let Some(r) = self.opt_str(&t, "region", "a region such as \"us-east-1\"") {
            if is_region(r.v) {
                a.region = Some(r.v.to_string());
            } else {
                let m = format!(
                    "invalid region {:?} (expected a region such as \"us-east-1\")",
                    r.v
                );
                self.err(r.pos, "aws.region", m);
            }
        }
        if let Some(p) = self.opt_str(&t, "profile", "a profile name such as \"moto\"") {
            if is_profile(p.v) {
                a.profile = Some(p.v.to_string());
            } else {
                let m = format!(
                    "invalid profile name {:?} (expected 1 to 64 characters from A-Z, a-z, 0-9 and -_.+@)",
                    p.v
                );
                self.err(p.pos, "aws.profile", m);
            }
        }
        if t.get("endpoint").is_none() && t.get("profile").is_none() {
            self.err(
                e.node.pos,
                "aws",
                "[aws] needs `endpoint` (an emulator's http://HOST:PORT), or a `profile` whose \
                 endpoint_url names one",
            );
        }
        Some(a)
    }
}
