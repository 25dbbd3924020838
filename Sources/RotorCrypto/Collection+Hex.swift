extension Collection<UInt8> {
    /// The bytes as lowercase hexadecimal, two digits per byte: the form Rotor uses for digests
    /// (`token_hash`, credential fingerprints, GitHub's `sha256=` signatures).
    public var hexString: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var characters: [UInt8] = []
        characters.reserveCapacity(count * 2)
        for byte in self {
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: characters, as: UTF8.self)
    }
}
