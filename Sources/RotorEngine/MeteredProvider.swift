public import CoreMetrics
public import Foundation
public import RotorCore

/// A provider that counts and times every call it passes on, by operation and outcome.
///
/// `rotor_provider_calls_total{provider, operation, outcome}` counts calls, `outcome` being
/// `success`, `transient` or `permanent` (``ProviderError/Kind``), and
/// `rotor_provider_call_duration_seconds{provider, operation}` times them. Every series exists
/// from the start (at zero), so rates work before the first failure.
public struct MeteredProvider: Provider {
    /// `rotor_provider_calls_total`.
    public static let callsLabel = "rotor_provider_calls_total"
    /// `rotor_provider_call_duration_seconds`.
    public static let durationLabel = "rotor_provider_call_duration_seconds"

    /// The calls of ``Provider``, as the `operation` label names them.
    enum Operation: String, CaseIterable {
        case verify
        case createKey = "create_key"
        case listKeys = "list_keys"
        case deleteKey = "delete_key"
    }

    private struct Handles: Sendable {
        let success: Counter
        let transient: Counter
        let permanent: Counter
        let duration: CoreMetrics.Timer
    }

    /// The provider called.
    public let base: any Provider
    private let handles: [String: Handles]

    /// Wraps `base`, recording through `factory`.
    public init(_ base: any Provider, factory: any MetricsFactory = MetricsSystem.factory) {
        self.base = base
        var handles: [String: Handles] = [:]
        for operation in Operation.allCases {
            func calls(_ outcome: String) -> Counter {
                Counter(
                    label: Self.callsLabel,
                    dimensions: [("provider", base.kind.rawValue), ("operation", operation.rawValue), ("outcome", outcome)],
                    factory: factory
                )
            }
            handles[operation.rawValue] = Handles(
                success: calls("success"),
                transient: calls("transient"),
                permanent: calls("permanent"),
                duration: CoreMetrics.Timer(
                    label: Self.durationLabel,
                    dimensions: [("provider", base.kind.rawValue), ("operation", operation.rawValue)],
                    factory: factory
                )
            )
        }
        self.handles = handles
    }

    public var kind: ProviderKind { self.base.kind }

    public var isManagedThroughManager: Bool { self.base.isManagedThroughManager }

    /// The managed user's calls, counted under the same series.
    public func managing(subject: String, with managerKey: Secret) -> (any Provider)? {
        self.base.managing(subject: subject, with: managerKey).map { MeteredProvider(base: $0, handles: self.handles) }
    }

    private init(base: any Provider, handles: [String: Handles]) {
        self.base = base
        self.handles = handles
    }

    public func verify(key: Secret) async throws(ProviderError) {
        try await self.measure(.verify) { () async throws(ProviderError) in try await self.base.verify(key: key) }
    }

    public func createKey(name: String, expiresAt: Date?, using key: Secret) async throws(ProviderError) -> CreatedKey {
        try await self.measure(.createKey) { () async throws(ProviderError) in
            try await self.base.createKey(name: name, expiresAt: expiresAt, using: key)
        }
    }

    public func listKeys(using key: Secret) async throws(ProviderError) -> [ProviderKey] {
        try await self.measure(.listKeys) { () async throws(ProviderError) in try await self.base.listKeys(using: key) }
    }

    public func deleteKey(id: String, using key: Secret) async throws(ProviderError) {
        try await self.measure(.deleteKey) { () async throws(ProviderError) in try await self.base.deleteKey(id: id, using: key) }
    }

    private func measure<Result>(
        _ operation: Operation,
        _ call: () async throws(ProviderError) -> Result
    ) async throws(ProviderError) -> Result {
        let handles = self.handles[operation.rawValue]!
        let start = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - start
            handles.duration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        do {
            let result = try await call()
            handles.success.increment()
            return result
        } catch {
            (error.isTransient ? handles.transient : handles.permanent).increment()
            throw error
        }
    }
}
