//! Why Terraform resources hyperlab does not model are listed as not
//! imported (those with a reason of their own; any other `aws_*` type is
//! "not imported" by its name).

/// `aws_egress_only_internet_gateway`.
pub const EGRESS_ONLY_INTERNET_GATEWAY: &str =
    "egress-only internet gateways (IPv6) are not modelled by hyperlab";
