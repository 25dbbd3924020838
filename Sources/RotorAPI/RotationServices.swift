import Foundation
public import RotorCore
import RotorCrypto
public import RotorHTTP
public import NIOHTTP1

/// What the credential and job routes need from the rest of Rotor, injected by `rotor`.
public struct RotationServices: Sendable {
    /// Persistence: every store concern, typed (``RotorStore``).
    public var store: any RotorStore
    /// Providers by kind (validation of new credentials).
    public var providers: [ProviderKind: any Provider]
    /// What `GET /v1/providers` lists: every provider definition loaded, built in or from
    /// `ROTOR_PROVIDERS_DIR`.
    public var providerCatalog: [ProviderSummary] = []
    /// Tells the engine there is work (a new job, a cancel).
    public var wakeEngine: @Sendable () async -> Void
    /// Wall-clock time.
    public var clock: any RotorClock
    /// Requests waiting for jobs to finish, woken by the store's finished-job notifications.
    public var jobWaiters: JobWaiters
    /// The encoded `GET /v1/jobs/{id}` answers, reused while a job is unchanged.
    let jobAnswers = JobAnswers()
    /// Requests waiting for a credential's key to change, woken by the store's served-key notifications.
    public var keyWaiters: KeyWaiters
    /// The cap on concurrent `?wait=` requests per token.
    public var waitLimits: WaitLimits
    /// The shortest schedule accepted (`ROTOR_MIN_SCHEDULE_PERIOD`, default one hour).
    public var minimumSchedulePeriod: Double = 3_600
    /// What targets, verify URLs and subscriptions may point at (`ROTOR_OUTBOUND_ALLOW`); a URL
    /// whose host is an address or name this denies is refused with 422.
    public var outboundPolicy = OutboundPolicy()
    /// How recently an agent instance must have been heard from to be listed live (`ROTOR_AGENT_LIVENESS`).
    public var agentLiveness: Double = 120

    /// Creates the services.
    public init(
        store: any RotorStore,
        providers: [ProviderKind: any Provider],
        wakeEngine: @escaping @Sendable () async -> Void,
        clock: any RotorClock = SystemClock(),
        waitLimits: WaitLimits = WaitLimits()
    ) {
        self.store = store
        self.providers = providers
        self.wakeEngine = wakeEngine
        self.clock = clock
        let waiters = JobWaiters()
        store.observeFinishedJobs { waiters.notify($0) }
        self.jobWaiters = waiters
        let keyWaiters = KeyWaiters()
        store.observeServedKeys { keyWaiters.notify($0) }
        self.keyWaiters = keyWaiters
        self.waitLimits = waitLimits
    }
}

extension RotationServices {
    /// `sha256:` + 12 hex digits of a key.
    func fingerprint(_ secret: Secret) -> String { SHA256.fingerprint(of: secret.reveal()) }

    /// A fresh `whsec_` signing secret for a target or subscription that did not bring one.
    func generateSigningSecret() -> Secret { Secret(WebhookSecret.generate().encoded) }

    /// Whether `text` is a valid `whsec_` signing secret.
    func isValidSigningSecret(_ text: String) -> Bool { (try? WebhookSecret(encoded: text)) != nil }

    /// SHA-256 hex of bytes (idempotency fingerprints).
    func sha256Hex(_ bytes: [UInt8]) -> String { SHA256.hexDigest(bytes) }
}

/// A store refusal answers as its problem wherever a handler lets it through: the mapping is made
/// here once, not at each call.
extension StoreError: HTTPResponseError {
    public var status: HTTPResponseStatus { self.problem.status }

    public func response() -> Response { self.problem.response() }

    /// The problem response for a store refusal.
    var problem: HTTPError {
        switch self.code {
        case .duplicateName:
            return .conflict(code: "duplicate_name", self.message)
        case .notFound:
            return .notFound(self.message)
        case .rotationInProgress:
            return .conflict(code: "rotation_in_progress", "A rotation of this credential is already running.", extensions: self.jobID.map { ["job_id": $0.rawValue] } ?? [:])
        case .idempotencyConflict:
            return .conflict(code: "idempotency_conflict", "This Idempotency-Key was used with a different request.")
        case .leaseLost, .conflict:
            return .conflict(code: "conflict", "The resource changed meanwhile; retry the request.")
        case .credentialDisabled:
            return .conflict(code: "credential_disabled", "The credential is disabled; set it active to rotate it.")
        case .duplicateKey:
            return .conflict(
                code: "duplicate_key", "Another credential already holds this provider key.",
                extensions: self.credentialID.map { ["credential_id": $0.rawValue] } ?? [:])
        }
    }
}

extension Request {
    /// The path capture `name` parsed as an id, or 404.
    func id<ID: PrefixedID>(_ name: String, as type: ID.Type) throws(HTTPError) -> ID {
        guard let text = self.parameters[name], let id = ID(text) else { throw HTTPError.notFound() }
        return id
    }
}

/// One page of a list, read with the request's `limit` and `cursor`. The stores answer a cursor
/// they did not give out with not-found; to the caller that is a bad query (422), not a 404.
func readPage<Item>(_ request: Request, _ read: (PageRequest) async throws -> Page<Item>) async throws -> Page<Item> {
    let page = try pageRequest(request)
    do {
        return try await read(page)
    } catch let error as StoreError where error.code == .notFound {
        throw HTTPError.invalidRequest("The query is invalid.", errors: [.init(field: "cursor", message: "is not a cursor this list gave out")])
    }
}

/// `limit` and `cursor` from the query, validated (DESIGN.md §4: limit 1–200, default 50).
func pageRequest(_ request: Request) throws(HTTPError) -> PageRequest {
    var limit = 50
    if let text = request.query["limit"] {
        guard let value = Int(text), (1...200).contains(value) else {
            throw HTTPError.invalidRequest("The query is invalid.", errors: [.init(field: "limit", message: "must be a whole number from 1 to 200")])
        }
        limit = value
    }
    // `?cursor=` is the first page: a client that fills in an empty `next_cursor` asks for nothing more.
    let cursor = request.query["cursor"].flatMap { $0.isEmpty ? nil : $0 }
    return PageRequest(limit: limit, cursor: cursor)
}

/// `{"data": [...], "next_cursor": "..." | null}`.
struct ListResponse<Item: Encodable>: Encodable {
    var data: [Item]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case data
        case nextCursor = "next_cursor"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.data, forKey: .data)
        // Always present, null on the last page.
        try container.encode(self.nextCursor, forKey: .nextCursor)
    }
}
