//! The AWS Query protocol's XML answers (EC2, ELBv2: what an AWS-compatible
//! endpoint sends) as the JSON the AWS CLI prints for them, so the one
//! reader (`aws.rs`) reads both. botocore renames elements from the service
//! models; only the names `import` reads are renamed here (`vpcSet` ->
//! `Vpcs`, `groupSet` -> `Groups`, or `SecurityGroups` on an instance, a
//! permission's `groups` -> `UserIdGroupPairs`, ...); every other element
//! keeps its name with a capital first letter, as the CLI writes it. Lists
//! are `<item>` (EC2) or `<member>` (ELBv2) children; text stays text (the
//! reader takes numbers and booleans written as strings).

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

/// An element: its local name, children and text.
#[derive(Debug, Default)]
struct El {
    name: String,
    children: Vec<El>,
    text: String,
}

fn tree(xml: &str) -> Result<El, String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<El> = vec![El::default()];
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("invalid XML at byte {}: {e}", reader.buffer_position()))?;
        match ev {
            Event::Start(s) => stack.push(El {
                name: String::from_utf8_lossy(s.local_name().as_ref()).into_owned(),
                ..El::default()
            }),
            Event::Empty(s) => {
                let el = El {
                    name: String::from_utf8_lossy(s.local_name().as_ref()).into_owned(),
                    ..El::default()
                };
                stack.last_mut().expect("the root").children.push(el);
            }
            Event::End(_) => {
                let el = stack.pop().expect("balanced: quick-xml checks end tags");
                stack.last_mut().ok_or("unbalanced XML")?.children.push(el);
            }
            Event::Text(t) => {
                let t = t.unescape().map_err(|e| format!("invalid XML text: {e}"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut doc = stack.pop().ok_or("empty XML")?;
    if !stack.is_empty() {
        return Err("unclosed XML element".into());
    }
    doc.children.pop().ok_or_else(|| "no XML element".into())
}

/// The CLI's key for element `name` inside a member of list `list`.
fn key(list: &str, name: &str) -> String {
    let renamed = match (list, name) {
        ("instancesSet", "groupSet") => "SecurityGroups",
        ("instancesSet", "instanceState") => "State",
        ("instancesSet", "ipAddress") => "PublicIpAddress",
        ("networkAclSet", "default") => "IsDefault",
        ("ipPermissions" | "ipPermissionsEgress", "groups") => "UserIdGroupPairs",
        (_, "vpcSet") => "Vpcs",
        (_, "subnetSet") => "Subnets",
        (_, "securityGroupInfo") => "SecurityGroups",
        (_, "securityGroupRuleSet") => "SecurityGroupRules",
        (_, "networkInterfaceSet") => "NetworkInterfaces",
        (_, "reservationSet") => "Reservations",
        (_, "instancesSet") => "Instances",
        (_, "groupSet") => "Groups",
        (_, "tagSet") => "Tags",
        (_, "privateIpAddressesSet") => "PrivateIpAddresses",
        (_, "vpcEndpointSet") => "VpcEndpoints",
        (_, "subnetIdSet") => "SubnetIds",
        (_, "networkInterfaceIdSet") => "NetworkInterfaceIds",
        (_, "serviceConfigurationSet") => "ServiceConfigurations",
        (_, "networkLoadBalancerArnSet") => "NetworkLoadBalancerArns",
        (_, "gatewayLoadBalancerArnSet") => "GatewayLoadBalancerArns",
        (_, "vpcEndpointConnectionSet") => "VpcEndpointConnections",
        (_, "routeTableSet") => "RouteTables",
        (_, "routeSet") => "Routes",
        (_, "networkAclSet") => "NetworkAcls",
        (_, "entrySet") => "Entries",
        (_, "associationSet") => "Associations",
        (_, "internetGatewaySet") => "InternetGateways",
        (_, "attachmentSet") => "Attachments",
        (_, "natGatewaySet") => "NatGateways",
        (_, "natGatewayAddressSet") => "NatGatewayAddresses",
        (_, "addressesSet") => "Addresses",
        (_, "vpcPeeringConnectionSet") => "VpcPeeringConnections",
        (_, n) => {
            let mut c = n.chars();
            return match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            };
        }
    };
    renamed.to_string()
}

/// An element's value; `list`: the list its nearest enclosing member is in.
fn value(el: &El, list: &str) -> Value {
    if el.children.is_empty() {
        return Value::String(el.text.trim().to_string());
    }
    if el
        .children
        .iter()
        .all(|c| c.name == "item" || c.name == "member")
    {
        return Value::Array(el.children.iter().map(|c| value(c, &el.name)).collect());
    }
    object(el, list)
}

fn object(el: &El, list: &str) -> Value {
    let mut m = Map::new();
    for c in &el.children {
        if matches!(
            c.name.as_str(),
            "requestId" | "ResponseMetadata" | "RequestId"
        ) {
            continue;
        }
        m.insert(key(list, &c.name), value(c, list));
    }
    Value::Object(m)
}

/// The AWS CLI's JSON for a Query-protocol answer (`<ActionResponse>`, its
/// `<ActionResult>` for ELBv2), or why it is none (an error document, HTML).
pub fn cli_json(xml: &str) -> Result<Value, String> {
    let root = tree(xml)?;
    if root.name == "Response" || root.name == "ErrorResponse" {
        let code = find(&root, "Code").unwrap_or("?");
        let message = find(&root, "Message").unwrap_or("");
        return Err(format!("the endpoint answered an error: {code}: {message}"));
    }
    if !root.name.ends_with("Response") {
        return Err(format!(
            "not an AWS Query answer: the document is <{}>, not <...Response>",
            root.name
        ));
    }
    let body = root
        .children
        .iter()
        .find(|c| c.name.ends_with("Result"))
        .unwrap_or(&root);
    Ok(object(body, ""))
}

fn find<'a>(el: &'a El, name: &str) -> Option<&'a str> {
    if el.name == name {
        return Some(el.text.trim());
    }
    el.children.iter().find_map(|c| find(c, name))
}
