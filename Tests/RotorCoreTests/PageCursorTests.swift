import RotorCore
import Testing

@Suite struct PageCursorTests {
    @Test("cursors keep the format clients hold: unpadded base64url of the list's tag and the last item's sort key")
    func format() {
        let at = 794_019_600.25
        #expect(PageCursor.encode(TimePosition(time: at, id: "job_a"), tag: TimeKeyset<Job>.jobs.tag) == "ajo3OTQwMTk2MDAuMjV8am9iX2E")
        #expect(PageCursor.encode(TimePosition(time: at, id: "tok_a"), tag: TimeKeyset<APIToken>.tokens.tag) == "azo3OTQwMTk2MDAuMjV8dG9rX2E")
        #expect(
            PageCursor.encode(TimePosition(time: at, id: "trg_a"), tag: TimeKeyset<WebhookTrigger>.triggers.tag) == "dDo3OTQwMTk2MDAuMjV8dHJnX2E")
        #expect(
            PageCursor.encode(TimePosition(time: at, id: "sub_a"), tag: TimeKeyset<Subscription>.subscriptions.tag)
                == "czo3OTQwMTk2MDAuMjV8c3ViX2E")
        #expect(
            PageCursor.encode(TimePosition(time: at, id: "evt_a"), tag: TimeKeyset<SubscriptionDelivery>.deliveries.tag)
                == "czo3OTQwMTk2MDAuMjV8ZXZ0X2E")
        #expect(PageCursor.encode(name: "~~~") == "bjp-fn4")
        #expect(PageCursor.encode(name: "???") == "bjo_Pz8")
        #expect(PageCursor.encode(sequence: 42) == "czo0Mg")
    }

    @Test("a cursor reads back; another list's cursor or garbage is refused as not found")
    func roundTrip() throws {
        let position = TimePosition(time: 794_019_600.125, id: "job_a|b")
        let cursor = PageCursor.encode(position, tag: "j")
        #expect(try TimeKeyset<Job>.jobs.after(cursor) == position)
        #expect(try TimeKeyset<Job>.jobs.after(nil) == nil)
        #expect(try PageCursor.decodeName(PageCursor.encode(name: "prod/db")) == "prod/db")
        #expect(try PageCursor.decodeSequence(PageCursor.encode(sequence: 7)) == 7)
        for refused in [PageCursor.encode(position, tag: "k"), PageCursor.encode(sequence: 7), "bogus", "!!"] {
            let error = #expect(throws: StoreError.self) { try TimeKeyset<Job>.jobs.after(refused) }
            #expect(error?.code == .notFound)
        }
        #expect(throws: StoreError.self) { try PageCursor.decodeSequence(PageCursor.encode(name: "x")) }
    }

    @Test("a page keeps `limit` of the `limit + 1` rows fetched, and names the last one kept only when a row was left over")
    func trimming() {
        let full = Page([1, 2, 3], limit: 2) { "after \($0)" }
        #expect(full.items == [1, 2])
        #expect(full.nextCursor == "after 2")
        let last = Page([1, 2], limit: 2) { "after \($0)" }
        #expect(last.items == [1, 2])
        #expect(last.nextCursor == nil)
    }
}
