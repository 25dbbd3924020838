public import Foundation

/// The JSON conventions of the API (DESIGN.md §4): snake_case keys, RFC 3339 UTC timestamps.
///
/// Keys are not converted: API types spell their snake_case keys in `CodingKeys`; the automatic
/// conversion strategies cost more than a third of encoding a small body.
public enum JSONCoding {
    /// The encoder every response uses.
    ///
    /// Built once: making an encoder per response cost a tenth of a JSON route's CPU. Sharing it
    /// is safe because it is never reconfigured after this initializer. Keys are sorted: without
    /// it Foundation writes an object's keys in an order that changes from one process to the
    /// next, and scripts and diffs of `rotor … --output json` need the same bytes every time.
    /// The hot routes written with ``JSONWriter`` keep their own fixed order.
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The decoder every request body goes through; shared on the same terms as ``encoder``.
    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
