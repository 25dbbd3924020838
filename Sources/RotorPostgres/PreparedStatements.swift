import Foundation
import PostgresNIO
import RotorCore
import RotorStorage

/// A statement prepared once per pooled connection and run by name from then on, so that
/// PostgreSQL parses and plans it once per connection rather than on every call.
///
/// Measured on the engine benchmark, parsing, analysing and planning were about half of the
/// server's CPU: the engine runs the same dozen statements for every step of every rotation.
/// These are they; statements whose shape depends on the call, and those that run rarely, go
/// through ``SQL`` and `PostgresQuery` as unnamed statements.
protocol PreparedQuery: PostgresPreparedStatement where Row == PostgresRandomAccessRow {
    var bindings: PostgresBindings { get }
}

extension PreparedQuery {
    func makeBindings() -> PostgresBindings { self.bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRandomAccessRow { row.makeRandomAccess() }
}

extension PostgresBindings {
    /// Bindings of `values`, in order (`$1`, `$2`, ...).
    init(_ values: [StoredValue]) {
        self.init(capacity: values.count)
        for value in values { self.append(value) }
    }

    /// Binds `value`; nil binds NULL, typed by where the parameter is used.
    mutating func append(_ value: StoredValue) {
        switch value {
        case .text(let value): self.append(optional: value)
        case .int(let value): self.append(optional: value)
        case .double(let value): self.append(optional: value)
        case .bool(let value): self.append(optional: value)
        case .bytes(let value): self.append(optional: value.map { ByteBuffer(bytes: $0) })
        }
    }

    private mutating func append<Value: PostgresNonThrowingEncodable>(optional value: Value?) {
        if let value { self.append(value) } else { self.appendNull() }
    }
}

/// The engine's statements (see ``PreparedQuery``).
enum Prepared {
    /// A rotation as the runner reads it before each step while it knows the job: the job's
    /// revision, its credential, and every secret of both, sealed (`array_agg` of none is NULL).
    struct RotationRead: PreparedQuery {
        static let sql = """
            SELECT j.revision AS job_revision, c.*, s.owners AS secret_owners, s.fields AS secret_fields,
                s.versions AS secret_versions, s.envelopes AS secret_envelopes
            FROM jobs j JOIN credentials c ON c.id = j.credential_id
            LEFT JOIN LATERAL (
                SELECT array_agg(owner_id) AS owners, array_agg(field) AS fields, array_agg(version) AS versions,
                    array_agg(envelope) AS envelopes
                FROM secrets WHERE owner_id IN (c.id, j.id) AND envelope IS NOT NULL
            ) s ON true
            WHERE j.id = $1
            """
        let bindings: PostgresBindings
        init(job: JobID) { self.bindings = PostgresBindings([.text(job.rawValue)]) }
    }

    /// A commit's guard: the job's row, locked, with what the outbox compares the commit with.
    struct CommitGuard: PreparedQuery {
        static let sql = """
            SELECT j.lease_owner, j.revision, j.state, j.step, c.state AS credential_state,
                EXISTS (SELECT 1 FROM subscriptions) AS subscribed
            FROM jobs j LEFT JOIN credentials c ON c.id = j.credential_id
            WHERE j.id = $1 FOR UPDATE OF j
            """
        let bindings: PostgresBindings
        init(job: JobID) { self.bindings = PostgresBindings([.text(job.rawValue)]) }
    }

    /// Every column of a job over its row, and its revision; a terminal job's lease goes with it.
    struct UpdateJob: PreparedQuery {
        static let sql: String = {
            let columns = RowCoding.jobValueColumns.dropFirst()
            let count = columns.count
            let assignments =
                columns.enumerated().map { "\($1) = $\($0 + 1)" } + [
                    "revision = $\(count + 1)",
                    "lease_owner = CASE WHEN $\(count + 2) THEN NULL ELSE lease_owner END",
                    "lease_expires_at = CASE WHEN $\(count + 2) THEN NULL ELSE lease_expires_at END",
                ]
            return "UPDATE jobs SET \(assignments.joined(separator: ", ")) WHERE id = $\(count + 3)"
        }()
        let bindings: PostgresBindings
        init(_ job: Job, revision: Int) throws {
            self.bindings = PostgresBindings(
                Array(try RowCoding.values(job).dropFirst()) + [.int(revision), .bool(job.state.isTerminal), .text(job.id.rawValue)])
        }
    }

    /// Appends events to a job's timeline, numbered on from its last entry. Callers hold the
    /// job's row lock (or just inserted it), so the numbering cannot race.
    struct AppendEvents: PreparedQuery {
        static let sql = """
            INSERT INTO job_events (job_id, seq, at, type, step, message)
            SELECT $1, last.seq + new.n, new.at, new.type, NULLIF(new.step, ''), new.message
            FROM (SELECT COALESCE(MAX(seq), 0) AS seq FROM job_events WHERE job_id = $1) AS last,
                unnest($2::double precision[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS new(at, type, step, message, n)
            """
        let bindings: PostgresBindings
        init(job: JobID, _ events: [JobEvent]) {
            var bindings = PostgresBindings(capacity: 5)
            bindings.append(job.rawValue)
            bindings.append(events.map(\.at.timeIntervalSinceReferenceDate))
            bindings.append(events.map(\.type))
            // No step is the empty string in the array (steps have names), NULL in the row.
            bindings.append(events.map { $0.step?.rawValue ?? "" })
            bindings.append(events.map(\.message))
            self.bindings = bindings
        }
    }

    /// A secret's current version, locked, so that two writers never seal under one version.
    struct SecretVersion: PreparedQuery {
        static let sql = "SELECT version FROM secrets WHERE owner_id = $1 AND field = $2 FOR UPDATE"
        let bindings: PostgresBindings
        init(owner: String, field: String) { self.bindings = PostgresBindings([.text(owner), .text(field)]) }
    }

    /// Stores a sealed secret under its version, in place of the old one.
    struct PutSecret: PreparedQuery {
        static let sql = """
            INSERT INTO secrets (owner_id, field, version, envelope) VALUES ($1, $2, $3, $4)
            ON CONFLICT (owner_id, field) DO UPDATE SET version = excluded.version, envelope = excluded.envelope
            """
        let bindings: PostgresBindings
        init(owner: String, field: String, version: Int, envelope: [UInt8]) {
            self.bindings = PostgresBindings([.text(owner), .text(field), .int(version), .bytes(envelope)])
        }
    }

    /// Clears a secret's value, keeping its version as a tombstone.
    struct ClearSecret: PreparedQuery {
        static let sql = "UPDATE secrets SET envelope = NULL WHERE owner_id = $1 AND field = $2"
        let bindings: PostgresBindings
        init(owner: String, field: String) { self.bindings = PostgresBindings([.text(owner), .text(field)]) }
    }

    /// The leaked-key index: the hex SHA-256 of a credential's current key.
    struct IndexCurrentKey: PreparedQuery {
        static let sql = "UPDATE credentials SET current_key_sha256 = $1 WHERE id = $2"
        let bindings: PostgresBindings
        init(credential: String, digest: String?) { self.bindings = PostgresBindings([.text(digest), .text(credential)]) }
    }

    /// What a rotation changes on its credential (see ``PostgresStore`` `updateRotationColumns`).
    struct UpdateRotationColumns: PreparedQuery {
        static let sql = """
            UPDATE credentials SET state = $1, version = $2, current_key = $3, previous_key = $4, last_rotated_at = $5, updated_at = $6
            WHERE id = $7 RETURNING id
            """
        let bindings: PostgresBindings
        init(_ credential: Credential) throws {
            self.bindings = PostgresBindings([
                .text(credential.state.rawValue), .int(credential.version), .text(try RowCoding.json(credential.current)),
                .text(try RowCoding.optionalJSON(credential.previous)), .double(RowCoding.time(credential.lastRotatedAt)),
                .double(RowCoding.time(credential.updatedAt)),
                .text(credential.id.rawValue),
            ])
        }
    }

    /// Stages audit records in the write's transaction (see ``PostgresStore`` `stageAudits`).
    struct StageAudits: PreparedQuery {
        static let sql = """
            INSERT INTO audit_staged (at, actor, action, resource, outcome)
            SELECT r.at, r.actor, r.action, r.resource, r.outcome
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS r(at, actor, action, resource, outcome, n)
            ORDER BY r.n
            """
        let bindings: PostgresBindings
        init(_ records: [AuditRecord], time: (Date) -> String) {
            var bindings = PostgresBindings(capacity: 5)
            bindings.append(records.map { time($0.at) })
            bindings.append(records.map(\.actor))
            bindings.append(records.map(\.action))
            bindings.append(records.map(\.resource))
            bindings.append(records.map(\.outcome))
            self.bindings = bindings
        }
    }
}
