// CritBitTreeTests.swift — LANACoreTests
//
// Focused edge-case tests for CritBitTree, plus a randomized model test that
// runs mixed operations against Dictionary<[UInt8], Int> with adversarial
// keys (shared long prefixes, the empty key, keys that are prefixes of each
// other, 0x00/0xFF runs, keys one bit apart). The model test is driven by a
// seeded SplitMix64, and every failure message names the seed and operation.

import XCTest
#if DEBUG
@testable import LANACore
#else
import LANACore
#endif

// MARK: - Helpers

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, seedable, and fully
/// specified here, so a failing seed reproduces on any toolchain.
private struct CritBitSplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound` (modulo bias is irrelevant here).
    mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    mutating func chance(_ numerator: Int, in denominator: Int) -> Bool {
        below(denominator) < numerator
    }

    /// Fisher-Yates, so the order depends on nothing but the seed.
    mutating func shuffled<T>(_ elements: [T]) -> [T] {
        var result = elements
        for i in result.indices.dropLast() {
            result.swapAt(i, i + below(result.count - i))
        }
        return result
    }
}

private func critBitSortedKeys<S: Sequence>(_ keys: S) -> [[UInt8]] where S.Element == [UInt8] {
    keys.sorted { $0.lexicographicallyPrecedes($1) }
}

private func critBitKeys(_ tree: CritBitTree<Int>) -> [[UInt8]] {
    tree.map(\.key)
}

private func utf8Bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

extension CritBitTree {
    /// Runs the tree's internal structural checks where they are compiled in.
    fileprivate func critBitVerifyStructure() {
        #if DEBUG
        _checkInvariants()
        #endif
    }
}

private final class CritBitToken {}

// MARK: - Focused tests

final class CritBitTreeTests: XCTestCase {
    func testEmptyTree() {
        var tree = CritBitTree<Int>()
        XCTAssertEqual(tree.count, 0)
        XCTAssertTrue(tree.isEmpty)
        XCTAssertNil(tree.lookup([]))
        XCTAssertNil(tree[[1]])
        XCTAssertFalse(tree.contains([]))
        XCTAssertNil(tree.first)
        XCTAssertNil(tree.last)
        XCTAssertTrue(critBitKeys(tree).isEmpty)
        XCTAssertNil(tree.longestPrefix(of: [1, 2]))
        XCTAssertNil(tree.shortestPrefix(of: []))
        XCTAssertTrue(Array(tree.elements(withPrefix: [])).isEmpty)
        XCTAssertNil(tree.remove([]))
        XCTAssertNil(tree.remove("x"))
        XCTAssertTrue(tree.isEmpty)
        tree.critBitVerifyStructure()
    }

    func testSingleKey() {
        var tree = CritBitTree<Int>()
        XCTAssertTrue(tree.insert([1, 2, 3], 10))
        XCTAssertEqual(tree.count, 1)
        XCTAssertFalse(tree.isEmpty)
        XCTAssertEqual(tree.lookup([1, 2, 3]), 10)
        XCTAssertNil(tree.lookup([1, 2]))
        XCTAssertNil(tree.lookup([1, 2, 3, 0]))
        XCTAssertNil(tree.lookup([1, 2, 2]))
        XCTAssertEqual(tree.first?.key, [1, 2, 3])
        XCTAssertEqual(tree.last?.value, 10)

        XCTAssertFalse(tree.insert([1, 2, 3], 99), "insert must not replace")
        XCTAssertEqual(tree[[1, 2, 3]], 10)
        XCTAssertEqual(tree.updateValue(11, forKey: [1, 2, 3]), 10)
        XCTAssertEqual(tree[[1, 2, 3]], 11)
        XCTAssertEqual(tree.count, 1)

        XCTAssertEqual(tree.longestPrefix(of: [1, 2, 3, 4])?.key, [1, 2, 3])
        XCTAssertEqual(tree.shortestPrefix(of: [1, 2, 3])?.value, 11)
        XCTAssertNil(tree.longestPrefix(of: [1, 2]))
        XCTAssertNil(tree.longestPrefix(of: [1, 2, 4, 5]))
        XCTAssertEqual(tree.elements(withPrefix: [1]).map(\.key), [[1, 2, 3]])
        XCTAssertEqual(tree.elements(withPrefix: [1, 2, 3]).map(\.key), [[1, 2, 3]])
        XCTAssertTrue(Array(tree.elements(withPrefix: [1, 3])).isEmpty)
        XCTAssertTrue(Array(tree.elements(withPrefix: [1, 2, 3, 4])).isEmpty)

        XCTAssertEqual(tree.remove([1, 2, 3]), 11)
        XCTAssertTrue(tree.isEmpty)
        XCTAssertNil(tree.first)
        tree.critBitVerifyStructure()
    }

    func testEmptyKey() {
        var tree = CritBitTree<Int>()
        tree[[]] = 0
        tree[[0]] = 1
        tree[[0xFF]] = 2
        tree[[0, 0]] = 3
        tree.critBitVerifyStructure()
        XCTAssertEqual(tree.count, 4)
        XCTAssertEqual(tree.lookup([]), 0)
        XCTAssertEqual(tree[""], 0)
        XCTAssertEqual(tree.first?.key, [])
        XCTAssertEqual(critBitKeys(tree), [[], [0], [0, 0], [0xFF]])
        // The empty key is a prefix of everything.
        XCTAssertEqual(tree.shortestPrefix(of: [0xFF, 7])?.key, [])
        XCTAssertEqual(tree.longestPrefix(of: [0xFF, 7])?.key, [0xFF])
        XCTAssertEqual(tree.longestPrefix(of: [7])?.key, [])
        XCTAssertEqual(tree.longestPrefix(of: [])?.key, [])
        XCTAssertEqual(tree.elements(withPrefix: []).map(\.key), [[], [0], [0, 0], [0xFF]])

        XCTAssertEqual(tree.remove([]), 0)
        XCTAssertNil(tree.lookup([]))
        XCTAssertEqual(tree.count, 3)
        XCTAssertNil(tree.longestPrefix(of: [7]))
        XCTAssertEqual(tree.first?.key, [0])
        tree.critBitVerifyStructure()
    }

    func testPrefixKeysSortBeforeExtensions() {
        // Expected order written out by hand rather than computed.
        let expected: [[UInt8]] = [
            [], [0x00], [0x00, 0x00], [0x00, 0x00, 0x00], [0x00, 0x01], [0x00, 0xFF],
            [0x01], [0x7F, 0xFF], [0x80], [0xFF], [0xFF, 0x00], [0xFF, 0xFF], [0xFF, 0xFF, 0xFF],
        ]
        for order in [expected, Array(expected.reversed()), [6, 0, 12, 3, 9, 1, 11, 4, 8, 2, 10, 5, 7].map { expected[$0] }] {
            var tree = CritBitTree<Int>()
            for (i, key) in order.enumerated() { XCTAssertTrue(tree.insert(key, i)) }
            tree.critBitVerifyStructure()
            XCTAssertEqual(critBitKeys(tree), expected)
            XCTAssertEqual(tree.first?.key, [])
            XCTAssertEqual(tree.last?.key, [0xFF, 0xFF, 0xFF])
            for (i, key) in order.enumerated() { XCTAssertEqual(tree[key], i) }
        }
    }

    func testKeysDifferingOnlyInLastBit() {
        var tree = CritBitTree<Int>()
        let pairs: [([UInt8], [UInt8])] = [
            ([0x10, 0x00], [0x10, 0x01]), ([0xFE], [0xFF]),
            ([0x41, 0x41, 0x80], [0x41, 0x41, 0x81]), ([0x00], [0x01]),
        ]
        var value = 0
        for (a, b) in pairs {
            tree[a] = value
            tree[b] = value + 1
            value += 2
        }
        tree.critBitVerifyStructure()
        XCTAssertEqual(tree.count, 8)
        value = 0
        for (a, b) in pairs {
            XCTAssertEqual(tree[a], value)
            XCTAssertEqual(tree[b], value + 1)
            XCTAssertEqual(tree.remove(a), value)
            XCTAssertNil(tree[a])
            XCTAssertEqual(tree[b], value + 1, "removing a key must not disturb its one-bit neighbour")
            value += 2
        }
        XCTAssertEqual(critBitKeys(tree), [[0x01], [0x10, 0x01], [0x41, 0x41, 0x81], [0xFF]])
    }

    func testLongestAndShortestPrefix() {
        var tree = CritBitTree<Int>()
        for (i, key) in ["a", "ab", "abc", "abd", "b", "abcdef"].enumerated() { tree.insert(key, i) }
        XCTAssertEqual(tree.longestPrefix(of: "abcde")?.key, utf8Bytes("abc"))
        XCTAssertEqual(tree.longestPrefix(of: "abcdef")?.key, utf8Bytes("abcdef"))
        XCTAssertEqual(tree.longestPrefix(of: "abcdefg")?.value, 5)
        XCTAssertEqual(tree.longestPrefix(of: "abx")?.key, utf8Bytes("ab"))
        XCTAssertEqual(tree.longestPrefix(of: "ab")?.key, utf8Bytes("ab"))
        XCTAssertEqual(tree.longestPrefix(of: "a")?.key, utf8Bytes("a"))
        XCTAssertNil(tree.longestPrefix(of: ""))
        XCTAssertNil(tree.longestPrefix(of: "c"))
        XCTAssertNil(tree.longestPrefix(of: "Abc"))
        XCTAssertEqual(tree.shortestPrefix(of: "abcdef")?.key, utf8Bytes("a"))
        XCTAssertEqual(tree.shortestPrefix(of: [0x61, 0x62, 0x00])?.key, utf8Bytes("a"))
        XCTAssertEqual(tree.shortestPrefix(of: "bcd")?.value, 4)
        XCTAssertNil(tree.shortestPrefix(of: "c"))

        tree.remove("a")
        XCTAssertEqual(tree.shortestPrefix(of: "abcdef")?.key, utf8Bytes("ab"))
        XCTAssertNil(tree.longestPrefix(of: "a"))
        tree.insert("", 9)
        XCTAssertEqual(tree.shortestPrefix(of: "abcdef")?.key, [])
        XCTAssertEqual(tree.longestPrefix(of: "c")?.value, 9)
        XCTAssertEqual(tree.longestPrefix(of: "abd/x")?.key, utf8Bytes("abd"))
    }

    func testElementsWithPrefix() {
        var tree = CritBitTree<Int>()
        let names = ["eth0", "eth0/rx", "eth0/tx", "eth1", "lo", "eth0/rx/q0", "e"]
        for (i, name) in names.enumerated() { tree.insert(name, i) }
        tree.critBitVerifyStructure()
        func matching(_ prefix: String) -> [String] {
            tree.elements(withPrefix: prefix).map { String(decoding: $0.key, as: UTF8.self) }
        }
        XCTAssertEqual(matching("eth0"), ["eth0", "eth0/rx", "eth0/rx/q0", "eth0/tx"])
        XCTAssertEqual(matching("eth0/"), ["eth0/rx", "eth0/rx/q0", "eth0/tx"])
        XCTAssertEqual(matching("eth"), ["eth0", "eth0/rx", "eth0/rx/q0", "eth0/tx", "eth1"])
        XCTAssertEqual(matching("e"), ["e", "eth0", "eth0/rx", "eth0/rx/q0", "eth0/tx", "eth1"])
        XCTAssertEqual(matching("").count, 7)
        XCTAssertEqual(matching("lo"), ["lo"])
        XCTAssertEqual(matching("eth0/rx/q0/z"), [])
        XCTAssertEqual(matching("x"), [])
        XCTAssertEqual(matching("eth2"), [])
        XCTAssertEqual(tree.elements(withPrefix: utf8Bytes("eth0/t")).map(\.value), [2])
    }

    func testRemoveDownToEmptyAndReuse() {
        var tree = CritBitTree<Int>()
        var rng = CritBitSplitMix64(state: 42)
        var all: [[UInt8]] = []
        for i in 0..<200 {
            let key = (0..<rng.below(6)).map { _ in UInt8(truncatingIfNeeded: rng.next()) & 0x81 }
            if tree.insert(key, i) { all.append(key) }
        }
        XCTAssertEqual(tree.count, all.count)
        for (n, key) in all.enumerated().reversed() {
            XCTAssertNotNil(tree.remove(key))
            XCTAssertNil(tree.remove(key), "a second remove must find nothing")
            XCTAssertFalse(tree.contains(key))
            XCTAssertEqual(tree.count, n)
            if n % 16 == 0 { tree.critBitVerifyStructure() }
        }
        XCTAssertTrue(tree.isEmpty)
        XCTAssertNil(tree.first)
        XCTAssertNil(tree.last)
        XCTAssertTrue(critBitKeys(tree).isEmpty)
        // The emptied tree is fully usable again.
        tree[[5]] = 5
        tree[[]] = 0
        XCTAssertEqual(critBitKeys(tree), [[], [5]])
        tree.critBitVerifyStructure()
    }

    func testCopyOnWrite() {
        var original = CritBitTree<Int>()
        for (i, key) in ["a", "ab", "b", "c"].enumerated() { original.insert(key, i) }
        let before = original.map { ($0.key, $0.value) }

        var copy = original
        copy.insert("d", 4)
        copy.updateValue(100, forKey: "a")
        copy.remove("b")
        copy["ab"] = nil
        XCTAssertFalse(copy.insert("c", 7))
        XCTAssertEqual(original.count, 4)
        XCTAssertEqual(original["a"], 0)
        XCTAssertEqual(original["b"], 2)
        XCTAssertEqual(original["ab"], 1)
        XCTAssertNil(original["d"])
        XCTAssertTrue(original.elementsEqual(before) { $0.key == $1.0 && $0.value == $1.1 })
        XCTAssertEqual(copy.map(\.key), [utf8Bytes("a"), utf8Bytes("c"), utf8Bytes("d")])
        XCTAssertEqual(copy["a"], 100)

        // And the other way round, including removeAll.
        var second = original
        original.removeAll()
        XCTAssertTrue(original.isEmpty)
        XCTAssertEqual(second.count, 4)
        XCTAssertEqual(second.remove("c"), 3)
        XCTAssertEqual(copy["c"], 3, "copies made earlier must not see later removals")
        original.critBitVerifyStructure()
        second.critBitVerifyStructure()
        copy.critBitVerifyStructure()
    }

    func testMutatingWhileIterating() {
        var tree = CritBitTree<Int>()
        for i in 0..<50 { tree.insert([UInt8(i), UInt8(i)], i) }
        var seen: [Int] = []
        for (key, value) in tree {
            seen.append(value)
            tree.remove(key)
            tree.insert([0xFF, UInt8(value)], value)  // would be visited if iteration saw mutations
        }
        XCTAssertEqual(seen, Array(0..<50))
        XCTAssertEqual(tree.count, 50)
        XCTAssertEqual(tree.first?.key, [0xFF, 0])
    }

    func testStringOverloadsUseUTF8() {
        var tree = CritBitTree<String>()
        XCTAssertTrue(tree.insert("é", "e-acute"))
        XCTAssertEqual(tree.lookup([0xC3, 0xA9]), "e-acute")
        XCTAssertTrue(tree.contains("é"))
        XCTAssertFalse(tree.contains("e"))
        tree["a\u{0}b"] = "nul"
        XCTAssertEqual(tree[[0x61, 0x00, 0x62]], "nul")
        XCTAssertNil(tree.updateValue("x", forKey: "x"))
        XCTAssertEqual(tree.updateValue("y", forKey: "x"), "x")
        XCTAssertEqual(tree.longestPrefix(of: "éclair")?.value, "e-acute")
        XCTAssertEqual(tree.shortestPrefix(of: "a\u{0}bc")?.value, "nul")
        XCTAssertEqual(tree.elements(withPrefix: "a").map(\.value), ["nul"])
        XCTAssertEqual(tree.remove("é"), "e-acute")
        XCTAssertNil(tree.remove("é"))
        tree["x"] = nil
        XCTAssertEqual(tree.map(\.key), [[0x61, 0x00, 0x62]])
        // A substring-backed String exercises the UTF-8 path on another buffer.
        let long = "prefix-" + String(repeating: "z", count: 40)
        tree[String(long.dropFirst(7))] = "zs"
        XCTAssertEqual(tree.lookup(Array(repeating: UInt8(ascii: "z"), count: 40)), "zs")
    }

    func testRemovedAndReplacedValuesAreReleased() {
        var tree = CritBitTree<CritBitToken>()
        weak var removed: CritBitToken?
        weak var replaced: CritBitToken?
        weak var cleared: CritBitToken?
        do {
            let a = CritBitToken(), b = CritBitToken(), c = CritBitToken()
            removed = a
            replaced = b
            cleared = c
            tree["a"] = a
            tree["b"] = b
            tree["c"] = c
            tree["d"] = CritBitToken()
        }
        XCTAssertNotNil(removed)
        tree.remove("a")
        XCTAssertNil(removed, "a removed leaf slot must not keep its value alive")
        XCTAssertNotNil(replaced)
        tree.updateValue(CritBitToken(), forKey: "b")
        XCTAssertNil(replaced)
        XCTAssertNotNil(cleared)
        tree.removeAll()
        XCTAssertNil(cleared)
    }

    func testSendableWhenValueIsSendable() async {
        var tree = CritBitTree<Int>()
        tree["k"] = 1
        let snapshot = tree
        let value = await Task.detached { snapshot["k"] }.value
        XCTAssertEqual(value, 1)
    }

    /// Every key of length <= 3 over a four-symbol alphabet with the extreme
    /// bytes, in shuffled order; every query checked against brute force.
    func testExhaustiveSmallAlphabet() {
        let alphabet: [UInt8] = [0x00, 0x01, 0xFE, 0xFF]
        var universe: [[UInt8]] = [[]]
        var frontier: [[UInt8]] = [[]]
        for _ in 0..<3 {
            frontier = frontier.flatMap { key in alphabet.map { key + [$0] } }
            universe += frontier
        }
        XCTAssertEqual(universe.count, 85)
        var queries = universe
        for key in frontier { queries.append(key + [0x00]); queries.append(key + [0x80, 0xFF]) }

        var rng = CritBitSplitMix64(state: 0xC0FFEE)
        for round in 0..<4 {
            // Insert a random subset in random order.
            var tree = CritBitTree<Int>()
            var model: [[UInt8]: Int] = [:]
            for key in rng.shuffled(universe) where rng.chance(round + 1, in: 4) {
                tree.insert(key, model.count)
                model[key] = model.count
            }
            tree.critBitVerifyStructure()
            XCTAssertEqual(critBitKeys(tree), critBitSortedKeys(model.keys))
            checkQueries(tree, model, queries, context: "round \(round)")
            // Remove in random order, checking as we go.
            for (n, key) in rng.shuffled(critBitSortedKeys(model.keys)).enumerated() {
                XCTAssertEqual(tree.remove(key), model.removeValue(forKey: key))
                if n % 7 == 0 {
                    tree.critBitVerifyStructure()
                    checkQueries(tree, model, queries, context: "round \(round) removal \(n)")
                }
            }
            XCTAssertTrue(tree.isEmpty)
        }
    }

    private func checkQueries(_ tree: CritBitTree<Int>, _ model: [[UInt8]: Int], _ queries: [[UInt8]], context: String) {
        let sorted = critBitSortedKeys(model.keys)
        for query in queries {
            let prefixes = (0...query.count).map { Array(query[..<$0]) }.filter { model[$0] != nil }
            XCTAssertEqual(tree.longestPrefix(of: query)?.key, prefixes.last, "\(context) longest \(query)")
            XCTAssertEqual(tree.shortestPrefix(of: query)?.key, prefixes.first, "\(context) shortest \(query)")
            XCTAssertEqual(tree.elements(withPrefix: query).map(\.key), sorted.filter { $0.starts(with: query) },
                           "\(context) withPrefix \(query)")
        }
    }
}

// MARK: - Randomized model test

final class CritBitTreeModelTests: XCTestCase {
    /// Total operations: seeds.count * operationsPerSeed.
    static let seeds: [UInt64] = [0x5EED_0000_0000_0001, 0x0BAD_CAFE_F00D_D00D, 0x0123_4567_89AB_CDEF]
    static let operationsPerSeed = 40_000
    static let checkEvery = 1_000

    func testRandomizedAgainstDictionary() {
        var totals = CritBitModelRun.Totals()
        for seed in Self.seeds {
            // Printed first so that a trap in the tree's internal checks
            // still leaves the seed in the log.
            print("CritBitTree model test: seed 0x\(String(seed, radix: 16))")
            var run = CritBitModelRun(seed: seed)
            run.run(operations: Self.operationsPerSeed, checkEvery: Self.checkEvery)
            totals.add(run.totals)
            if run.failed { return }
        }
        print("CritBitTree model test: \(totals.operations) operations, max size \(totals.maxSize), "
              + "mean size \(totals.sizeSum / max(totals.operations, 1)), "
              + "\(totals.hits) hits, \(totals.emptied) times emptied, \(totals.prefixHits) non-empty prefix queries")
        // Guard against a vacuous run: the workload must actually exercise the tree.
        XCTAssertGreaterThanOrEqual(totals.operations, 100_000)
        XCTAssertGreaterThan(totals.hits, totals.operations / 5, "most operations should hit existing keys")
        XCTAssertGreaterThan(totals.maxSize, 500)
        XCTAssertGreaterThan(totals.sizeSum / totals.operations, 100)
        XCTAssertGreaterThan(totals.emptied, 2, "the run should shrink the tree to empty repeatedly")
        XCTAssertGreaterThan(totals.prefixHits, 1_000, "prefix queries should often match something")
    }
}

/// One seeded run of mixed operations against a Dictionary model.
private struct CritBitModelRun {
    struct Totals {
        var operations = 0, hits = 0, maxSize = 0, emptied = 0, prefixHits = 0, sizeSum = 0
        mutating func add(_ other: Totals) {
            operations += other.operations
            hits += other.hits
            maxSize = max(maxSize, other.maxSize)
            emptied += other.emptied
            prefixHits += other.prefixHits
            sizeSum += other.sizeSum
        }
    }

    let seed: UInt64
    var rng: CritBitSplitMix64
    var tree = CritBitTree<Int>()
    var model: [[UInt8]: Int] = [:]
    /// The model's keys, for picking existing keys in O(1).
    var live: [[UInt8]] = []
    var livePosition: [[UInt8]: Int] = [:]
    /// Keys seen so far, to derive prefixes, extensions and near misses from.
    var pool: [[UInt8]] = []
    /// A copy of the tree taken at some earlier point, with the model's
    /// entries in key order at that point (copy-on-write check).
    var snapshot: (tree: CritBitTree<Int>, keys: [[UInt8]], values: [Int])?
    var totals = Totals()
    var op = 0
    var currentKey: [UInt8] = []
    var failed = false

    /// 64 bytes shared by many keys, with the extreme byte values inside it.
    static let longPrefix: [UInt8] = (0..<64).map { i in [0x00, 0xFF, 0x2F, 0x80][i % 4] ^ UInt8(i / 4 % 2) }
    static let smallAlphabet: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]

    init(seed: UInt64) {
        self.seed = seed
        rng = CritBitSplitMix64(state: seed)
    }

    var context: String {
        "seed 0x\(String(seed, radix: 16)) op #\(op) (tree size \(model.count))"
    }

    // MARK: Keys

    mutating func randomKey() -> [UInt8] {
        let key: [UInt8]
        switch rng.below(13) {
        case 0:
            key = []
        case 1, 2:
            key = (0..<rng.below(6)).map { _ in Self.smallAlphabet[rng.below(Self.smallAlphabet.count)] }
        case 3:
            let cut = 56 + rng.below(9)
            key = Array(Self.longPrefix[..<cut])
                + (0..<rng.below(4)).map { _ in Self.smallAlphabet[rng.below(Self.smallAlphabet.count)] }
        case 4:
            key = [UInt8](repeating: rng.chance(1, in: 2) ? 0x00 : 0xFF, count: rng.below(9))
        case 5:
            key = (0..<rng.below(12)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case 6:  // one bit away from a known key, usually in the last byte
            var base = poolKey()
            if base.isEmpty { base = [0x00] }
            let at = rng.chance(3, in: 4) ? base.count - 1 : rng.below(base.count)
            base[at] ^= rng.chance(3, in: 4) ? 1 : UInt8(1) << UInt8(rng.below(8))
            key = base
        case 7:  // a prefix of a known key
            let base = poolKey()
            key = Array(base[..<rng.below(base.count + 1)])
        case 8:  // an extension of a known key
            key = poolKey() + (0..<1 + rng.below(2)).map { _ in [0x00, 0xFF, UInt8(truncatingIfNeeded: rng.next())][rng.below(3)] }
        default:  // a key in the tree, or at least seen before
            key = !live.isEmpty && rng.chance(3, in: 4) ? live[rng.below(live.count)] : poolKey()
        }
        if pool.count < 4_096 { pool.append(key) } else { pool[rng.below(pool.count)] = key }
        return key
    }

    mutating func poolKey() -> [UInt8] {
        pool.isEmpty ? [] : pool[rng.below(pool.count)]
    }

    // MARK: Model bookkeeping

    mutating func modelSet(_ key: [UInt8], _ value: Int) {
        if model.updateValue(value, forKey: key) == nil {
            livePosition[key] = live.count
            live.append(key)
        }
        totals.maxSize = max(totals.maxSize, model.count)
    }

    @discardableResult
    mutating func modelRemove(_ key: [UInt8]) -> Int? {
        guard let old = model.removeValue(forKey: key) else { return nil }
        let position = livePosition.removeValue(forKey: key)!
        let moved = live.removeLast()
        if position < live.count {
            live[position] = moved
            livePosition[moved] = position
        }
        if model.isEmpty { totals.emptied += 1 }
        return old
    }

    // MARK: Operations

    mutating func run(operations: Int, checkEvery: Int) {
        // Alternate growth phases with shrink phases that run until the tree
        // is empty, so both large trees and the way down to empty get tested.
        var growing = true
        var phaseStart = 0
        for index in 0..<operations {
            op = index
            if growing && index - phaseStart >= 8_000 {
                growing = false
            } else if !growing && model.isEmpty {
                growing = true
                phaseStart = index
            }
            step(growing: growing)
            totals.operations += 1
            totals.sizeSum += model.count
            if index % checkEvery == checkEvery - 1 { checkEverything() }
            if failed { return }
            if index % 7_000 == 3_500 {
                let keys = critBitSortedKeys(model.keys)
                snapshot = (tree, keys, keys.map { model[$0]! })
            }
        }
        checkEverything()
    }

    /// Compares `actual` with `expected`; on a mismatch reports the seed,
    /// operation and key, and stops the run so one bug gives one failure.
    mutating func expect<T: Equatable>(
        _ actual: T, _ expected: T, _ what: @autoclosure () -> String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        guard actual != expected else { return }
        failed = true
        XCTFail("\(what()): got \(actual), expected \(expected) — \(context) key \(currentKey)"
                + " (reproduce by running only this seed)", file: file, line: line)
    }

    mutating func step(growing: Bool) {
        let shrinkingRemove = !growing && !live.isEmpty && rng.chance(1, in: 2)
        let key = shrinkingRemove ? live[rng.below(live.count)] : randomKey()
        currentKey = key
        let value = Int(truncatingIfNeeded: rng.next() & 0xFFFF_FFFF)
        if model[key] != nil { totals.hits += 1 }
        // String overloads are exercised for keys that survive a UTF-8 round trip.
        let asString = String(decoding: key, as: UTF8.self)
        let useString = Array(asString.utf8) == key && rng.chance(1, in: 3)

        switch shrinkingRemove ? 0 : rng.below(growing ? 10 : 14) {
        case 0, 10, 11, 12:
            let removed = useString ? tree.remove(asString) : tree.remove(key)
            expect(removed, modelRemove(key), "remove")
        case 13:
            useString ? (tree[asString] = nil) : (tree[key] = nil)
            modelRemove(key)
        case 1, 2:
            let expected = model[key] == nil
            let inserted = useString ? tree.insert(asString, value) : tree.insert(key, value)
            expect(inserted, expected, "insert")
            if expected { modelSet(key, value) }
            expect(tree.lookup(key), model[key], "value after insert")
        case 3, 4:
            let replaced = useString ? tree.updateValue(value, forKey: asString) : tree.updateValue(value, forKey: key)
            expect(replaced, model[key], "updateValue")
            modelSet(key, value)
        case 5:
            useString ? (tree[asString] = value) : (tree[key] = value)
            modelSet(key, value)
        case 6, 7:
            expect(useString ? tree.lookup(asString) : tree.lookup(key), model[key], "lookup")
            expect(useString ? tree[asString] : tree[key], model[key], "subscript")
        default:
            expect(useString ? tree.contains(asString) : tree.contains(key), model[key] != nil, "contains")
        }
        expect(tree.count, model.count, "count")
    }

    mutating func checkEverything() {
        currentKey = []
        tree.critBitVerifyStructure()
        expect(tree.count, model.count, "count")
        expect(tree.isEmpty, model.isEmpty, "isEmpty")
        let sorted = critBitSortedKeys(model.keys)
        let entries = Array(tree)
        expect(entries.map(\.key), sorted, "ordered keys")
        expect(entries.map(\.value), sorted.map { model[$0]! }, "ordered values")
        expect(tree.first?.key, sorted.first, "first")
        expect(tree.first?.value, sorted.first.map { model[$0]! }, "first value")
        expect(tree.last?.key, sorted.last, "last")
        expect(tree.last?.value, sorted.last.map { model[$0]! }, "last value")

        for _ in 0..<30 where !failed {
            let query = randomKey()
            currentKey = query
            let prefixes = (0...query.count).map { Array(query[..<$0]) }.filter { model[$0] != nil }
            let longest = tree.longestPrefix(of: query)
            expect(longest?.key, prefixes.last, "longestPrefix")
            expect(longest?.value, prefixes.last.map { model[$0]! }, "longestPrefix value")
            let shortest = tree.shortestPrefix(of: query)
            expect(shortest?.key, prefixes.first, "shortestPrefix")
            expect(shortest?.value, prefixes.first.map { model[$0]! }, "shortestPrefix value")
            let expected = sorted.filter { $0.starts(with: query) }
            let found = Array(tree.elements(withPrefix: query))
            expect(found.map(\.key), expected, "elements(withPrefix:)")
            expect(found.map(\.value), expected.map { model[$0]! }, "elements(withPrefix:) values")
            if !expected.isEmpty { totals.prefixHits += 1 }
        }

        if let snapshot {
            expect(snapshot.tree.map(\.key), snapshot.keys, "snapshot keys changed under copy-on-write")
            expect(snapshot.tree.map(\.value), snapshot.values, "snapshot values changed under copy-on-write")
        }
    }
}
