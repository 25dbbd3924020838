import NIOCore
import NIOHTTP1

extension Response {
    /// The response head as the server sends it: `Content-Length` from the body (except where
    /// a body is forbidden), and `Connection: close` when the connection ends after it.
    func head(keepAlive: Bool) -> HTTPResponseHead {
        var headers = self.headers
        if self.status == .noContent || self.status == .notModified || self.status.code < 200 {
            headers.remove(name: "Content-Length")
        } else {
            headers.replaceOrAdd(name: "Content-Length", value: String(self.body.readableBytes))
        }
        if !keepAlive {
            headers.replaceOrAdd(name: "Connection", value: "close")
        }
        return HTTPResponseHead(version: .http1_1, status: self.status, headers: headers)
    }
}
