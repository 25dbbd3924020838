/// The error every throwing RotorCrypto API throws.
///
/// A struct over a private enum (the postgres-nio pattern) so that new failure kinds can be added
/// without breaking callers that switch over them; callers match on ``code`` instead.
///
/// A description names what went wrong (a key id, a length, a path, OpenSSL's reason string) and
/// never contains key material, plaintext or ciphertext bytes: these errors end up in logs and in
/// CLI output.
public struct CryptoError: Error, Hashable, CustomStringConvertible {
    /// A stable category of ``CryptoError`` for matching, e.g. `error.code == .unknownKey`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case authenticationFailed
            case invalidKeyLength
            case invalidNonceLength
            case malformedSealedBox
            case malformedEnvelope
            case unsupportedEnvelopeVersion
            case unknownKey
            case invalidKeyring
            case insecureKeyringFile
            case keyringFileIO
            case invalidPublicKey
            case inputTooLarge
            case openSSL
            case invalidWebhookSecret
        }

        fileprivate let base: Base

        /// Decryption failed: wrong key, wrong associated data, or tampered ciphertext.
        public static let authenticationFailed = Code(base: .authenticationFailed)
        /// A symmetric key was not 32 bytes.
        public static let invalidKeyLength = Code(base: .invalidKeyLength)
        /// An AES-GCM nonce was not 12 bytes.
        public static let invalidNonceLength = Code(base: .invalidNonceLength)
        /// Bytes given as an AES-GCM sealed box are too short or have a wrong tag length.
        public static let malformedSealedBox = Code(base: .malformedSealedBox)
        /// Bytes given as an envelope are not a well-formed Rotor envelope.
        public static let malformedEnvelope = Code(base: .malformedEnvelope)
        /// The envelope was written by a newer format version than this build understands.
        public static let unsupportedEnvelopeVersion = Code(base: .unsupportedEnvelopeVersion)
        /// The keyring has no key-encryption key with the id an envelope or caller named.
        public static let unknownKey = Code(base: .unknownKey)
        /// Keyring JSON, a master key or a keyring change is invalid.
        public static let invalidKeyring = Code(base: .invalidKeyring)
        /// A keyring file is readable or writable by group or others.
        public static let insecureKeyringFile = Code(base: .insecureKeyringFile)
        /// A keyring file could not be read or written.
        public static let keyringFileIO = Code(base: .keyringFileIO)
        /// A PEM public key could not be parsed or is not an ECDSA P-256 key.
        public static let invalidPublicKey = Code(base: .invalidPublicKey)
        /// An input is larger than OpenSSL's `int` length parameters accept.
        public static let inputTooLarge = Code(base: .inputTooLarge)
        /// An OpenSSL call failed for a reason not covered above.
        public static let openSSL = Code(base: .openSSL)
        /// A webhook signing secret is not in the `whsec_<base64>` form.
        public static let invalidWebhookSecret = Code(base: .invalidWebhookSecret)

        /// The code's name, e.g. `unknownKey`.
        public var description: String { base.rawValue }
    }

    fileprivate enum Base: Hashable, Sendable {
        case authenticationFailed
        case invalidKeyLength(expected: Int, actual: Int)
        case invalidNonceLength(expected: Int, actual: Int)
        case malformedSealedBox(reason: String)
        case malformedEnvelope(reason: String)
        case unsupportedEnvelopeVersion(UInt8)
        case unknownKey(id: String)
        case invalidKeyring(reason: String)
        case insecureKeyringFile(path: String, mode: UInt32)
        case keyringFileIO(path: String, operation: String, errno: Int32, message: String)
        case invalidPublicKey(reason: String)
        case inputTooLarge(byteCount: Int)
        case openSSL(operation: String, reason: String?)
        case invalidWebhookSecret
    }

    private let base: Base

    private init(_ base: Base) {
        self.base = base
    }

    /// The category of this error, for matching.
    public var code: Code {
        switch base {
        case .authenticationFailed: .authenticationFailed
        case .invalidKeyLength: .invalidKeyLength
        case .invalidNonceLength: .invalidNonceLength
        case .malformedSealedBox: .malformedSealedBox
        case .malformedEnvelope: .malformedEnvelope
        case .unsupportedEnvelopeVersion: .unsupportedEnvelopeVersion
        case .unknownKey: .unknownKey
        case .invalidKeyring: .invalidKeyring
        case .insecureKeyringFile: .insecureKeyringFile
        case .keyringFileIO: .keyringFileIO
        case .invalidPublicKey: .invalidPublicKey
        case .inputTooLarge: .inputTooLarge
        case .openSSL: .openSSL
        case .invalidWebhookSecret: .invalidWebhookSecret
        }
    }

    /// The key-encryption key id an ``Code/unknownKey`` error names, so a CLI can say which key
    /// to restore to the keyring; `nil` for every other code.
    public var keyID: String? {
        if case .unknownKey(let id) = base { return id }
        return nil
    }

    /// A message for operators. Never contains key material, plaintext or ciphertext.
    public var description: String {
        switch base {
        case .authenticationFailed:
            return "authentication failed: the key, the associated data or the ciphertext is wrong"
        case .invalidKeyLength(let expected, let actual):
            return "key must be \(expected) bytes, got \(actual)"
        case .invalidNonceLength(let expected, let actual):
            return "nonce must be \(expected) bytes, got \(actual)"
        case .malformedSealedBox(let reason):
            return "malformed AES-GCM sealed box: \(reason)"
        case .malformedEnvelope(let reason):
            return "malformed envelope: \(reason)"
        case .unsupportedEnvelopeVersion(let version):
            return "unsupported envelope format version \(version); this build reads version \(Envelope.formatVersion)"
        case .unknownKey(let id):
            return "keyring has no key-encryption key with id '\(id)'"
        case .invalidKeyring(let reason):
            return "invalid keyring: \(reason)"
        case .insecureKeyringFile(let path, let mode):
            let octal = String(mode & 0o7777, radix: 8)
            return "keyring file '\(path)' has mode 0\(octal), which grants access to group or others; "
                + "it must be 0600 or stricter: run `chmod 600 \(path)`"
        case .keyringFileIO(let path, let operation, let errno, let message):
            return "cannot \(operation) keyring file '\(path)': \(message) (errno \(errno))"
        case .invalidPublicKey(let reason):
            return "invalid ECDSA P-256 public key: \(reason)"
        case .inputTooLarge(let byteCount):
            return "input of \(byteCount) bytes is too large"
        case .openSSL(let operation, let reason):
            return "OpenSSL \(operation) failed" + (reason.map { ": \($0)" } ?? "")
        case .invalidWebhookSecret:
            return "a webhook secret must be 'whsec_' followed by base64 of 24 to 64 bytes"
        }
    }

    /// Decryption failed: wrong key, wrong associated data, or tampered ciphertext.
    public static let authenticationFailed = CryptoError(.authenticationFailed)

    /// The keyring has no key-encryption key with this id.
    public static func unknownKey(_ id: String) -> CryptoError {
        CryptoError(.unknownKey(id: id))
    }

    static let invalidWebhookSecret = CryptoError(.invalidWebhookSecret)

    static func invalidKeyLength(expected: Int, actual: Int) -> CryptoError {
        CryptoError(.invalidKeyLength(expected: expected, actual: actual))
    }

    static func invalidNonceLength(expected: Int, actual: Int) -> CryptoError {
        CryptoError(.invalidNonceLength(expected: expected, actual: actual))
    }

    static func malformedSealedBox(_ reason: String) -> CryptoError {
        CryptoError(.malformedSealedBox(reason: reason))
    }

    static func malformedEnvelope(_ reason: String) -> CryptoError {
        CryptoError(.malformedEnvelope(reason: reason))
    }

    static func unsupportedEnvelopeVersion(_ version: UInt8) -> CryptoError {
        CryptoError(.unsupportedEnvelopeVersion(version))
    }

    static func invalidKeyring(_ reason: String) -> CryptoError {
        CryptoError(.invalidKeyring(reason: reason))
    }

    static func insecureKeyringFile(path: String, mode: UInt32) -> CryptoError {
        CryptoError(.insecureKeyringFile(path: path, mode: mode))
    }

    static func keyringFileIO(path: String, operation: String, errno: Int32, message: String) -> CryptoError {
        CryptoError(.keyringFileIO(path: path, operation: operation, errno: errno, message: message))
    }

    static func invalidPublicKey(_ reason: String) -> CryptoError {
        CryptoError(.invalidPublicKey(reason: reason))
    }

    static func inputTooLarge(byteCount: Int) -> CryptoError {
        CryptoError(.inputTooLarge(byteCount: byteCount))
    }

    static func openSSL(operation: String, reason: String?) -> CryptoError {
        CryptoError(.openSSL(operation: operation, reason: reason))
    }
}
