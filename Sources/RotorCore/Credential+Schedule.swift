public import Foundation

extension Credential {
    /// When the scheduler should next start a rotation by the credential's schedule: `every`
    /// after the last rotation (or creation), or `before_expiry` ahead of the current key's
    /// provider expiry, whichever comes first. Nil without a schedule, and while the credential
    /// is disabled (the scheduler never starts one then; enabling it computes the time again).
    public func scheduledRotationAt() -> Date? {
        guard let schedule = self.schedule, self.state != .disabled else { return nil }
        return [self.rotationDueByAge(schedule), self.rotationDueByExpiry(schedule)].compactMap { $0 }.min()
    }

    /// Which rule of the schedule makes a rotation due at `now`, if any: `"every"` or
    /// `"before_expiry"`. The scheduler names it as the job's trigger source.
    public func scheduleRule(dueAt now: Date) -> String? {
        guard let schedule = self.schedule else { return nil }
        if let due = self.rotationDueByExpiry(schedule), due <= now { return "before_expiry" }
        if let due = self.rotationDueByAge(schedule), due <= now { return "every" }
        return nil
    }

    private func rotationDueByAge(_ schedule: Schedule) -> Date? {
        schedule.every.map { $0.adding(to: self.lastRotatedAt ?? self.createdAt) }
    }

    private func rotationDueByExpiry(_ schedule: Schedule) -> Date? {
        guard let before = schedule.beforeExpiry, let expiry = self.current.expiresAt else { return nil }
        return ISODuration(years: -before.years, months: -before.months, seconds: -before.seconds).adding(to: expiry)
    }
}
