package import RotorCore

/// The refusals both drivers give, worded once.
extension StoreError {
    package static func credentialNotFound(_ id: CredentialID) -> StoreError {
        StoreError(.notFound, message: "no credential \(id)")
    }

    package static func jobNotFound(_ id: JobID) -> StoreError {
        StoreError(.notFound, message: "no job \(id)")
    }

    package static func credentialDisabled(_ id: CredentialID) -> StoreError {
        StoreError(.credentialDisabled, message: "credential \(id) is disabled")
    }
}
