//! A client of an AWS-compatible endpoint (moto, LocalStack: an emulator
//! holding the network a user's IaC made), for `dataplane import aws
//! --endpoint URL` (issue 19 part 2). It asks the calls `import aws` reads
//! and hands their answers, as the AWS CLI's JSON, to the same reader.
//!
//! HTTP/1.1 over a plain TCP stream: emulators on the lab machine speak
//! http, and an AWS SDK costs minutes and gigabytes to build
//! (IMPORT-PROGRESS.md). Requests carry a SigV4-shaped Authorization header
//! (the credential scope names the region and service, as emulators read
//! it); emulators do not check the signature, and real AWS is no target.
//! EC2 and ELBv2 speak the Query protocol (form POST, XML answers:
//! `import::query_xml`); API Gateway speaks REST-JSON (its v1 `item` is the
//! CLI's `items`), Cloud Map JSON 1.1.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use serde_json::Value;

use crate::import::{query_xml, Answer};

mod source;
pub use source::{profile_settings, resolve, resolve_with};

/// An `http://HOST:PORT` endpoint and the region to ask.
pub struct Endpoint {
    url: String,
    authority: String,
    region: String,
}

const EC2_VERSION: &str = "2016-11-15";
const ELBV2_VERSION: &str = "2015-12-01";

impl Endpoint {
    pub fn new(url: &str, region: &str) -> Result<Endpoint, String> {
        let rest = match url.strip_prefix("http://") {
            Some(r) => r,
            None if url.starts_with("https://") => {
                return Err(format!(
                    "{url}: https is not supported (an emulator on this machine speaks http)"
                ))
            }
            None => return Err(format!("{url}: expected http://HOST:PORT")),
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(format!("{url}: expected http://HOST:PORT (no path)"));
        }
        Ok(Endpoint {
            url: format!("http://{authority}"),
            authority: authority.to_string(),
            region: region.to_string(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// One POST of a form; the status and the body.
    fn post(&self, scope: &str, body: &str) -> Result<(u16, String), String> {
        self.request(
            "POST",
            "/",
            scope,
            "application/x-www-form-urlencoded; charset=utf-8",
            &[],
            body,
        )
    }

    /// One request; the status and the body.
    fn request(
        &self,
        method: &str,
        path: &str,
        scope: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<(u16, String), String> {
        let addr = if self.authority.contains(':') {
            self.authority.clone()
        } else {
            format!("{}:80", self.authority)
        };
        let mut s =
            TcpStream::connect(&addr).map_err(|e| format!("cannot reach {}: {e}", self.url))?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
        let extra: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nX-Amz-Date: 20260101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential=hyperlab/20260101/{}/{scope}/aws4_request, SignedHeaders=content-type;host;x-amz-date, \
             Signature=0000000000000000000000000000000000000000000000000000000000000000\r\n\
             {extra}Connection: close\r\n\r\n{body}",
            self.authority,
            body.len(),
            self.region
        );
        s.write_all(req.as_bytes())
            .map_err(|e| format!("{}: writing the request: {e}", self.url))?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .map_err(|e| format!("{}: reading the answer: {e}", self.url))?;
        parse_response(&raw).map_err(|e| format!("{}: {e}", self.url))
    }

    /// A Query-protocol call, every page, as the CLI's JSON (pages' lists
    /// under `member` joined).
    fn query(
        &self,
        service: &str,
        action: &str,
        params: &[(&str, &str)],
        member: &str,
    ) -> Result<Value, String> {
        let (scope, version) = match service {
            "ec2" => ("ec2", EC2_VERSION),
            _ => ("elasticloadbalancing", ELBV2_VERSION),
        };
        let mut all: Option<Value> = None;
        let mut next: Option<String> = None;
        for _page in 0..1000 {
            let mut body = format!("Action={action}&Version={version}");
            for (k, v) in params {
                body.push_str(&format!("&{k}={}", encode(v)));
            }
            if let Some(t) = &next {
                let k = if service == "ec2" {
                    "NextToken"
                } else {
                    "Marker"
                };
                body.push_str(&format!("&{k}={}", encode(t)));
            }
            let (status, text) = self.post(scope, &body)?;
            let json = match query_xml::cli_json(&text) {
                Ok(j) if status == 200 => j,
                Ok(_) => return Err(format!("HTTP {status}")),
                Err(e) if status == 200 => return Err(e),
                Err(e) if e.starts_with("the endpoint answered") => {
                    return Err(format!("HTTP {status}: {e}"))
                }
                Err(_) => return Err(format!("HTTP {status}")),
            };
            next = ["NextToken", "NextMarker"]
                .iter()
                .find_map(|k| json.get(*k).and_then(Value::as_str))
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            match &mut all {
                None => all = Some(json),
                Some(a) => {
                    let more = json
                        .get(member)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(list) = a.get_mut(member).and_then(Value::as_array_mut) {
                        list.extend(more);
                    }
                }
            }
            if next.is_none() {
                break;
            }
        }
        let mut all = all.unwrap_or(Value::Null);
        if let Some(o) = all.as_object_mut() {
            o.remove("NextToken");
            o.remove("NextMarker");
            o.entry(member.to_string())
                .or_insert(Value::Array(Vec::new()));
        }
        Ok(all)
    }
}

impl Endpoint {
    /// A REST-JSON list (API Gateway), every page: the wire's `item` or
    /// `items` as the CLI's `key`; pages follow `position` or `nextToken`.
    fn rest_list(&self, path: &str, key: &str) -> Result<Value, String> {
        let mut all = Vec::new();
        let mut query = String::new();
        for _page in 0..1000 {
            let (status, text) = self.request(
                "GET",
                &format!("{path}{query}"),
                "apigateway",
                "application/json",
                &[],
                "",
            )?;
            if status != 200 {
                return Err(format!("HTTP {status}"));
            }
            let json: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
            let items = json.get("items").or_else(|| json.get("item"));
            all.extend(items.and_then(Value::as_array).cloned().unwrap_or_default());
            let next = ["position", "nextToken"].iter().find_map(|k| {
                json.get(*k)
                    .and_then(Value::as_str)
                    .map(|t| (*k, t.to_string()))
            });
            match next {
                Some((k, t)) if !t.is_empty() => query = format!("?{k}={}", encode(&t)),
                _ => break,
            }
        }
        Ok(serde_json::json!({ key: all }))
    }

    /// Cloud Map's ListInstances (JSON 1.1), every page, with its ServiceId.
    fn list_instances(&self, service: &str) -> Result<Value, String> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        for _page in 0..1000 {
            let mut req = serde_json::json!({ "ServiceId": service });
            if let Some(t) = &token {
                req["NextToken"] = Value::String(t.clone());
            }
            let (status, text) = self.request(
                "POST",
                "/",
                "servicediscovery",
                "application/x-amz-json-1.1",
                &[("X-Amz-Target", "Route53AutoNaming_v20170314.ListInstances")],
                &req.to_string(),
            )?;
            if status != 200 {
                return Err(format!("HTTP {status}"));
            }
            let json: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
            all.extend(
                json.get("Instances")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            token = json
                .get("NextToken")
                .and_then(Value::as_str)
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(serde_json::json!({ "ServiceId": service, "Instances": all }))
    }
}

/// `describe-vpc-endpoints` -> `DescribeVpcEndpoints`.
fn action(call: &str) -> String {
    call.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or(String::new(), |f| {
                f.to_ascii_uppercase().to_string() + c.as_str()
            })
        })
        .collect()
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An HTTP/1.1 answer: status and body (Content-Length, chunked, or to EOF).
fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("not an HTTP answer (no end of headers)")?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or("not an HTTP answer (no status)")?;
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "transfer-encoding" => chunked = v.trim().eq_ignore_ascii_case("chunked"),
                "content-length" => length = v.trim().parse::<usize>().ok(),
                _ => {}
            }
        }
    }
    let mut body = &raw[head_end + 4..];
    let bytes = if chunked {
        let mut out = Vec::new();
        loop {
            let line_end = body
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("a chunk without its size line")?;
            let size_text = String::from_utf8_lossy(&body[..line_end]);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("a bad chunk size {size_text:?}"))?;
            body = &body[line_end + 2..];
            if size == 0 {
                break;
            }
            if body.len() < size {
                return Err("a chunk cut short".into());
            }
            out.extend_from_slice(&body[..size]);
            body = body.get(size + 2..).unwrap_or(&[]);
        }
        out
    } else {
        match length {
            Some(n) if n <= body.len() => body[..n].to_vec(),
            Some(_) => return Err("the answer is shorter than its Content-Length".into()),
            None => body.to_vec(),
        }
    };
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

/// Calls made once for each resource a whole-account call lists.
struct PerResource {
    /// The listing call, and the array and id field of its answer.
    list: &'static str,
    array: &'static str,
    field: &'static str,
    /// The parameter the id is passed as.
    param: &'static str,
    /// Which `/`-separated part of the ARN names the answer (None: the id).
    arn_part: Option<usize>,
    /// (service, call, member) of each call.
    calls: &'static [(&'static str, &'static str, &'static str)],
}

const PER_RESOURCE: &[PerResource] = &[
    PerResource {
        list: "describe-vpc-endpoint-service-configurations",
        array: "ServiceConfigurations",
        field: "ServiceId",
        param: "ServiceId",
        arn_part: None,
        calls: &[(
            "ec2",
            "describe-vpc-endpoint-service-permissions",
            "AllowedPrincipals",
        )],
    },
    PerResource {
        list: "describe-target-groups",
        array: "TargetGroups",
        field: "TargetGroupArn",
        param: "TargetGroupArn",
        arn_part: Some(1),
        calls: &[
            (
                "elbv2",
                "describe-target-health",
                "TargetHealthDescriptions",
            ),
            ("elbv2", "describe-target-group-attributes", "Attributes"),
        ],
    },
    PerResource {
        list: "describe-load-balancers",
        array: "LoadBalancers",
        field: "LoadBalancerArn",
        param: "LoadBalancerArn",
        arn_part: Some(2),
        calls: &[
            ("elbv2", "describe-listeners", "Listeners"),
            ("elbv2", "describe-load-balancer-attributes", "Attributes"),
        ],
    },
];

/// The answers of every call `import aws` reads that the endpoint can
/// give, and a line for each it could not (an emulator lacks some calls:
/// any subset imports). Fails only when the endpoint cannot be reached.
pub fn fetch(ep: &Endpoint) -> Result<(Vec<Answer>, Vec<String>), String> {
    let mut got = Collected::default();
    let ask = |got: &mut Collected,
               service: &'static str,
               call: &'static str,
               member: &str,
               key: Option<String>,
               params: &[(&str, &str)]| {
        let act = action(call);
        let name = match &key {
            Some(k) => format!("{} {service} {act} {k}", ep.url),
            None => format!("{} {service} {act}", ep.url),
        };
        got.take(
            (service, call, key, name),
            ep.query(service, &act, params, member),
        )
    };
    let strs = |v: &Option<Value>, list: &str, field: &str| -> Vec<String> {
        v.as_ref()
            .and_then(|j| j.get(list))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|i| i.get(field).and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    // The whole-account EC2 and ELBv2 calls, then the calls made for each
    // resource they list.
    let per_resource: Vec<&str> = PER_RESOURCE
        .iter()
        .flat_map(|p| p.calls.iter().map(|c| c.1))
        .collect();
    for (service, call, member) in crate::import::calls() {
        if matches!(service, "ec2" | "elbv2") && !per_resource.contains(&call) {
            ask(&mut got, service, call, member, None, &[])?;
        }
    }
    for p in PER_RESOURCE {
        let list = got
            .answers
            .iter()
            .find(|a| a.call == p.list)
            .map(|a| a.json.clone());
        for id in strs(&list, p.array, p.field) {
            let key = match p.arn_part {
                Some(n) => id.split('/').nth(n).unwrap_or(&id).to_string(),
                None => id.clone(),
            };
            for &(service, call, member) in p.calls {
                ask(
                    &mut got,
                    service,
                    call,
                    member,
                    Some(key.clone()),
                    &[(p.param, &id)],
                )?;
            }
        }
    }
    // API Gateway (REST JSON) and the Cloud Map services its integrations name.
    let rest = |got: &mut Collected,
                call: &'static str,
                service: &'static str,
                path: &str,
                key: &str,
                k: Option<String>| {
        let name = match &k {
            Some(x) => format!("{} {service} GET {path} ({x})", ep.url),
            None => format!("{} {service} GET {path}", ep.url),
        };
        got.take((service, call, k, name), ep.rest_list(path, key))
    };
    for (service, path, key) in [
        ("apigateway", "/vpclinks", "items"),
        ("apigatewayv2", "/v2/vpclinks", "Items"),
    ] {
        rest(&mut got, "get-vpc-links", service, path, key, None)?;
    }
    let mut integrations = Vec::new();
    let apis = ep.rest_list("/v2/apis", "Items");
    if let Ok(apis) = &apis {
        let ids: Vec<String> = apis["Items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.get("apiId").and_then(Value::as_str).map(str::to_string))
            .collect();
        for id in ids {
            let path = format!("/v2/apis/{id}/integrations");
            let call = ("get-integrations", "apigatewayv2");
            if let Some(json) = rest(&mut got, call.0, call.1, &path, "Items", Some(id))? {
                integrations.extend(json["Items"].as_array().cloned().unwrap_or_default());
            }
        }
    }
    if let Err(e) = apis {
        got.take_err(format!("{} apigatewayv2 GET /v2/apis", ep.url), e)?;
    }
    let mut services: Vec<String> = integrations
        .iter()
        .filter_map(|i| i.get("integrationUri").and_then(Value::as_str))
        .filter(|u| u.starts_with("arn:aws:servicediscovery:"))
        .filter_map(|u| u.split_once(":service/").map(|(_, s)| s.to_string()))
        .collect();
    services.dedup();
    for srv in services {
        let name = format!("{} servicediscovery ListInstances {srv}", ep.url);
        let what = (
            "servicediscovery",
            "list-instances",
            Some(srv.clone()),
            name,
        );
        got.take(what, ep.list_instances(&srv))?;
    }
    Ok((got.answers, got.notes))
}

/// What [`fetch`] has read so far, and a note for each call it could not.
#[derive(Default)]
struct Collected {
    answers: Vec<Answer>,
    notes: Vec<String>,
}

impl Collected {
    /// Keeps a call's answer; an error is a note, unless the endpoint
    /// cannot be reached at all (then the whole fetch fails).
    fn take(
        &mut self,
        (service, call, key, name): (&'static str, &'static str, Option<String>, String),
        res: Result<Value, String>,
    ) -> Result<Option<Value>, String> {
        match res {
            Ok(json) => {
                self.answers.push(Answer {
                    service,
                    call,
                    key,
                    name,
                    json: json.clone(),
                });
                Ok(Some(json))
            }
            Err(e) => self.take_err(name, e).map(|()| None),
        }
    }

    fn take_err(&mut self, name: String, e: String) -> Result<(), String> {
        if e.starts_with("cannot reach") {
            return Err(e);
        }
        self.notes.push(format!("{name}: not read: {e}"));
        Ok(())
    }
}

/// Follows an endpoint for `dataplane run --aws-endpoint`: each poll
/// imports what the endpoint holds; a config that differs from the last
/// one is what the agent reloads (validated there, nothing half applied).
pub struct Follow {
    ep: Endpoint,
    lab: String,
    last: Option<String>,
    /// The `[internet]` section of the config the endpoint is followed
    /// from (no AWS call lists the lab's internet hosts), appended to what
    /// the endpoint's state imports to.
    internet: String,
}

/// A poll's outcome: the config text when it changed, and the import's
/// report (what was not read or imported, warnings).
pub struct Polled {
    pub changed: Option<String>,
    pub report: Vec<String>,
}

impl Follow {
    pub fn new(ep: Endpoint, lab: &str) -> Follow {
        Follow {
            ep,
            lab: lab.to_string(),
            last: None,
            internet: String::new(),
        }
    }

    /// Keeps the lab's internet hosts of the config followed from (`run
    /// FILE` with `[aws]`) in every config the endpoint's state gives.
    pub fn keep_internet_hosts(mut self, hosts: &[crate::model::InternetHost]) -> Follow {
        if !hosts.is_empty() {
            let list: Vec<String> = hosts
                .iter()
                .map(|h| format!("  {{ name = \"{}\", ip = \"{}\" }},\n", h.name, h.ip))
                .collect();
            self.internet = format!("\n[internet]\nhosts = [\n{}]\n", list.concat());
        }
        self
    }

    pub fn url(&self) -> &str {
        self.ep.url()
    }

    /// Asks the endpoint again. An endpoint that cannot be reached, or a
    /// state that does not import, is an error; the caller keeps what runs.
    pub fn poll(&mut self) -> Result<Polled, String> {
        let (answers, notes) = fetch(&self.ep)?;
        let mut imported = crate::import::aws_answers(answers, notes, &self.lab, self.ep.url())
            .map_err(|e| e.to_string())?;
        if !imported.toml.contains("\n[internet]\n") && !self.internet.is_empty() {
            imported.toml.push_str(&self.internet);
            // The file gives the hosts the import's note asks for.
            imported
                .report
                .retain(|l| !l.contains("the lab's internet has no hosts"));
        }
        let changed = (self.last.as_deref() != Some(imported.toml.as_str())).then(|| {
            self.last = Some(imported.toml.clone());
            imported.toml
        });
        Ok(Polled {
            changed,
            report: imported.report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_answers_with_a_length_chunked_or_to_the_end() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more"),
            Ok((200, "hello".into()))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 500 INTERNAL SERVER ERROR\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"),
            Ok((500, "abcde".into()))
        );
        assert_eq!(
            parse_response(b"HTTP/1.0 200 OK\r\n\r\nall"),
            Ok((200, "all".into()))
        );
        assert_eq!(
            parse_response(b"garbage"),
            Err("not an HTTP answer (no end of headers)".into())
        );
    }

    #[test]
    fn calls_are_named_as_the_query_protocol_names_them() {
        assert_eq!(
            action("describe-vpc-endpoint-service-configurations"),
            "DescribeVpcEndpointServiceConfigurations"
        );
        assert_eq!(encode("arn:aws:x/a b"), "arn%3Aaws%3Ax%2Fa%20b");
        assert!(Endpoint::new("https://x:1", "r").is_err());
        assert_eq!(
            Endpoint::new("http://127.0.0.1:5055/", "r").unwrap().url(),
            "http://127.0.0.1:5055"
        );
    }
}
