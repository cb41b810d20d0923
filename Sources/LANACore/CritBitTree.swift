// CritBitTree.swift — LANACore
//
// D. J. Bernstein's crit-bit tree (https://cr.yp.to/critbit.html),
// generalised from NUL-terminated C strings to arbitrary byte strings.
// Ordered iteration, first/last and prefix enumeration live in
// CritBitTree+Iteration.swift.

/// An ordered map from byte-string keys to values, stored as a crit-bit tree.
///
/// ## Why a crit-bit tree
///
/// LANA's control plane finds things by name: block instances by their
/// name, block types by their type string, and groups of them by a shared
/// prefix. A crit-bit tree is a binary trie that keeps only the bits at
/// which the stored keys actually differ. Every internal node names one
/// *critical bit* (the first bit position at which the keys below it
/// disagree) and has exactly two children; every leaf holds one key. That
/// gives:
///
/// - lookup, insertion and removal in time proportional to the key length,
///   whatever the number of keys, with one full key comparison each and no
///   hashing or rebalancing;
/// - exactly `count - 1` internal nodes, so memory is predictable;
/// - iteration in lexicographic order, and prefix queries ("every key under
///   `eth0/`", "the longest registered prefix of this name") that visit only
///   the subtree holding the answer.
///
/// ## Arbitrary bytes
///
/// Bernstein's original relies on the NUL terminator: past the end of a key
/// it reads zero bits. Keys here may be empty, may contain `0x00` and `0xFF`,
/// and may be prefixes of one another, so each key position `i` is read as a
/// 9-bit symbol: `0x100 | key[i]` while `i < key.count`, and `0` past the
/// end. The "end" symbol sorts below every real byte, so a key sorts before
/// its extensions, and the tree's left-to-right order is exactly the order
/// of `[UInt8].lexicographicallyPrecedes`.
///
/// ## Value semantics
///
/// Nodes live in arrays inside a reference-counted storage object, linked
/// by index rather than by pointer. Copying a tree is O(1); the first
/// mutation of a shared copy duplicates the storage (copy-on-write), and
/// iterators keep the storage they started on, so mutating a tree while
/// iterating it is safe and the iteration sees the old contents.
public struct CritBitTree<Value> {
    /// An entry of the tree: a key and its value.
    public typealias Element = (key: [UInt8], value: Value)

    var storage: _CritBitStorage<Value>

    /// Creates an empty tree.
    public init() {
        storage = _CritBitStorage()
    }

    /// The number of keys in the tree.
    public var count: Int { storage.count }

    /// Whether the tree holds no keys.
    public var isEmpty: Bool { storage.count == 0 }

    /// The value stored for `key`, or `nil`. Assigning `nil` removes the key.
    public subscript(key: [UInt8]) -> Value? {
        get { lookup(key) }
        set {
            if let newValue { updateValue(newValue, forKey: key) } else { remove(key) }
        }
    }

    /// The value stored for the UTF-8 bytes of `key`, or `nil`.
    /// Assigning `nil` removes the key.
    public subscript(key: String) -> Value? {
        get { lookup(key) }
        set {
            if let newValue { updateValue(newValue, forKey: key) } else { remove(key) }
        }
    }

    /// The value stored for `key`, or `nil` if the key is absent.
    ///
    /// Follows the critical bits of `key` to the one leaf that could hold
    /// it, then compares the whole key once: O(key length).
    public func lookup(_ key: [UInt8]) -> Value? {
        storage.find(key).map { storage.leaves[$0]!.value }
    }

    /// The value stored for the UTF-8 bytes of `key`, or `nil`.
    public func lookup(_ key: String) -> Value? {
        var key = key
        return key.withUTF8 { bytes in storage.find(bytes).map { storage.leaves[$0]!.value } }
    }

    /// Whether `key` is in the tree.
    public func contains(_ key: [UInt8]) -> Bool { storage.find(key) != nil }

    /// Whether the UTF-8 bytes of `key` are in the tree.
    public func contains(_ key: String) -> Bool {
        var key = key
        return key.withUTF8 { storage.find($0) != nil }
    }

    /// Stores `value` for `key`, replacing any value already there, like
    /// `Dictionary.updateValue(_:forKey:)`.
    ///
    /// - Returns: The value that was replaced, or `nil` if `key` is new.
    @discardableResult
    public mutating func updateValue(_ value: Value, forKey key: [UInt8]) -> Value? {
        makeUnique()
        guard let leaf = storage.findOrInsert(key, value) else { return nil }
        let old = storage.leaves[leaf]!.value
        storage.leaves[leaf]!.value = value
        return old
    }

    /// Stores `value` for the UTF-8 bytes of `key`, replacing any value
    /// already there.
    ///
    /// - Returns: The value that was replaced, or `nil` if `key` is new.
    @discardableResult
    public mutating func updateValue(_ value: Value, forKey key: String) -> Value? {
        updateValue(value, forKey: Array(key.utf8))
    }

    /// Stores `value` for `key` only if `key` is not in the tree yet; an
    /// existing value is left untouched.
    ///
    /// - Returns: `true` if the key was inserted, `false` if it was present.
    @discardableResult
    public mutating func insert(_ key: [UInt8], _ value: Value) -> Bool {
        if !isKnownUniquelyReferenced(&storage) {
            // Do not pay for a copy when nothing will change.
            if storage.find(key) != nil { return false }
            storage = _CritBitStorage(copying: storage)
        }
        return storage.findOrInsert(key, value) == nil
    }

    /// Stores `value` for the UTF-8 bytes of `key` only if that key is not
    /// in the tree yet.
    ///
    /// - Returns: `true` if the key was inserted, `false` if it was present.
    @discardableResult
    public mutating func insert(_ key: String, _ value: Value) -> Bool {
        insert(Array(key.utf8), value)
    }

    /// Removes `key` and its value.
    ///
    /// The leaf's parent node is spliced out and its other child takes its
    /// place, so the tree never holds a node that does not split two keys.
    ///
    /// - Returns: The removed value, or `nil` if `key` was absent.
    @discardableResult
    public mutating func remove(_ key: [UInt8]) -> Value? {
        if !isKnownUniquelyReferenced(&storage) {
            if storage.find(key) == nil { return nil }
            storage = _CritBitStorage(copying: storage)
        }
        return storage.remove(key)
    }

    /// Removes the UTF-8 bytes of `key` and its value.
    ///
    /// - Returns: The removed value, or `nil` if `key` was absent.
    @discardableResult
    public mutating func remove(_ key: String) -> Value? {
        var key = key
        return key.withUTF8 { bytes in
            if !isKnownUniquelyReferenced(&storage) {
                if storage.find(bytes) == nil { return nil }
                storage = _CritBitStorage(copying: storage)
            }
            return storage.remove(bytes)
        }
    }

    /// Removes every key. Other copies of the tree are unaffected.
    public mutating func removeAll() {
        storage = _CritBitStorage()
    }

    /// The longest stored key that is a prefix of `query` (including
    /// `query` itself), with its value; `nil` if no stored key is.
    ///
    /// This is longest-prefix match, as in routing tables: one walk down the
    /// path of `query`, one key comparison, and at most one more walk.
    public func longestPrefix(of query: [UInt8]) -> Element? {
        storage.prefixMatch(query, longest: true).map { storage.element($0) }
    }

    /// The longest stored key that is a prefix of the UTF-8 bytes of `query`.
    public func longestPrefix(of query: String) -> Element? {
        var query = query
        return query.withUTF8 { bytes in storage.prefixMatch(bytes, longest: true).map { storage.element($0) } }
    }

    /// The shortest stored key that is a prefix of `query` (including
    /// `query` itself), with its value; `nil` if no stored key is.
    public func shortestPrefix(of query: [UInt8]) -> Element? {
        storage.prefixMatch(query, longest: false).map { storage.element($0) }
    }

    /// The shortest stored key that is a prefix of the UTF-8 bytes of `query`.
    public func shortestPrefix(of query: String) -> Element? {
        var query = query
        return query.withUTF8 { bytes in storage.prefixMatch(bytes, longest: false).map { storage.element($0) } }
    }

    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = _CritBitStorage(copying: storage)
        }
    }
}

extension CritBitTree: Sendable where Value: Sendable {}

// MARK: - Storage

/// A node reference: a branch index (`raw >= 0`) or a leaf index (`~raw`).
struct _CritBitRef: Equatable {
    var raw: Int32
    init(branch index: Int) { raw = Int32(index) }
    init(leaf index: Int) { raw = ~Int32(index) }
    var isLeaf: Bool { raw < 0 }
    var index: Int { raw < 0 ? Int(~raw) : Int(raw) }
}

/// An internal node: the critical bit position and the two subtrees.
/// Keys whose symbol at `byte` has the `mask` bit clear go left.
struct _CritBitBranch {
    var byte: Int
    /// A single bit of the 9-bit symbol (`0x100` is "key ends here or not").
    var mask: UInt16
    var left: _CritBitRef
    var right: _CritBitRef

    subscript(goRight: Bool) -> _CritBitRef {
        get { goRight ? right : left }
        set { if goRight { right = newValue } else { left = newValue } }
    }

    /// Whether this node's critical position comes before (`byte`, `mask`).
    func precedes(byte other: Int, mask otherMask: UInt16) -> Bool {
        byte < other || (byte == other && mask > otherMask)
    }
}

struct _CritBitLeaf<Value> {
    var key: [UInt8]
    var value: Value
}

/// The 9-bit symbol of `key` at position `i`: `0x100 | byte`, or 0 past the end.
@inline(__always)
func _critBitSymbol<K: RandomAccessCollection>(_ key: K, _ i: Int) -> UInt16
where K.Element == UInt8, K.Index == Int {
    i < key.count ? UInt16(key[key.startIndex &+ i]) | 0x100 : 0
}

/// Node arena shared by copies of a tree until one of them mutates.
/// Freed slots are recycled through free lists; a freed leaf slot is `nil`
/// so it does not keep its key or value alive.
final class _CritBitStorage<Value> {
    var root: _CritBitRef?
    var count = 0
    var leaves: [_CritBitLeaf<Value>?] = []
    var branches: [_CritBitBranch] = []
    var freeLeaves: [Int32] = []
    var freeBranches: [Int32] = []

    init() {}

    init(copying other: _CritBitStorage) {
        root = other.root
        count = other.count
        leaves = other.leaves
        branches = other.branches
        freeLeaves = other.freeLeaves
        freeBranches = other.freeBranches
    }

    func element(_ leaf: Int) -> CritBitTree<Value>.Element {
        let entry = leaves[leaf]!
        return (entry.key, entry.value)
    }

    /// Bernstein's walk: follow the critical bits of `key` from `ref` to a
    /// leaf. The leaf agrees with `key` on every bit tested on the way.
    func walk<K: RandomAccessCollection>(_ key: K, from ref: _CritBitRef) -> Int
    where K.Element == UInt8, K.Index == Int {
        var ref = ref
        while !ref.isLeaf {
            let node = branches[ref.index]
            ref = node[_critBitSymbol(key, node.byte) & node.mask != 0]
        }
        return ref.index
    }

    func find<K: RandomAccessCollection>(_ key: K) -> Int?
    where K.Element == UInt8, K.Index == Int {
        guard let root else { return nil }
        let leaf = walk(key, from: root)
        let stored = leaves[leaf]!.key
        return stored.count == key.count && stored.elementsEqual(key) ? leaf : nil
    }

    /// Inserts `key` if absent and returns `nil`; otherwise returns the
    /// index of the leaf already holding it and changes nothing.
    func findOrInsert(_ key: [UInt8], _ value: Value) -> Int? {
        guard let root else {
            self.root = allocateLeaf(key, value)
            count = 1
            return nil
        }
        // 1. Find the critical position between `key` and its best match.
        let best = walk(key, from: root)
        let bestKey = leaves[best]!.key
        let common = Swift.min(key.count, bestKey.count)
        var byte = 0
        while byte < common && key[byte] == bestKey[byte] { byte += 1 }
        let newSymbol = _critBitSymbol(key, byte)
        let difference = newSymbol ^ _critBitSymbol(bestKey, byte)
        if difference == 0 { return best }
        let mask = UInt16(1) << (UInt16.bitWidth - 1 - difference.leadingZeroBitCount)
        let goesRight = newSymbol & mask != 0

        // 2. Walk again to the first node whose position comes after it.
        var parent: Int? = nil
        var parentSide = false
        var slot = root
        while !slot.isLeaf {
            let node = branches[slot.index]
            if !node.precedes(byte: byte, mask: mask) { break }
            parent = slot.index
            parentSide = _critBitSymbol(key, node.byte) & node.mask != 0
            slot = node[parentSide]
        }

        // 3. Splice a new node there: the old subtree on one side, the new leaf on the other.
        let leaf = allocateLeaf(key, value)
        let node = allocateBranch(_CritBitBranch(
            byte: byte, mask: mask,
            left: goesRight ? slot : leaf, right: goesRight ? leaf : slot))
        if let parent { branches[parent][parentSide] = node } else { self.root = node }
        count += 1
        #if LANA_INTERNAL_CHECKS
        if !slot.isLeaf {
            let below = branches[slot.index]
            precondition(!below.precedes(byte: byte, mask: mask) && !(below.byte == byte && below.mask == mask),
                         "CritBitTree: new node must come before its subtree")
        }
        #endif
        return nil
    }

    func remove<K: RandomAccessCollection>(_ key: K) -> Value?
    where K.Element == UInt8, K.Index == Int {
        guard var ref = root else { return nil }
        var parent: Int? = nil, parentSide = false
        var grandparent: Int? = nil, grandparentSide = false
        while !ref.isLeaf {
            grandparent = parent
            grandparentSide = parentSide
            parent = ref.index
            let node = branches[ref.index]
            parentSide = _critBitSymbol(key, node.byte) & node.mask != 0
            ref = node[parentSide]
        }
        let stored = leaves[ref.index]!.key
        guard stored.count == key.count && stored.elementsEqual(key) else { return nil }

        let value = leaves[ref.index]!.value
        count -= 1
        guard let parent else {
            // The last key: drop the arena (and its free lists) entirely.
            root = nil
            leaves.removeAll(keepingCapacity: true)
            branches.removeAll(keepingCapacity: true)
            freeLeaves.removeAll(keepingCapacity: true)
            freeBranches.removeAll(keepingCapacity: true)
            return value
        }
        let sibling = branches[parent][!parentSide]
        if let grandparent { branches[grandparent][grandparentSide] = sibling } else { root = sibling }
        leaves[ref.index] = nil
        freeLeaves.append(Int32(ref.index))
        freeBranches.append(Int32(parent))
        return value
    }

    /// The leaf holding the shortest or longest stored prefix of `query`.
    ///
    /// A stored key `p` that is a proper prefix of `query` differs from it
    /// first at the end-of-key bit of position `p.count`. So `p` is either
    /// the leaf the walk ends at, or the left child of an end-of-key node
    /// (`mask == 0x100`) that the walk passes on the right; that child is
    /// necessarily a leaf, since all keys below such a node share their
    /// first `byte` bytes. Those candidates are the prefixes of the final
    /// leaf of lengths along the path, so one comparison of the final leaf
    /// with `query` decides them all: a candidate of length `n` is a prefix
    /// of `query` exactly when the two agree on their first `n` bytes.
    func prefixMatch<K: RandomAccessCollection>(_ query: K, longest: Bool) -> Int?
    where K.Element == UInt8, K.Index == Int {
        guard let root else { return nil }
        var ref = root
        var first: (leaf: Int, length: Int)? = nil
        while !ref.isLeaf {
            let node = branches[ref.index]
            let goRight = _critBitSymbol(query, node.byte) & node.mask != 0
            if first == nil && goRight && node.mask == 0x100 && node.left.isLeaf {
                first = (node.left.index, node.byte)
            }
            ref = node[goRight]
        }
        let final = ref.index
        let finalKey = leaves[final]!.key
        var agreed = 0
        let common = Swift.min(query.count, finalKey.count)
        while agreed < common && finalKey[agreed] == query[query.startIndex &+ agreed] { agreed += 1 }

        if !longest {
            if let first, first.length <= agreed { return first.leaf }
            return finalKey.count <= agreed ? final : nil
        }
        if finalKey.count <= agreed { return final }
        guard let first, first.length <= agreed else { return nil }
        // The longest candidate of length <= agreed: walk the same path again.
        var best = first.leaf
        ref = root
        while !ref.isLeaf {
            let node = branches[ref.index]
            if node.byte > agreed { break }
            let goRight = _critBitSymbol(query, node.byte) & node.mask != 0
            if goRight && node.mask == 0x100 && node.left.isLeaf { best = node.left.index }
            ref = node[goRight]
        }
        return best
    }

    private func allocateLeaf(_ key: [UInt8], _ value: Value) -> _CritBitRef {
        let entry = _CritBitLeaf(key: key, value: value)
        if let index = freeLeaves.popLast() {
            leaves[Int(index)] = entry
            return _CritBitRef(leaf: Int(index))
        }
        leaves.append(entry)
        return _CritBitRef(leaf: leaves.count - 1)
    }

    private func allocateBranch(_ node: _CritBitBranch) -> _CritBitRef {
        if let index = freeBranches.popLast() {
            branches[Int(index)] = node
            return _CritBitRef(branch: Int(index))
        }
        branches.append(node)
        return _CritBitRef(branch: branches.count - 1)
    }
}

// Storage is only ever mutated through a uniquely referenced tree, so
// sharing it between tasks is as safe as sharing the values it holds.
extension _CritBitStorage: @unchecked Sendable where Value: Sendable {}
