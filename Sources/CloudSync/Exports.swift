// `CloudSync`'s public API uses types of CloudSyncNetwork: `SyncClient.endpoint` is a
// `ConnectionString`, a `SyncTransport` sends `HTTPRequest`s and returns `HTTPResponse`s (a
// custom transport is how an app plugs in its own HTTP stack or a test harness;
// `BlockingHTTPTransport` runs the extension's synchronous `HTTPTransport`), and the error
// codes `.unauthorized` and `.cancelled` are defined there because the extension reports them
// too. Re-exporting the module, rather than wrapping each type, lets an app name all of these
// after `import CloudSync` alone, and keeps one type per concept: a transport written for the
// extension works for `SyncClient` unchanged. CloudSyncNetwork's public surface is only these
// types; its protocol machinery is `package`, and it has no HTTP client of its own (libcurl is
// CloudSyncCurl's, which this module does not depend on: iOS has no libcurl).
@_exported import CloudSyncNetwork

// `SyncError` is the engine's `CloudSyncError` and `SyncCursor` the engine's cursor: an app that
// reads `error.message` or `error.code` must see CloudSyncCore's declarations. Its public API is
// what app and extension authors use (server-only parts are `package`), so it is re-exported
// too: `import CloudSync` is the only import an app needs (the example app checks this, with
// MemberImportVisibility on).
@_exported import CloudSyncCore
