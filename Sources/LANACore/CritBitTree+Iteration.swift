// CritBitTree+Iteration.swift — LANACore
//
// Ordered traversal of a crit-bit tree. Left subtrees hold the keys whose
// critical bit is clear, so an in-order walk of the leaves yields the keys
// in lexicographic byte order, and every key sharing a prefix sits in one
// subtree that can be walked on its own.

extension CritBitTree: Sequence {
    /// Yields the entries of a tree, or of one of its subtrees, in
    /// ascending key order (a key before its extensions).
    ///
    /// The iterator keeps the storage it started on alive, so later
    /// mutations of the tree (which then copy that storage) do not affect
    /// an iteration in progress. It uses a stack of pending right subtrees,
    /// bounded by the depth of the tree.
    public struct Iterator: IteratorProtocol {
        let storage: _CritBitStorage<Value>
        var pending: [_CritBitRef]

        init(storage: _CritBitStorage<Value>, root: _CritBitRef?) {
            self.storage = storage
            pending = []
            if let root { pending.append(root) }
        }

        /// The entry with the next larger key, or `nil` after the last one.
        public mutating func next() -> Element? {
            guard var ref = pending.popLast() else { return nil }
            while !ref.isLeaf {
                let node = storage.branches[ref.index]
                pending.append(node.right)
                ref = node.left
            }
            return storage.element(ref.index)
        }
    }

    /// Iterates over the entries in ascending key order.
    public func makeIterator() -> Iterator {
        Iterator(storage: storage, root: storage.root)
    }

    /// The number of entries; exact, so `Array(tree)` allocates once.
    public var underestimatedCount: Int { storage.count }

    /// The entry with the smallest key, or `nil` if the tree is empty.
    /// Follows left children only: O(depth).
    public var first: Element? { edge(right: false) }

    /// The entry with the largest key, or `nil` if the tree is empty.
    /// Follows right children only: O(depth).
    public var last: Element? { edge(right: true) }

    private func edge(right: Bool) -> Element? {
        guard var ref = storage.root else { return nil }
        while !ref.isLeaf { ref = storage.branches[ref.index][right] }
        return storage.element(ref.index)
    }

    /// All entries whose key starts with `prefix`, in ascending key order.
    ///
    /// In a crit-bit tree the keys that share a prefix form one subtree: the
    /// one reached by following `prefix` through every node that tests a bit
    /// inside it. Finding that subtree costs O(prefix length); iterating it
    /// then visits only the matching entries (and the nodes between them).
    public func elements(withPrefix prefix: [UInt8]) -> some Sequence<Element> {
        _CritBitSubtree(storage: storage, root: storage.prefixSubtree(prefix))
    }

    /// All entries whose key starts with the UTF-8 bytes of `prefix`, in
    /// ascending key order.
    public func elements(withPrefix prefix: String) -> some Sequence<Element> {
        var prefix = prefix
        let root = prefix.withUTF8 { storage.prefixSubtree($0) }
        return _CritBitSubtree(storage: storage, root: root)
    }
}

extension CritBitTree.Iterator: Sendable where Value: Sendable {}

/// The entries of one subtree, as returned by `elements(withPrefix:)`.
struct _CritBitSubtree<Value>: Sequence {
    let storage: _CritBitStorage<Value>
    let root: _CritBitRef?

    func makeIterator() -> CritBitTree<Value>.Iterator {
        CritBitTree<Value>.Iterator(storage: storage, root: root)
    }
}

extension _CritBitSubtree: Sendable where Value: Sendable {}

extension _CritBitStorage {
    /// The root of the subtree holding exactly the keys that start with
    /// `prefix`, or `nil` if there are none (Bernstein's `allprefixed`).
    ///
    /// Nodes testing a bit of the first `prefix.count` bytes are followed by
    /// `prefix`; the first node past them splits keys that all agree on
    /// those bytes, so one leaf below it tells whether they match `prefix`.
    func prefixSubtree<K: RandomAccessCollection>(_ prefix: K) -> _CritBitRef?
    where K.Element == UInt8, K.Index == Int {
        guard var ref = root else { return nil }
        while !ref.isLeaf {
            let node = branches[ref.index]
            if node.byte >= prefix.count { break }
            ref = node[_critBitSymbol(prefix, node.byte) & node.mask != 0]
        }
        let top = ref
        while !ref.isLeaf { ref = branches[ref.index].left }
        let key = leaves[ref.index]!.key
        return key.count >= prefix.count && key.starts(with: prefix) ? top : nil
    }
}

#if LANA_INTERNAL_CHECKS
extension CritBitTree {
    /// Verifies the structural invariants of the tree, trapping on the
    /// first violation. O(n · key length); meant for tests.
    func _checkInvariants() {
        storage._checkInvariants()
    }
}

extension _CritBitStorage {
    func _checkInvariants() {
        var liveLeaves = [Bool](repeating: false, count: leaves.count)
        var liveBranches = [Bool](repeating: false, count: branches.count)
        var leafCount = 0

        /// Checks the subtree at `ref`, whose parent tests (`byte`, `mask`),
        /// and returns its leftmost leaf.
        func check(_ ref: _CritBitRef, belowByte byte: Int, mask: UInt16) -> Int {
            if ref.isLeaf {
                precondition(leaves[ref.index] != nil, "CritBitTree: reachable leaf slot is free")
                precondition(!liveLeaves[ref.index], "CritBitTree: leaf reached twice")
                liveLeaves[ref.index] = true
                leafCount += 1
                return ref.index
            }
            precondition(!liveBranches[ref.index], "CritBitTree: node reached twice")
            liveBranches[ref.index] = true
            let node = branches[ref.index]
            precondition(node.mask != 0 && node.mask & (node.mask - 1) == 0 && node.mask <= 0x100,
                         "CritBitTree: mask is not a single bit of a 9-bit symbol")
            precondition(byte < node.byte || (byte == node.byte && mask > node.mask),
                         "CritBitTree: critical positions must increase downwards")
            let left = check(node.left, belowByte: node.byte, mask: node.mask)
            let right = check(node.right, belowByte: node.byte, mask: node.mask)
            // The leftmost keys of the two sides must first differ exactly here,
            // the left one with the bit clear; by induction the whole subtree then
            // agrees above this position and splits on it.
            let a = leaves[left]!.key, b = leaves[right]!.key
            var i = 0
            while _critBitSymbol(a, i) == _critBitSymbol(b, i) {
                precondition(i <= Swift.max(a.count, b.count), "CritBitTree: duplicate key")
                i += 1
            }
            let difference = _critBitSymbol(a, i) ^ _critBitSymbol(b, i)
            let highest = UInt16(1) << (UInt16.bitWidth - 1 - difference.leadingZeroBitCount)
            precondition(i == node.byte && highest == node.mask, "CritBitTree: wrong critical bit")
            precondition(_critBitSymbol(a, i) & node.mask == 0, "CritBitTree: children out of order")
            return left
        }

        if let root { _ = check(root, belowByte: -1, mask: 0) }
        precondition(leafCount == count, "CritBitTree: count does not match the leaves")
        precondition(count == 0 || liveBranches.filter { $0 }.count == count - 1,
                     "CritBitTree: n keys need n - 1 nodes")
        for index in freeLeaves.map(Int.init) {
            precondition(leaves[index] == nil && !liveLeaves[index], "CritBitTree: free leaf in use")
        }
        for index in freeBranches.map(Int.init) {
            precondition(!liveBranches[index], "CritBitTree: free node in use")
        }
        precondition(freeLeaves.count + count == leaves.count, "CritBitTree: leaf slot leaked")
        precondition(freeBranches.count + Swift.max(count - 1, 0) == branches.count,
                     "CritBitTree: node slot leaked")
    }
}
#endif
