/// What a user's recorded visibility was computed from (`cloudsync_rls_users`).
struct RowSecurityEvaluation: Equatable {
    /// The `db_version` every change up to which is evaluated.
    var version: Int64
    /// The policy epoch.
    var epoch: Int64
    /// The claims policies can read (`AccessClaims.policyInputs`).
    var claims: String
}
