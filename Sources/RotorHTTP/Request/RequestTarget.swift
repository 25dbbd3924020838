/// The request target split into decoded path segments and query (RFC 9112 §3.2).
struct RequestTarget {
    var pathSegments: [String]
    var query: QueryParameters

    init(_ uri: String) throws(HTTPError) {
        // Scanned as UTF-8 bytes: every delimiter here is ASCII, and Character-wise scanning
        // (grapheme breaking) was a noticeable part of a small request's cost.
        var target = Substring(uri)
        // absolute-form, which proxies send: drop scheme and authority.
        if target.utf8.first != UInt8(ascii: "/"), target.hasPrefix("http://") || target.hasPrefix("https://") {
            let afterScheme = target.drop { $0 != ":" }.dropFirst(3)
            target = afterScheme.firstIndex(of: "/").map { afterScheme[$0...] } ?? "/"
        }
        if let hash = target.utf8.firstIndex(of: UInt8(ascii: "#")) {
            target = target[..<hash]
        }
        var rawQuery: Substring = ""
        if let question = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            rawQuery = target[target.utf8.index(after: question)...]
            target = target[..<question]
        }
        var segments: [String] = []
        // Split before decoding, so an encoded slash (%2F) stays inside its segment.
        for raw in target.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            guard let decoded = PercentDecoding.decode(Substring(raw), plusIsSpace: false) else {
                throw HTTPError.badRequest("The path is not valid percent-encoded UTF-8.")
            }
            segments.append(decoded)
        }
        self.pathSegments = segments
        self.query = try QueryParameters(raw: rawQuery)
    }
}

/// RFC 3986 percent-decoding to UTF-8.
enum PercentDecoding {
    /// Decodes `text`, or returns nil for a malformed escape or bytes that are not UTF-8.
    static func decode(_ text: Substring, plusIsSpace: Bool) -> String? {
        let utf8 = text.utf8
        if !utf8.contains(UInt8(ascii: "%")) && !(plusIsSpace && utf8.contains(UInt8(ascii: "+"))) {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                let high = utf8.index(after: index)
                guard high != utf8.endIndex else { return nil }
                let low = utf8.index(after: high)
                guard low != utf8.endIndex, let h = hexValue(utf8[high]), let l = hexValue(utf8[low]) else { return nil }
                bytes.append(h << 4 | l)
                index = utf8.index(after: low)
            } else {
                bytes.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index = utf8.index(after: index)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
