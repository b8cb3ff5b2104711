/// Placeholder until the network layer lands.
enum CloudSyncNetworkPlaceholder {}
