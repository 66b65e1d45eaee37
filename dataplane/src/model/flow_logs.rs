//! A topology's flow-log settings (`[flow_logs]`): where and how often
//! the agent writes VPC Flow Logs records, and in which fields.

/// Where and how often the agent writes VPC Flow Logs records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLogSettings {
    pub destination: FlowLogDestination,
    /// The record's fields in order: [`FlowLogField::DEFAULT`] (version 2)
    /// unless `[flow_logs] format` names others.
    pub format: Vec<FlowLogField>,
    /// How records are written: AWS's plain text, or one JSON object a line.
    pub file_format: FlowLogFileFormat,
    /// Aggregation interval in seconds (AWS offers 60 and 600).
    pub interval_s: u32,
    /// The `account-id` field: 12 digits.
    pub account_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowLogDestination {
    Stdout,
    /// Appended to; relative paths are relative to the agent's working directory.
    File(std::path::PathBuf),
}

/// `[flow_logs] file_format`: `plain-text` (AWS's default `FileFormat`: a
/// header line, then space-separated values) or `json-lines` (a lab
/// addition for `jq` and log shippers: one object a record, the same
/// fields by the same names, no header).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlowLogFileFormat {
    #[default]
    PlainText,
    JsonLines,
}

/// A field of a flow log record, by AWS's name (VPC user guide, "Flow log
/// records", "Available fields"), as far as a lab fills it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowLogField {
    Version,
    AccountId,
    InterfaceId,
    Srcaddr,
    Dstaddr,
    Srcport,
    Dstport,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    TcpFlags,
    VpcId,
    SubnetId,
    InstanceId,
    Type,
    PktSrcaddr,
    PktDstaddr,
    AzId,
    FlowDirection,
    TrafficPath,
    /// A field AWS defines that never applies to a lab's traffic: written
    /// as `-`, as AWS writes it where it does not apply.
    NotApplicable(&'static str),
}

/// Every field AWS defines, with the version that introduced it and what
/// a lab writes for it: `Ok(field)`, or `Err(why)` when a lab cannot fill
/// it (`check` refuses a format that names it).
pub const FLOW_LOG_FIELDS: &[(&str, u8, Result<FlowLogField, &str>)] = {
    use FlowLogField::*;
    const NOT_ECS: Result<FlowLogField, &str> = Ok(NotApplicable("ecs"));
    &[
        ("version", 2, Ok(Version)),
        ("account-id", 2, Ok(AccountId)),
        ("interface-id", 2, Ok(InterfaceId)),
        ("srcaddr", 2, Ok(Srcaddr)),
        ("dstaddr", 2, Ok(Dstaddr)),
        ("srcport", 2, Ok(Srcport)),
        ("dstport", 2, Ok(Dstport)),
        ("protocol", 2, Ok(Protocol)),
        ("packets", 2, Ok(Packets)),
        ("bytes", 2, Ok(Bytes)),
        ("start", 2, Ok(Start)),
        ("end", 2, Ok(End)),
        ("action", 2, Ok(Action)),
        ("log-status", 2, Ok(LogStatus)),
        ("vpc-id", 3, Ok(VpcId)),
        ("subnet-id", 3, Ok(SubnetId)),
        ("instance-id", 3, Ok(InstanceId)),
        ("tcp-flags", 3, Ok(TcpFlags)),
        ("type", 3, Ok(Type)),
        ("pkt-srcaddr", 3, Ok(PktSrcaddr)),
        ("pkt-dstaddr", 3, Ok(PktDstaddr)),
        (
            "region",
            4,
            Err("a lab has no AWS Region (its subnets name AZ ids: use az-id)"),
        ),
        ("az-id", 4, Ok(AzId)),
        ("sublocation-type", 4, Ok(NotApplicable("sublocation-type"))),
        ("sublocation-id", 4, Ok(NotApplicable("sublocation-id"))),
        (
            "pkt-src-aws-service",
            5,
            Ok(NotApplicable("pkt-src-aws-service")),
        ),
        (
            "pkt-dst-aws-service",
            5,
            Ok(NotApplicable("pkt-dst-aws-service")),
        ),
        ("flow-direction", 5, Ok(FlowDirection)),
        ("traffic-path", 5, Ok(TrafficPath)),
        ("ecs-cluster-arn", 7, NOT_ECS),
        ("ecs-cluster-name", 7, NOT_ECS),
        ("ecs-container-instance-arn", 7, NOT_ECS),
        ("ecs-container-instance-id", 7, NOT_ECS),
        ("ecs-container-id", 7, NOT_ECS),
        ("ecs-second-container-id", 7, NOT_ECS),
        ("ecs-service-name", 7, NOT_ECS),
        ("ecs-task-definition-arn", 7, NOT_ECS),
        ("ecs-task-arn", 7, NOT_ECS),
        ("ecs-task-id", 7, NOT_ECS),
        ("reject-reason", 8, Ok(NotApplicable("reject-reason"))),
    ]
};

impl FlowLogField {
    /// The default format: the version 2 fields in AWS's order, which
    /// are the first rows of [`FLOW_LOG_FIELDS`].
    pub const DEFAULT: [FlowLogField; 14] = {
        let mut out = [FlowLogField::Version; 14];
        let mut i = 0;
        while i < out.len() {
            out[i] = match FLOW_LOG_FIELDS[i] {
                (_, 2, Ok(f)) => f,
                _ => panic!("the first rows of FLOW_LOG_FIELDS are version 2's"),
            };
            i += 1;
        }
        assert!(FLOW_LOG_FIELDS[out.len()].1 > 2, "version 2 has 14 fields");
        out
    };

    /// AWS's name and version of this field (a [`NotApplicable`] field by
    /// the name it was given).
    ///
    /// [`NotApplicable`]: FlowLogField::NotApplicable
    pub fn name_version(self) -> (&'static str, u8) {
        FLOW_LOG_FIELDS
            .iter()
            .find(|(n, _, f)| match (self, f) {
                (FlowLogField::NotApplicable(a), Ok(FlowLogField::NotApplicable(_))) => a == *n,
                (_, Ok(f)) => *f == self,
                _ => false,
            })
            .map_or(("-", 2), |(n, v, _)| (*n, *v))
    }

    /// The `version` field of a record in `format`: 2 for the default
    /// format, else the highest version among its fields (AWS's rule).
    pub fn version_of(format: &[FlowLogField]) -> u8 {
        format.iter().map(|f| f.name_version().1).max().unwrap_or(2)
    }
}

/// Reads a `[flow_logs] format`: `${field}` tokens separated by single
/// spaces, as AWS's `LogFormat`. Problems come with the byte offset of the
/// token in `s`.
pub fn parse_flow_log_format(s: &str) -> Result<Vec<FlowLogField>, Vec<(usize, String)>> {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let mut at = 0;
    for tok in s.split(' ') {
        let start = at;
        at += tok.len() + 1;
        let Some(name) = tok.strip_prefix("${").and_then(|t| t.strip_suffix('}')) else {
            errs.push((
                start,
                format!("{tok:?} is not a field (expected ${{name}} tokens separated by single spaces, such as \"${{version}} ${{vpc-id}}\")"),
            ));
            continue;
        };
        match FLOW_LOG_FIELDS.iter().find(|(n, _, _)| *n == name) {
            Some((n, _, Ok(FlowLogField::NotApplicable(_)))) => {
                out.push(FlowLogField::NotApplicable(n))
            }
            Some((_, _, Ok(f))) => out.push(*f),
            Some((_, _, Err(why))) => errs.push((
                start,
                format!("${{{name}}} cannot be filled in a lab: {why}"),
            )),
            None => {
                let near = FLOW_LOG_FIELDS
                    .iter()
                    .map(|(n, _, _)| *n)
                    .min_by_key(|n| strsim::levenshtein(n, name))
                    .filter(|n| strsim::levenshtein(n, name) <= 3)
                    .map_or(String::new(), |n| format!("; did you mean \"{n}\"?"));
                errs.push((start, format!("unknown field ${{{name}}} (AWS's flow log fields are listed in docs/DATAPLANE.md, \"Flow logs\"){near}")));
            }
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

/// Defaults of [`FlowLogSettings`]: AWS's shorter aggregation interval and
/// a documentation-style lab account.
pub const FLOW_LOG_INTERVAL_S: u32 = 60;
pub const FLOW_LOG_ACCOUNT: &str = "123456789012";
/// Accepted intervals: down to 1 s for tests and demos, up to AWS's 600 s.
pub const FLOW_LOG_INTERVAL_RANGE: std::ops::RangeInclusive<i64> = 1..=600;
