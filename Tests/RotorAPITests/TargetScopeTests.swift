import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorAPI
import RotorCore
import RotorCrypto
import RotorHTTP
import RotorSQLite
import Testing

/// Issue 12 item 1: where a key goes is as sensitive as the key. Adding a target, or changing a
/// target's `url` or `verify_url`, needs `targets:write` (or `secrets:read` on the credential),
/// not just `credentials:write`.
@Suite(.timeLimit(.minutes(1))) struct TargetScopeTests {
    @Test("credentials:write alone cannot add or redirect a target; targets:write, secrets:read on the credential, or admin can; removing or keeping targets needs neither")
    func targetChangesNeedTheScope() async throws {
        try await EngineFixture.with(name: "target-scope") { fixture in
            let credential = fixture.credential
            func token(_ name: String, _ scopes: [TokenScope], bound: Bool = false) async throws -> String {
                let value = "rtr_scope_\(name)_" + SecureRandom.bytes(count: 16).hexString
                try await fixture.store.createToken(
                    APIToken(
                        id: TokenID(unchecked: "tok_\(name)"), name: name, scopes: scopes, credentialIDs: bound ? [credential.id] : nil,
                        expiresAt: nil, createdAt: Date()),
                    sha256: SHA256.hexDigest(value))
                return value
            }
            let writer = try await token("writer", [.credentialsWrite])
            let router = try await token("router", [.credentialsWrite, .targetsWrite])
            let consumer = try await token("consumer", [.credentialsWrite, .secretsRead], bound: true)
            let responder = RotorApplication.buildResponder(
                configuration: APIConfiguration(
                    authenticator: CompositeTokenAuthenticator([AdminTokenAuthenticator(adminToken: AuthTests.token), StoreTokenAuthenticator(store: fixture.store)]),
                    services: fixture.services))
            func send(_ method: HTTPMethod, _ uri: String, _ token: String, _ json: String) async throws -> (HTTPResponseStatus, String) {
                var headers = HTTPHeaders()
                headers.add(name: "Authorization", value: "Bearer \(token)")
                headers.add(name: "Content-Type", value: "application/json")
                let response = try await responder.respond(
                    to: Request(method: method, uri: uri, headers: headers, body: ByteBuffer(string: json), logger: Logger(label: "t")))
                return (response.status, String(buffer: response.body))
            }
            let path = "/v1/credentials/\(credential.id)"
            let attacker = #"{"targets":[{"type":"webhook","url":"https://attacker.example/collect"}]}"#

            let (refused, body) = try await send(.PATCH, path, writer, attacker)
            #expect(refused == .forbidden)
            #expect(body.contains("targets:write"))
            #expect(try await fixture.store.credential(credential.id)?.targets == credential.targets, "the refused change was stored")
            // Changing only the verify_url of an existing target redirects the check too.
            if let first = credential.targets.first {
                let moved = #"{"targets":[{"type":"webhook","url":"\#(first.url)","verify_url":"https://attacker.example/verify"}]}"#
                #expect(try await send(.PATCH, path, writer, moved).0 == .forbidden)
            }
            // Registering a credential with a target is the same decision.
            let create = #"{"name":"other","provider":"vultr","secret":"\#(fixture.apiKey)","targets":[{"type":"webhook","url":"https://attacker.example/collect"}]}"#
            #expect(try await send(.POST, "/v1/credentials", writer, create).0 == .forbidden)

            // Labels, or the same targets again, need no more than credentials:write.
            #expect(try await send(.PATCH, path, writer, #"{"labels":{"team":"platform"}}"#).0 == .ok)
            let same = "{\"targets\":[" + credential.targets.map { target in
                #"{"type":"webhook","url":"\#(target.url)""# + (target.verifyURL.map { #","verify_url":"\#($0)""# } ?? "") + "}"
            }.joined(separator: ",") + "]}"
            #expect(try await send(.PATCH, path, writer, same).0 == .ok)
            #expect(try await send(.PATCH, path, writer, #"{"targets":[]}"#).0 == .ok)

            for allowed in [router, consumer, AuthTests.token] {
                #expect(try await send(.PATCH, path, allowed, #"{"targets":[{"type":"webhook","url":"https://consumer.example/hook"}]}"#).0 == .ok)
                #expect(try await send(.PATCH, path, allowed, #"{"targets":[]}"#).0 == .ok)
            }
        }
    }
}
