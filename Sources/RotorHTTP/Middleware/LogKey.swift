/// Logger metadata keys, in one place so that every log line names things the same way.
public enum LogKey {
    /// The request id.
    public static let requestID = "request_id"
    /// The job id.
    public static let jobID = "job_id"
    /// The credential id.
    public static let credentialID = "credential_id"
}
