public import NIOHTTP1

/// An error that knows the HTTP answer it stands for.
///
/// Anything thrown from a handler that does not conform becomes a bare `500 internal` problem, so
/// that no internal detail reaches a client by accident.
public protocol HTTPResponseError: Error {
    /// The status the error answers with.
    var status: HTTPResponseStatus { get }
    /// The full response, including its problem+json body and any headers it needs.
    func response() -> Response
}
