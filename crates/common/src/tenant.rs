//! The tenant a gRPC call acts for, carried in metadata from the gateway (which authenticated
//! the caller) to the services that keep tenant data. The services trust it: they are reached
//! only from inside the deployment (k8s NetworkPolicy, compose network), never from users.

use aras_domain::tenant::Tenant;

/// Metadata key of the tenant's slug.
pub const METADATA: &str = "x-aras-tenant";

/// Sets the call's tenant.
pub fn attach<T>(request: &mut tonic::Request<T>, tenant: &Tenant) {
    let value = tenant
        .as_str()
        .parse()
        .expect("a tenant slug is valid metadata");
    request.metadata_mut().insert(METADATA, value);
}

/// The call's tenant; INVALID_ARGUMENT when absent or malformed (a caller bug, not a user's).
pub fn of<T>(request: &tonic::Request<T>) -> Result<Tenant, tonic::Status> {
    let raw = request
        .metadata()
        .get(METADATA)
        .ok_or_else(|| tonic::Status::invalid_argument(format!("missing {METADATA} metadata")))?
        .to_str()
        .map_err(|_| tonic::Status::invalid_argument(format!("{METADATA} is not text")))?;
    Tenant::parse(raw).map_err(|e| tonic::Status::invalid_argument(format!("{METADATA}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_missing_or_malformed() {
        let mut request = tonic::Request::new(());
        assert_eq!(
            of(&request).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        attach(&mut request, &Tenant::parse("acme").unwrap());
        assert_eq!(of(&request).unwrap().as_str(), "acme");
        request
            .metadata_mut()
            .insert(METADATA, "Not A Slug".parse().unwrap());
        let refused = of(&request).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(
            refused.message().contains("Not A Slug"),
            "{}",
            refused.message()
        );
    }
}
