import NIOCore
import NIOHTTP1
import RotorHTTP

/// `GET /openapi.yaml`: the API description, embedded in the binary so it always matches the
/// routes that shipped with it.
enum SpecRoutes {
    static func register(on router: Router) {
        let document = Response(
            status: .ok,
            headers: ["Content-Type": "application/yaml; charset=utf-8"],
            body: ByteBuffer(string: OpenAPIDocument.yaml)
        )
        router.get("/openapi.yaml") { _ in document }
    }
}
