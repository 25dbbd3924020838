import Foundation
import HeapModule
import NIOCore
import NIOPosix
public import RotorCore
public import RotorHTTP
import Synchronization

/// Requests waiting for jobs to finish (`GET /v1/jobs/{id}?wait=`), woken by the store's
/// finished-job notifications (``Store/observeFinishedJobs(_:)``) rather than by polling it.
public typealias JobWaiters = Waiters<JobID>

/// Requests waiting for a credential's key to change (`GET …/secret?after_version=`,
/// `GET …/agent/key?known_version=`), woken by ``Store/observeServedKeys(_:)``.
public typealias KeyWaiters = Waiters<CredentialID>

/// Requests waiting for something about a `Key` (a job, a credential) to change, woken by the
/// store's notifications rather than by polling it.
///
/// A waiter registers before it reads the job, so a commit that lands between the read and the
/// wait is not missed: the registration remembers it and the wait returns at once. A waiter
/// costs a table entry, a continuation and a deadline in a heap: memory, no CPU and no store
/// reads while it waits. One event-loop timer, set for the earliest deadline, ends the waits
/// whose time is up; a wait that ends sooner leaves its deadline in the heap, to be dropped when
/// it comes due. (A timer per waiter, cancelled when the waiter wakes, cost NIO a linear search
/// of its scheduled tasks per cancel: with 10,000 waits, a tenth of a second of CPU just as the
/// answers were due.) When a job with many waiters finishes, they share one read of it and one
/// encoding of the answer (``sharedTerminalRead(_:_:)``). A wait ends on the job's notification, a
/// `nil` notification (anything may have finished: look again), its deadline, or its client
/// going away.
public final class Waiters<Key: Hashable & Sendable>: Sendable {
    /// One registration: ``wait(until:disconnect:)`` once, then ``cancel()`` (idempotent).
    public struct Ticket: Sendable {
        fileprivate let job: Key
        fileprivate let id: Int
        fileprivate let owner: Waiters

        /// Suspends until the job may have finished, `deadline` passes or the client goes.
        public func wait(until deadline: ContinuousClock.Instant, disconnect: ClientDisconnect?) async {
            await self.owner.wait(self, until: deadline, disconnect: disconnect)
        }

        /// Ends the registration.
        public func cancel() { self.owner.fire(self.job, self.id, remove: true) }
    }

    private enum Entry {
        /// Registered, not yet waiting.
        case registered
        /// Notified before the wait began: the wait returns at once.
        case fired
        case waiting(CheckedContinuation<Void, Never>)
    }

    /// When a waiter's wait is over.
    private struct Deadline: Comparable {
        let at: ContinuousClock.Instant
        let job: Key
        let id: Int

        static func < (a: Deadline, b: Deadline) -> Bool { a.at < b.at }
        static func == (a: Deadline, b: Deadline) -> Bool { a.at == b.at && a.id == b.id }
    }

    private struct State {
        var nextID = 0
        var byJob: [Key: [Int: Entry]] = [:]
        var count = 0
        /// Every wait's deadline, including those of waits that have ended since.
        var deadlines = Heap<Deadline>()
        /// When the timer is set to go off, if it is set.
        var timerAt: ContinuousClock.Instant?
    }

    /// How much later than its deadline a wait may end, so that one timer serves waits whose
    /// deadlines are close together.
    static var deadlineSlack: Duration { .milliseconds(20) }

    private let state = Mutex(State())

    /// An empty table; connect it with ``Store/observeFinishedJobs(_:)``.
    public init() {}

    /// Registers interest in `job`; read the job after this, then wait on the ticket.
    public func register(_ job: Key) -> Ticket {
        let id = self.state.withLock { state in
            state.nextID += 1
            state.byJob[job, default: [:]][state.nextID] = .registered
            state.count += 1
            return state.nextID
        }
        return Ticket(job: job, id: id, owner: self)
    }

    /// Wakes the waiters of `job`, or of every job for `nil`.
    public func notify(_ job: Key?) {
        let continuations = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            var woken: [CheckedContinuation<Void, Never>] = []
            let jobs = job.map { [$0] } ?? Array(state.byJob.keys)
            for job in jobs {
                guard var entries = state.byJob[job] else { continue }
                for (id, entry) in entries {
                    if case .waiting(let continuation) = entry { woken.append(continuation) }
                    entries[id] = .fired
                }
                state.byJob[job] = entries
            }
            return woken
        }
        for continuation in continuations { continuation.resume() }
    }

    /// Registrations now held (tests, metrics).
    public var count: Int { self.state.withLock { $0.count } }

    private func wait(_ ticket: Ticket, until deadline: ContinuousClock.Instant, disconnect: ClientDisconnect?) async {
        self.addDeadline(Deadline(at: deadline, job: ticket.job, id: ticket.id))
        let observer = disconnect?.observe { self.fire(ticket.job, ticket.id, remove: false) }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    switch state.byJob[ticket.job]?[ticket.id] {
                    case .registered?:
                        state.byJob[ticket.job]?[ticket.id] = .waiting(continuation)
                        return false
                    case .fired?, nil, .waiting?:
                        // Fired already, or cancelled: nothing to wait for.
                        return true
                    }
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.fire(ticket.job, ticket.id, remove: false)
        }
        if let observer { disconnect?.removeObserver(observer) }
        // Ready for another wait on the same ticket (after a `nil` notification, say).
        self.state.withLock { state in
            if state.byJob[ticket.job]?[ticket.id] != nil { state.byJob[ticket.job]?[ticket.id] = .registered }
        }
    }

    /// The job's answer, read and encoded once for every waiter that wakes at the same time.
    ///
    /// When a job with a thousand waiters finishes, each would read the job and encode the same
    /// answer. Instead the first reads and encodes; whoever asks while that is under way gets its
    /// result if it shows the job terminal (a terminal job never changes, so a read that began a
    /// moment earlier is still right), and otherwise reads for itself.
    func sharedTerminalRead(_ job: Key, _ read: @escaping @Sendable () async throws -> SharedJob) async throws -> SharedJob {
        let (task, created) = self.reads.withLock { reads -> (Task<SharedJob, any Error>, Bool) in
            if let running = reads[job] { return (running, false) }
            let task = Task { try await read() }
            reads[job] = task
            return (task, true)
        }
        if created {
            defer { _ = self.reads.withLock { $0.removeValue(forKey: job) } }
            return try await task.value
        }
        if let shared = try? await task.value, shared.job.state.isTerminal { return shared }
        return try await read()
    }

    private let reads = Mutex<[Key: Task<SharedJob, any Error>]>([:])

    /// Adds a wait's deadline; sets the timer unless it is set to go off by then.
    private func addDeadline(_ deadline: Deadline) {
        let goOff = deadline.at + Self.deadlineSlack
        let arm = self.state.withLock { state -> ContinuousClock.Instant? in
            state.deadlines.insert(deadline)
            if let timerAt = state.timerAt, timerAt <= goOff { return nil }
            state.timerAt = goOff
            return goOff
        }
        if let arm { self.setTimer(for: arm) }
    }

    private func setTimer(for instant: ContinuousClock.Instant) {
        let remaining = max(.zero, ContinuousClock.now.duration(to: instant))
        MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: TimeAmount(remaining)) { self.timerFired(set: instant) }
    }

    /// Ends the waits whose deadline has passed and sets the timer for the next (``deadlineSlack``
    /// after it, so that deadlines close together share a timer). A timer that a sooner one
    /// replaced only does the same work.
    private func timerFired(set instant: ContinuousClock.Instant) {
        let now = ContinuousClock.now
        let (due, next) = self.state.withLock { state -> ([Deadline], ContinuousClock.Instant?) in
            var due: [Deadline] = []
            while let earliest = state.deadlines.min, earliest.at <= now {
                due.append(state.deadlines.removeMin())
            }
            // Only the timer set last (or one overdue) sets the next; a replaced one just helped.
            guard state.timerAt.map({ $0 == instant || $0 <= now }) ?? true else { return (due, nil) }
            state.timerAt = state.deadlines.min.map { $0.at + Self.deadlineSlack }
            return (due, state.timerAt)
        }
        for deadline in due { self.fire(deadline.job, deadline.id, remove: false) }
        if let next { self.setTimer(for: next) }
    }

    /// Resumes one waiter (or marks it fired); with `remove`, forgets it.
    fileprivate func fire(_ job: Key, _ id: Int, remove: Bool) {
        let continuation = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let entry = state.byJob[job]?[id] else { return nil }
            if remove {
                state.byJob[job]?[id] = nil
                if state.byJob[job]?.isEmpty == true { state.byJob[job] = nil }
                state.count -= 1
            } else {
                state.byJob[job]?[id] = .fired
            }
            if case .waiting(let continuation) = entry { return continuation }
            return nil
        }
        continuation?.resume()
    }
}

/// A job as read for waiters, with its answer's body already encoded.
struct SharedJob: Sendable {
    let job: Job
    let response: Response
}

/// How many `?wait=` requests each token may hold at once (`ROTOR_MAX_WAITS_PER_TOKEN`), so that
/// one caller cannot take every connection the server has for waiting.
public final class WaitLimits: Sendable {
    /// The default cap per token.
    public static let defaultPerToken = 1_000

    private let perToken: Int
    private let held = Mutex<[String: Int]>([:])

    /// At most `perToken` concurrent waits for each principal.
    public init(perToken: Int = WaitLimits.defaultPerToken) {
        self.perToken = max(1, perToken)
    }

    /// Takes a slot for `principal`; false when it holds its cap.
    func acquire(_ principal: String) -> Bool {
        self.held.withLock { held in
            let count = held[principal, default: 0]
            guard count < self.perToken else { return false }
            held[principal] = count + 1
            return true
        }
    }

    func release(_ principal: String) {
        self.held.withLock { held in
            let count = held[principal, default: 1] - 1
            held[principal] = count > 0 ? count : nil
        }
    }
}
