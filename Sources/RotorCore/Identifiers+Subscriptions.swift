/// An event subscription (`sub_…`).
public struct SubscriptionID: PrefixedID {
    public static let prefix = "sub"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

/// An event delivered to subscriptions (`evt_…`): the `webhook-id` of every attempt to deliver it.
public struct EventID: PrefixedID {
    public static let prefix = "evt"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}
