/// Everything Rotor keeps, as one type: what the assembly opens and hands to the API and the
/// engine. SQLiteStore and PostgresStore each provide all of it, so a store lacking a part fails
/// to compile where it is used, instead of a route or a metric going missing at run time.
public typealias RotorStore = Store & SubscriptionStore & ScheduleStore & TargetSecretStore & TargetDeliveryLog & TriggerStore
    & TokenStore & AuditStore & MetricsStore & EnvelopeKeyStore & JobNotifications & RetentionStore & AgentStore
