import Foundation
import RotorCore

/// What ``RotationServices/startOrJoin(_:trigger:reason:gracePeriod:)`` did for one credential.
enum StartOutcome: Sendable {
    /// A new job was queued.
    case started(Job)
    /// The credential already had an active job; this is it.
    case joined(Job)
    /// Nothing: the credential is gone or disabled.
    case skipped(reason: String)

    /// The job started or joined.
    var job: Job? {
        switch self {
        case .started(let job), .joined(let job): job
        case .skipped: nil
        }
    }
}

extension RotationServices {
    /// Queues a rotation of `credentialID` for a webhook or leak trigger, or joins the job already
    /// active for it (the store's unique index decides, not memory). Does not wake the engine.
    func startOrJoin(_ credentialID: CredentialID, trigger: Trigger, reason: String, gracePeriod: ISODuration) async throws -> StartOutcome {
        // A job that ends between our failed insert and reading it makes room for ours: try again.
        for _ in 0..<3 {
            let now = self.clock.now()
            // The store fills in the old key and the targets from the credential as its inserting
            // transaction reads it, and refuses a missing or disabled credential there too.
            let job = NewJob(credentialID: credentialID, trigger: trigger, reason: reason, gracePeriod: gracePeriod, at: now)
            do {
                let creation = try await Audit.recording("job.create", job.id.rawValue, at: now) {
                    try await self.store.createJob(
                        job, idempotencyKey: nil, requestFingerprint: nil,
                        events: [JobEvent(at: now, type: "job.created", message: reason)]
                    )
                }
                switch creation {
                case .created(let job), .replayed(let job): return .started(job)
                }
            } catch let error as StoreError where error.code == .rotationInProgress {
                if let id = error.jobID, let active = try await self.store.job(id), !active.state.isTerminal {
                    return .joined(active)
                }
            } catch let error as StoreError where error.code == .notFound {
                return .skipped(reason: "the credential no longer exists")
            } catch let error as StoreError where error.code == .credentialDisabled {
                return .skipped(reason: "the credential is disabled")
            }
        }
        throw StoreError(.conflict, message: "credential \(credentialID) kept changing while a rotation was being started")
    }
}
