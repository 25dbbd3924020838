package import RotorCore

/// The names secrets are stored under, per owner (credential, job, trigger or subscription id).
/// They are part of each envelope's associated data, so both drivers must use these exactly:
/// an envelope sealed under one name does not open under another.
package enum EnvelopeField {
    package static let currentKey = "current_key"
    package static let previousKey = "previous_key"
    package static let pendingKey = "pending_key"
    package static let signingSecretPrefix = "signing_secret:"
    package static let subscriptionSigningSecret = "signing_secret"
    package static let triggerSecret = "trigger_secret"
    package static let triggerPreviousSecret = "trigger_previous_secret"
    private static let previousSuffix = ":previous"

    package static func signingSecret(_ target: TargetID) -> String { signingSecretPrefix + target.rawValue }

    /// A target's previous signing secret, kept during a roll's overlap. It shares the
    /// `signing_secret:` prefix so that replacing a credential's targets removes it too.
    package static func previousSigningSecret(_ target: TargetID) -> String { signingSecret(target) + previousSuffix }

    /// The target whose previous signing secret `field` holds, or nil for any other field.
    package static func previousSigningSecretTarget(_ field: String) -> TargetID? {
        guard field.hasPrefix(signingSecretPrefix), field.hasSuffix(previousSuffix) else { return nil }
        return TargetID(unchecked: String(field.dropFirst(signingSecretPrefix.count).dropLast(previousSuffix.count)))
    }
}
