/// The text of a block column as blocks, and what a local edit changes (block-text.md §3, §6).
/// Pure: `SyncContext+BlockText` reads the stored blocks and writes what this decides.
enum BlockDiff {
    /// One alive block: its position key and text.
    struct Block: Equatable {
        var key: [UInt8]
        var text: [UInt8]
    }

    /// What an edit writes, in emission order (each takes the next `seq`).
    enum Emission: Equatable {
        case added(Block)
        case removed(key: [UInt8])
    }

    /// `text` split at every non-overlapping occurrence of `delimiter`, left to right; empty
    /// blocks are kept. An empty delimiter makes the whole text one block.
    static func split(_ text: [UInt8], delimiter: [UInt8]) -> [[UInt8]] {
        guard !delimiter.isEmpty, text.count >= delimiter.count else { return [text] }
        var blocks: [[UInt8]] = []
        var start = 0
        var index = 0
        let first = delimiter[0]
        while index + delimiter.count <= text.count {
            if text[index] == first && text[index..<(index + delimiter.count)].elementsEqual(delimiter) {
                blocks.append(Array(text[start..<index]))
                index += delimiter.count
                start = index
            } else {
                index += 1
            }
        }
        blocks.append(Array(text[start...]))
        return blocks
    }

    /// The blocks of a new text: keys `a0, a1, …` as 1.x gives them.
    static func initialBlocks(_ texts: [[UInt8]]) -> [Block] {
        var key = Array("a0".utf8)
        var blocks: [Block] = []
        for (index, text) in texts.enumerated() {
            if index > 0 { key = FractionalIndex.increment(key) ?? FractionalIndex.between(key, nil) ?? key + [UInt8(ascii: "V")] }
            blocks.append(Block(key: key, text: text))
        }
        return blocks
    }

    /// The emissions turning `old` (alive blocks in key order) into `new` (block texts), by
    /// 1.x's diff.
    ///
    /// Keys follow 1.x, with one difference: a block inserted where nothing was removed (a
    /// run of additions between two kept blocks with no removal among them) gets its 1.x key
    /// extended by `insertSuffix` (this replica's site digits). Two replicas inserting at the
    /// same place then make different keys and both lines survive, while an edited line (a
    /// removal and an addition in one run) keeps 1.x's key, so two edits of one line still
    /// meet in one cell and resolve to one winner as in 1.x.
    static func diff(old: [Block], new: [[UInt8]], insertSuffix: [UInt8]?) throws(CloudSyncError) -> [Emission] {
        enum Step { case kept(Int), removed(Int), added(Int, next: Int?) }
        var steps: [Step] = []
        var position = 0
        for (index, text) in new.enumerated() {
            if let found = old[position...].firstIndex(where: { $0.text == text }) {
                for removed in position..<found { steps.append(.removed(removed)) }
                steps.append(.kept(found))
                position = found + 1
            } else {
                steps.append(.added(index, next: position < old.count ? position : nil))
            }
        }
        for removed in position..<old.count { steps.append(.removed(removed)) }

        // Which runs between kept blocks remove something.
        var runRemoves: [Bool] = []
        var current = false
        for step in steps {
            switch step {
            case .kept: runRemoves.append(current); current = false
            case .removed: current = true
            case .added: break
            }
        }
        runRemoves.append(current)

        var emissions: [Emission] = []
        var last: [UInt8]? = nil
        var run = 0
        for step in steps {
            switch step {
            case .kept(let index):
                last = old[index].key
                run += 1
            case .removed(let index):
                emissions.append(.removed(key: old[index].key))
            case .added(let index, let next):
                let upper = next.map { old[$0].key }
                guard var key = FractionalIndex.between(last, upper) else {
                    throw CloudSyncError(.misuse, "no block position fits between \(String(decoding: last ?? [], as: UTF8.self)) and \(String(decoding: upper ?? [], as: UTF8.self)): the stored block keys are not valid fractional-index keys")
                }
                if let insertSuffix, !runRemoves[run] {
                    key = FractionalIndex.extend(key, by: insertSuffix, below: upper)
                }
                emissions.append(.added(Block(key: key, text: new[index])))
                last = key
            }
        }
        return emissions
    }
}
