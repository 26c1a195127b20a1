/// A first-in, first-out queue on an array: taking from the front moves a head index, and the
/// taken slots are dropped in chunks, so both ends are amortized O(1). Used by the blocking pool's
/// job queues and the muxers' per-stream receive buffers.
public struct FIFOQueue<Element> {
    private var items: [Element] = []
    private var head = 0

    public init() {}

    /// Elements not taken yet.
    public var count: Int { items.count - head }
    public var isEmpty: Bool { head == items.count }
    /// The elements not taken yet, first to last.
    public var remaining: ArraySlice<Element> { items[head...] }

    public mutating func append(_ element: Element) { items.append(element) }

    /// Takes the first element, nil when empty.
    public mutating func popFirst() -> Element? {
        guard head < items.count else { return nil }
        let element = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return element
    }

    public mutating func removeAll() {
        items = []
        head = 0
    }
}

extension FIFOQueue: Sendable where Element: Sendable {}
