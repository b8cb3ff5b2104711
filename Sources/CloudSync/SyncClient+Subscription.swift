import CloudSyncCore
import CloudSyncNetwork
import Foundation
import GRDB

extension SyncClient {
    /// Keeps a change subscription open (the live channel) until the task is cancelled: each
    /// `changes` event signals `wake`, and the background loop syncs (debounced by its
    /// `writeDebounce`). A dropped or refused subscription is reported `.down` and opened again
    /// after a jittered, growing delay; the loop's interval polling goes on meanwhile. Reopened
    /// at the device's current cursor, it is told at once of anything that arrived while it was
    /// away, so nothing is missed. Returns when the server has no subscriptions (an older
    /// server), for the caller to fall back to waiting checks.
    func keepSubscribed(_ wake: WakeSignal, _ options: BackgroundSyncOptions) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let url = try await subscriptionURL()
                for try await update in ChangeStream.open(url: url, bearer: currentBearer, idleTimeout: options.liveIdleTimeout) {
                    switch update {
                    case .opened:
                        failures = 0
                        setChannel(.live)
                    case .changes:
                        wake.signal()
                    }
                }
                // Closed by the server (shutting down, or the credential revoked): open again.
            } catch let refused as ChangeStream.Refused where refused.unsupported {
                return
            } catch let refused as ChangeStream.Refused where refused.status == 401 {
                // A sync refreshes an expired token (or reports the revoked credential).
                wake.signal()
            } catch {}
            guard !Task.isCancelled else { return }
            failures += 1
            setChannel(.down)
            try? await sleep(seconds: options.jittered(options.backoff(afterFailures: failures)))
        }
    }

    /// Where this device subscribes: the check's path at its receive cursor. A write, as a
    /// sync's start: a device that never synced gets its site id here.
    private func subscriptionURL() async throws -> URL {
        let start = try await database.write { db in
            let context = try CloudSync.context(db)
            return (site: try context.siteID(), receive: try context.receiveCursor())
        }
        let text = endpoint.baseURL(site: start.site) + "/\(start.receive.dbVersion)/\(start.receive.seq)/" + ChangeSubscription.pathSuffix
        guard let url = URL(string: text) else { throw SyncError(.misuse, "not a URL: \(text)") }
        return url
    }
}
