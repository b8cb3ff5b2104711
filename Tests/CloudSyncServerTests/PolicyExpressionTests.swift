import Testing

@testable import CloudSyncServer

@Suite("Policy expressions")
struct PolicyExpressionTests {
    @Test("NEW.col and OLD.col become numbered parameters; the rest is kept as written")
    func rewritesRowImages() throws {
        let expression = try PolicyExpression("OLD.user_id = auth_userid() AND new . \"user_id\" = OLD.[user_id]", firstParameter: 6)
        #expect(expression.rewritten == "?6 = auth_userid() AND ?7 = ?8")
        #expect(expression.references == [
            .init(image: .old, column: "user_id"), .init(image: .new, column: "user_id"), .init(image: .old, column: "user_id"),
        ])
    }

    @Test("literals, quoted identifiers and comments are never rewritten")
    func leavesLiteralsAlone() throws {
        let source = "title = 'NEW.title' AND \"NEW\" = 'it''s' -- NEW.x\n AND /* OLD.y */ x'4E'"
        let expression = try PolicyExpression(source, firstParameter: 1)
        #expect(expression.references.isEmpty)
        #expect(expression.rewritten.contains("'NEW.title'"))
        #expect(expression.rewritten.contains("'it''s'"))
        #expect(!expression.rewritten.contains("OLD.y"))
    }

    @Test("names not used as qualifiers are candidate tables")
    func collectsNames() throws {
        let expression = try PolicyExpression(
            "EXISTS (SELECT 1 FROM members m WHERE m.project_id = tasks.project_id AND m.user_id = auth_userid())", firstParameter: 1)
        #expect(expression.names.contains("members"))
        #expect(!expression.names.contains("tasks"))
    }

    @Test("malformed expressions are refused with a reason", arguments: [
        ("", "empty"), ("   -- nothing", "empty"), ("user_id = 1; DROP TABLE tasks", "';'"),
        ("user_id = ?", "parameters"), ("user_id = :me", "parameters"), ("(user_id = 1", "unbalanced"),
        ("user_id = 1)", "unbalanced"), ("title = 'open", "unterminated"), ("\"title = 1", "unterminated"),
        ("1 /* open", "unterminated"),
    ])
    func refusesMalformed(source: String, reason: String) {
        #expect {
            try PolicyExpression(source, firstParameter: 1)
        } throws: { error in
            guard let error = error as? SyncStorageError else { return false }
            return error.kind == .invalidPolicy && error.message.contains(reason)
        }
    }
}
