/// Where an encrypted value lives: the associated data an ``Envelope`` is bound to.
///
/// Opening an envelope with a context other than the one it was sealed with fails, so a
/// ciphertext copied to another row, another column or another version of the same secret is
/// useless. The strings are bound by their UTF-8 bytes, so use stable, normalised identifiers
/// (Rotor's ids are ASCII).
public struct EnvelopeContext: Sendable, Hashable {
    /// The id of the row that owns the value, e.g. a credential id `cred_…`.
    public var recordID: String
    /// The column or role of the value within the record, e.g. `current_key`.
    public var field: String
    /// The version of the value, e.g. the credential's key version.
    public var version: Int

    /// A context binding a value to `recordID`, `field` and `version`.
    public init(recordID: String, field: String, version: Int) {
        self.recordID = recordID
        self.field = field
        self.version = version
    }
}
