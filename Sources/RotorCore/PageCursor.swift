package import Foundation

/// Opaque page cursors: base64url (unpadded) of the last item's sort key behind a tag naming the
/// list. Clients hold them between requests and either store reads the other's, so the format is
/// fixed: `n:<name>`, `s:<sequence>`, and `<tag>:<seconds since 2001>|<id>` for lists ordered by
/// time (``TimeKeyset``).
package enum PageCursor {
    /// The cursor after the item named `name`, in a list ordered by name.
    package static func encode(name: String) -> String { encode("n:" + name) }

    /// The name a cursor of ``encode(name:)`` continues after. Throws ``StoreError/Code/notFound``.
    package static func decodeName(_ cursor: String) throws -> String {
        guard let text = decode(cursor), text.hasPrefix("n:") else { throw invalid }
        return String(text.dropFirst(2))
    }

    /// The cursor after the item numbered `sequence`, in a list ordered by sequence number.
    package static func encode(sequence: Int) -> String { encode("s:\(sequence)") }

    /// The sequence number a cursor of ``encode(sequence:)`` continues after. Throws
    /// ``StoreError/Code/notFound``.
    package static func decodeSequence(_ cursor: String) throws -> Int {
        guard let text = decode(cursor), text.hasPrefix("s:"), let sequence = Int(text.dropFirst(2)) else { throw invalid }
        return sequence
    }

    /// The cursor after `position` in the list whose cursors carry `tag`.
    package static func encode(_ position: TimePosition, tag: String) -> String {
        encode("\(tag):\(position.time)|\(position.id)")
    }

    /// The position a cursor of ``encode(_:tag:)`` continues after. Throws
    /// ``StoreError/Code/notFound``, also for another list's cursor.
    package static func decodePosition(_ cursor: String, tag: String) throws -> TimePosition {
        let prefix = tag + ":"
        guard let text = decode(cursor), text.hasPrefix(prefix), let bar = text.firstIndex(of: "|"),
            let time = Double(text[text.index(text.startIndex, offsetBy: prefix.count)..<bar])
        else { throw invalid }
        return TimePosition(time: time, id: String(text[text.index(after: bar)...]))
    }

    /// An unreadable cursor names nothing the caller may continue from.
    private static let invalid = StoreError(.notFound, message: "the page cursor is not valid")

    private static func encode(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func decode(_ cursor: String) -> String? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return nil }
        return String(data: data, encoding: .utf8)
    }
}

/// Where an item stands in a list ordered by time, then id: the time as stored (seconds since
/// 2001-01-01) so a cursor compares exactly with the column.
package struct TimePosition: Sendable, Hashable {
    /// Seconds since 2001-01-01.
    package var time: Double
    /// The item's id, which orders items of the same time.
    package var id: String

    /// Creates a position.
    package init(time: Double, id: String) {
        self.time = time
        self.id = id
    }

    /// The position of an item created at `date` with `id`.
    package init(_ date: Date, _ id: String) {
        self.init(time: date.timeIntervalSinceReferenceDate, id: id)
    }
}

/// A list paged by keyset on (time, id): the tag of its cursors, its direction, and where an item
/// stands in it. The stores write the SQL; this is the part that is the same for both.
package struct TimeKeyset<Item: Sendable>: Sendable {
    /// The cursor's tag, so one list's cursor is refused by another (one letter, kept for the
    /// cursors clients already hold).
    package let tag: String
    /// Newest first (descending time and id), or oldest first.
    package let newestFirst: Bool
    /// Where an item stands.
    package let position: @Sendable (Item) -> TimePosition

    /// Describes a list.
    package init(tag: String, newestFirst: Bool, position: @escaping @Sendable (Item) -> TimePosition) {
        self.tag = tag
        self.newestFirst = newestFirst
        self.position = position
    }

    /// The position `cursor` continues after; nil for the first page. Throws
    /// ``StoreError/Code/notFound`` for an unreadable cursor or another list's.
    package func after(_ cursor: String?) throws -> TimePosition? {
        try cursor.map { try PageCursor.decodePosition($0, tag: self.tag) }
    }

    /// The page made of `rows`, fetched with a limit of `limit + 1`.
    package func page(_ rows: [Item], limit: Int) -> Page<Item> {
        Page(rows, limit: limit) { PageCursor.encode(self.position($0), tag: self.tag) }
    }
}

extension TimeKeyset where Item == Job {
    /// `GET /v1/jobs`: newest first.
    package static var jobs: Self { Self(tag: "j", newestFirst: true) { TimePosition($0.createdAt, $0.id.rawValue) } }
}

extension TimeKeyset where Item == APIToken {
    /// `GET /v1/tokens`: newest first.
    package static var tokens: Self { Self(tag: "k", newestFirst: true) { TimePosition($0.createdAt, $0.id.rawValue) } }
}

extension TimeKeyset where Item == WebhookTrigger {
    /// `GET /v1/triggers`: newest first.
    package static var triggers: Self { Self(tag: "t", newestFirst: true) { TimePosition($0.createdAt, $0.id.rawValue) } }
}

extension TimeKeyset where Item == Subscription {
    /// `GET /v1/subscriptions`: oldest first.
    package static var subscriptions: Self { Self(tag: "s", newestFirst: false) { TimePosition($0.createdAt, $0.id.rawValue) } }
}

extension TimeKeyset where Item == SubscriptionDelivery {
    /// `GET /v1/subscriptions/{id}/deliveries`: newest first, by event within one time.
    package static var deliveries: Self { Self(tag: "s", newestFirst: true) { TimePosition($0.createdAt, $0.eventID.rawValue) } }
}

extension Page {
    /// The page made of `rows`, fetched with a limit of `limit + 1`: a row beyond `limit` is
    /// dropped and means another page follows, after the last item kept.
    package init(_ rows: [Item], limit: Int, cursor: (Item) -> String) {
        var items = rows
        var next: String?
        if items.count > limit {
            items.removeLast(items.count - limit)
            next = items.last.map(cursor)
        }
        self.init(items: items, nextCursor: next)
    }
}
