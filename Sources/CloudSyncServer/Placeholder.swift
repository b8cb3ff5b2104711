/// Placeholder until the server lands.
enum CloudSyncServerPlaceholder {}
