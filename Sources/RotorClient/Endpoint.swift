/// Every API operation Rotor's clients (the operator commands, `rotor agent`) call: its
/// openapi.yaml `operationId`, method and path template. Requests are built only from these, so a
/// test (`CLIProcessTests.endpointsInSpec`) holds the whole set against the spec.
package enum Endpoint: String, CaseIterable, Sendable {
    case getWhoAmI
    case listCredentials, createCredential, getCredential, updateCredential, deleteCredential
    case createJob, listJobs, getJob, listJobEvents, cancelJob
    case createToken, listTokens, deleteToken
    case createTrigger, listTriggers, getTrigger, deleteTrigger, rollTriggerSecret
    case createSubscription, listSubscriptions, getSubscription, deleteSubscription
    case listAuditEntries
    case getAgentKey, acknowledgeAgentKey

    /// The HTTP method.
    package var method: String {
        switch self {
        case .createCredential, .createJob, .cancelJob, .createToken, .createTrigger, .rollTriggerSecret, .createSubscription, .acknowledgeAgentKey: "POST"
        case .updateCredential: "PATCH"
        case .deleteCredential, .deleteToken, .deleteTrigger, .deleteSubscription: "DELETE"
        default: "GET"
        }
    }

    /// The path as openapi.yaml spells it, `{id}` for the resource's id.
    package var template: String {
        switch self {
        case .getWhoAmI: "/v1/whoami"
        case .listCredentials, .createCredential: "/v1/credentials"
        case .getCredential, .updateCredential, .deleteCredential: "/v1/credentials/{id}"
        case .createJob, .listJobs: "/v1/jobs"
        case .getJob: "/v1/jobs/{id}"
        case .listJobEvents: "/v1/jobs/{id}/events"
        case .cancelJob: "/v1/jobs/{id}/cancel"
        case .createToken, .listTokens: "/v1/tokens"
        case .deleteToken: "/v1/tokens/{id}"
        case .createTrigger, .listTriggers: "/v1/triggers"
        case .getTrigger, .deleteTrigger: "/v1/triggers/{id}"
        case .rollTriggerSecret: "/v1/triggers/{id}/roll-secret"
        case .createSubscription, .listSubscriptions: "/v1/subscriptions"
        case .getSubscription, .deleteSubscription: "/v1/subscriptions/{id}"
        case .listAuditEntries: "/v1/audit"
        case .getAgentKey: "/v1/credentials/{id}/agent/key"
        case .acknowledgeAgentKey: "/v1/credentials/{id}/agent/acks"
        }
    }
}
