/// One of the notifier's subscription places, given back when released.
final class SubscriptionPlace: Sendable {
    let notifier: ChangeNotifier

    init(notifier: ChangeNotifier) {
        self.notifier = notifier
    }

    deinit {
        notifier.endSubscription()
    }
}
