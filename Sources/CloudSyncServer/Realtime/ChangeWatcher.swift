import Logging
import ServiceLifecycle

/// The application's service that feeds a storage's external changes (other instances, other
/// programs) into the notifier, reconnecting when the connection drops.
struct ChangeWatcher: Service {
    static let reconnectDelay = Duration.seconds(1)

    let source: any ExternalChangeSource
    let notifier: ChangeNotifier
    let logger: Logger

    func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    // Changes made while not listening were not heard: every waiter looks again.
                    try await source.watchChanges(connected: { notifier.changedEverywhere() }, changed: { notifier.changed($0) })
                } catch {
                    guard !Task.isCancelled else { break }
                    logger.warning("listening for changes failed, retrying in \(Self.reconnectDelay): \(error)")
                }
                notifier.changedEverywhere()
                try? await Task.sleep(for: Self.reconnectDelay)
            }
        }
    }
}
