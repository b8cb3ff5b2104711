import Foundation

/// A policy expression, scanned once when it is set: its `NEW.col` and `OLD.col` references
/// become bound parameters, and the names it mentions tell which tables it reads.
///
/// SQLite resolves `NEW` and `OLD` only inside triggers, so a policy evaluated as a plain
/// query cannot use them as written. The scanner knows SQL's lexical structure (string
/// literals, quoted identifiers, comments) so that nothing inside a literal is rewritten.
struct PolicyExpression: Equatable {
    /// A reference to the row before or after the change.
    enum RowImage: String, Equatable {
        case new = "NEW", old = "OLD"
    }

    /// A `NEW.col` / `OLD.col` reference, replaced by the parameter `?parameter`.
    struct Reference: Equatable {
        var image: RowImage
        var column: String
    }

    /// The expression as written.
    let source: String
    /// The expression with every `NEW.col` / `OLD.col` replaced by a parameter (`?N` unless
    /// told otherwise), N counting from `firstParameter`.
    let rewritten: String
    /// The replaced references, in parameter order.
    let references: [Reference]
    /// Unqualified identifiers that are not followed by `.` (candidate table names in FROM
    /// clauses), lowercased; compared with the database's tables to find dependencies.
    let names: Set<String>

    /// Scans `source`.
    /// - Parameters:
    ///   - firstParameter: the number of the first parameter to use.
    ///   - placeholder: the text of parameter N standing for a reference (PostgreSQL writes
    ///     `$N` with a type cast).
    ///   - allowsCasts: PostgreSQL's `::` casts are allowed (one `:` still is a parameter).
    /// - Throws: `SyncStorageError(.invalidPolicy)` for an empty expression, unbalanced
    ///   parentheses, an unterminated literal or comment, `;`, or parameters of its own.
    init(_ source: String, firstParameter: Int, placeholder: (Int, Reference) -> String = { number, _ in "?\(number)" }, allowsCasts: Bool = false) throws(SyncStorageError) {
        self.source = source
        let tokens = try Self.tokenize(source)
        guard tokens.contains(where: { $0.kind != .space }) else {
            throw SyncStorageError(.invalidPolicy, "the expression is empty")
        }
        var output = ""
        var references: [Reference] = []
        var names: Set<String> = []
        var depth = 0
        var index = 0
        func significant(after position: Int) -> Int? {
            var next = position + 1
            while next < tokens.count, tokens[next].kind == .space { next += 1 }
            return next < tokens.count ? next : nil
        }
        while index < tokens.count {
            let token = tokens[index]
            switch token.kind {
            case .punctuation where token.text == "(":
                depth += 1
            case .punctuation where token.text == ")":
                depth -= 1
                guard depth >= 0 else { throw SyncStorageError(.invalidPolicy, "unbalanced ')' in the expression") }
            case .punctuation where token.text == ";":
                throw SyncStorageError(.invalidPolicy, "';' is not allowed: a policy is one expression")
            case .punctuation where allowsCasts && token.text == ":" && index + 1 < tokens.count && tokens[index + 1].text == ":":
                output += "::"
                index += 2
                continue
            case .punctuation where token.text == "?" || token.text == ":" || token.text == "@" || token.text == "$":
                throw SyncStorageError(.invalidPolicy, "parameters (\(token.text)) are not allowed in a policy")
            case .identifier, .quotedIdentifier:
                let dot = significant(after: index)
                let isQualifier = dot.map { tokens[$0].text == "." } ?? false
                if isQualifier, token.kind == .identifier, let image = RowImage(rawValue: token.text.uppercased()),
                   let dotIndex = dot, let columnIndex = significant(after: dotIndex),
                   tokens[columnIndex].kind == .identifier || tokens[columnIndex].kind == .quotedIdentifier {
                    let reference = Reference(image: image, column: tokens[columnIndex].name)
                    references.append(reference)
                    output += placeholder(firstParameter + references.count - 1, reference)
                    index = columnIndex + 1
                    continue
                }
                if !isQualifier { names.insert(token.name.lowercased()) }
            default:
                break
            }
            output += token.text
            index += 1
        }
        guard depth == 0 else { throw SyncStorageError(.invalidPolicy, "unbalanced '(' in the expression") }
        self.rewritten = output
        self.references = references
        self.names = names
    }

    // MARK: Tokens

    struct Token: Equatable {
        enum Kind: Equatable {
            case space, identifier, quotedIdentifier, string, number, punctuation
        }
        var kind: Kind
        var text: String

        /// An identifier's name: unquoted as written, quoted ones without their quotes.
        var name: String {
            guard kind == .quotedIdentifier, let first = text.first else { return text }
            let close: Character = first == "[" ? "]" : first
            let inner = text.dropFirst().dropLast()
            return first == "[" ? String(inner) : inner.replacingOccurrences(of: String([close, close]), with: String(close))
        }
    }

    /// Splits SQL text into tokens; comments become spaces.
    static func tokenize(_ text: String) throws(SyncStorageError) -> [Token] {
        let characters = Array(text)
        var tokens: [Token] = []
        var index = 0
        func isIdentifierStart(_ c: Character) -> Bool { c == "_" || c.isLetter }
        func isIdentifierPart(_ c: Character) -> Bool { c == "_" || c == "$" || c.isLetter || c.isNumber }
        while index < characters.count {
            let c = characters[index]
            let start = index
            if c.isWhitespace {
                while index < characters.count, characters[index].isWhitespace { index += 1 }
                tokens.append(Token(kind: .space, text: " "))
            } else if c == "-", index + 1 < characters.count, characters[index + 1] == "-" {
                while index < characters.count, characters[index] != "\n" { index += 1 }
                tokens.append(Token(kind: .space, text: " "))
            } else if c == "/", index + 1 < characters.count, characters[index + 1] == "*" {
                index += 2
                while index + 1 < characters.count, !(characters[index] == "*" && characters[index + 1] == "/") { index += 1 }
                guard index + 1 < characters.count else { throw SyncStorageError(.invalidPolicy, "unterminated /* comment") }
                index += 2
                tokens.append(Token(kind: .space, text: " "))
            } else if c == "'" || c == "\"" || c == "`" || c == "[" {
                let close: Character = c == "[" ? "]" : c
                index += 1
                while true {
                    guard index < characters.count else {
                        throw SyncStorageError(.invalidPolicy, c == "'" ? "unterminated string literal" : "unterminated quoted identifier")
                    }
                    if characters[index] == close {
                        // A doubled quote stands for itself (not in [brackets]).
                        if c != "[", index + 1 < characters.count, characters[index + 1] == close {
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    index += 1
                }
                tokens.append(Token(kind: c == "'" ? .string : .quotedIdentifier, text: String(characters[start..<index])))
            } else if (c == "x" || c == "X"), index + 1 < characters.count, characters[index + 1] == "'" {
                index += 2
                while index < characters.count, characters[index] != "'" { index += 1 }
                guard index < characters.count else { throw SyncStorageError(.invalidPolicy, "unterminated blob literal") }
                index += 1
                tokens.append(Token(kind: .string, text: String(characters[start..<index])))
            } else if isIdentifierStart(c) {
                while index < characters.count, isIdentifierPart(characters[index]) { index += 1 }
                tokens.append(Token(kind: .identifier, text: String(characters[start..<index])))
            } else if c.isNumber || (c == "." && index + 1 < characters.count && characters[index + 1].isNumber) {
                while index < characters.count, characters[index].isNumber || characters[index].isLetter || characters[index] == "." { index += 1 }
                tokens.append(Token(kind: .number, text: String(characters[start..<index])))
            } else {
                index += 1
                tokens.append(Token(kind: .punctuation, text: String(c)))
            }
        }
        return tokens
    }
}
