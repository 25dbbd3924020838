/// Thrown by a handler to close the connection without sending any response.
///
/// For simulating a peer that vanishes mid-request (the fake provider drops the connection after a
/// key was created, to exercise Rotor's crash-safety rules); real routes never throw it.
public struct AbortConnection: Error, Sendable {
    /// Creates the error.
    public init() {}
}
