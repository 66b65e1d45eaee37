//! Why Terraform's gateway resources are listed as not imported: hyperlab
//! models them, and `import aws` reads them (`gateways.rs`), but the
//! Terraform reader does not map them yet.

/// `aws_nat_gateway`.
pub const NAT_GATEWAY: &str =
    "NAT gateways are not imported from Terraform state yet (`import aws` reads them)";
/// `aws_internet_gateway`, `aws_internet_gateway_attachment`.
pub const INTERNET_GATEWAY: &str =
    "internet gateways are not imported from Terraform state yet (`import aws` reads them)";
/// `aws_egress_only_internet_gateway`.
pub const EGRESS_ONLY_INTERNET_GATEWAY: &str =
    "egress-only internet gateways (IPv6) are not modelled by hyperlab";
/// `aws_eip`, `aws_eip_association`.
pub const EIP: &str =
    "Elastic IPs are not imported from Terraform state yet (`import aws` reads them)";
