extension Keyring {
    /// The HMAC-SHA256 of `message` under a key derived for `purpose` from the keyring's key `keyID`.
    ///
    /// The derived key is HKDF-Expand (RFC 5869) with the key-encryption key as the pseudorandom
    /// key and `purpose` as the info, 32 bytes: HMAC(KEK, purpose ‖ 0x01). A KEK is 32 uniformly
    /// random bytes, so it serves as HKDF's PRK without an extract step. The KEK itself never keys
    /// anything but envelopes, and neither it nor the derived key leaves this module.
    ///
    /// - Throws: ``CryptoError`` with code `unknownKey` if the ring has no key `keyID`.
    public func derivedAuthenticationCode(keyID: String, purpose: String, message: some Collection<UInt8>) throws(CryptoError) -> [UInt8] {
        guard let key = self.key(id: keyID) else { throw CryptoError.unknownKey(keyID) }
        let derived = HMACSHA256.authenticationCode(key: key.bytes, message: Array(purpose.utf8) + [0x01])
        return HMACSHA256.authenticationCode(key: derived, message: message)
    }

}
