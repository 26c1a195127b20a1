import Foundation
import IPNS
import KadDHT
import P2PCore

/// The daemon's republisher: a thin loop over `IPNSRepublishSchedule` (which decides) and the
/// `NameService` (which signs, puts and stores). Every name in `<home>/dht.sqlite` is republished
/// every `Ipns.RepublishPeriod` and before it expires (same value, sequence + 1, a fresh EOL with
/// the same lifetime); a record published offline is put on the network once the DHT has peers.
extension NameService {
    /// Runs until cancelled: one pass whenever an entry is due, on a publish made offline, and at
    /// least every `recheck` (the DHT may have found peers).
    public func runRepublisher(schedule: IPNSRepublishSchedule, recheck: Duration = .seconds(30)) async {
        var wakeups = republishWakeups.makeAsyncIterator()
        while !Task.isCancelled {
            let next = await republishDue(schedule: schedule)
            let now = clock().timeIntervalSince1970
            var wait = Self.seconds(recheck)
            if let next { wait = min(wait, max(0.05, next - now)) }
            let timer = Task { [republishSignal] in
                try? await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
                if !Task.isCancelled { republishSignal.yield() }
            }
            let woken: Void? = await wakeups.next()
            timer.cancel()
            if woken == nil { return }
        }
    }

    /// One pass: acts on every entry the schedule says is due. Returns when the next one is due.
    @discardableResult
    public func republishDue(schedule: IPNSRepublishSchedule) async -> Double? {
        let storage = self.storage
        let entries: [PublishedName]
        do {
            entries = try await BlockingExecutor.run { try storage.publishedNames() }
        } catch {
            logger.warning("ipns: cannot read the published names: \(error)")
            return clock().timeIntervalSince1970 + schedule.retryInterval
        }
        var updated: [PublishedName] = []
        for entry in entries {
            let now = clock()
            let action = schedule.action(entry.scheduleEntry, now: now.timeIntervalSince1970)
            if action == .wait {
                updated.append(entry)
                continue
            }
            if let next = await republish(entry, action: action, now: now) { updated.append(next) }
        }
        return schedule.nextWake(updated.map(\.scheduleEntry))
    }

    /// Puts (or renews, then puts) one entry; returns it as stored, nil when it was dropped.
    private func republish(_ entry: PublishedName, action: IPNSRepublishSchedule.Action, now: Date) async -> PublishedName? {
        let storage = self.storage
        var next = entry
        if action == .republish {
            let keystore = self.keystore
            guard let key = try? await BlockingExecutor.run({ try keystore.key(named: entry.keyName).privateKey }),
                IPNSName(publicKey: key.publicKey) == entry.name
            else {
                logger.warning("ipns: key \(entry.keyName) of \(entry.name.string) is gone; the name is no longer republished")
                try? await BlockingExecutor.run { try storage.removePublishedName(entry.name) }
                return nil
            }
            do {
                next.record = try IPNSRecord.create(
                    value: entry.record.valueString ?? "", sequence: entry.record.sequence &+ 1,
                    lifetime: .milliseconds(Int64(entry.lifetime * 1000)), ttl: entry.record.ttl ?? IPNSRecord.defaultTTL,
                    key: key, now: now)
            } catch {
                logger.warning("ipns: cannot renew \(entry.name.string): \(error)")
                return entry
            }
            next.published = now.timeIntervalSince1970
            next.online = false
        }
        let routingKey = entry.name.routingKey
        let bytes = next.record.bytes
        if let dht {
            try? dht.putLocal(routingKey, bytes)
            if isOnline {
                do {
                    try await withTimeout(.seconds(60), what: "republishing \(entry.name.string)") {
                        try await dht.putValue(routingKey, bytes)
                    }
                    next.online = true
                    next.lastFailure = nil
                    logger.info("ipns: republished \(entry.name.string) (sequence \(next.record.sequence))")
                } catch {
                    next.lastFailure = now.timeIntervalSince1970
                    logger.info("ipns: republishing \(entry.name.string) failed: \(error)")
                }
            } else {
                next.lastFailure = now.timeIntervalSince1970
            }
        } else {
            next.lastFailure = now.timeIntervalSince1970
        }
        let saved = next
        do {
            try await BlockingExecutor.run { try storage.savePublishedName(saved) }
        } catch {
            logger.warning("ipns: cannot save \(entry.name.string): \(error)")
        }
        return next
    }
}
