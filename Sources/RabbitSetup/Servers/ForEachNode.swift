import Workflow

/// Runs `body` for every element concurrently (independent nodes); returns results in input order, or
/// throws the first failure in input order once all have finished.
func forEachNode<T: Sendable, R: Sendable>(_ items: [T], _ body: @escaping @Sendable (T) async throws(StepFailure) -> R) async throws(StepFailure) -> [R] {
    let results = await withTaskGroup(of: (Int, Result<R, StepFailure>).self) { group in
        for (i, item) in items.enumerated() {
            group.addTask {
                do throws(StepFailure) { return (i, .success(try await body(item))) } catch { return (i, .failure(error)) }
            }
        }
        var out = [Result<R, StepFailure>?](repeating: nil, count: items.count)
        for await (i, r) in group { out[i] = r }
        return out.map { $0! }
    }
    return try results.map { r throws(StepFailure) in try r.get() }
}

/// Runs `body` for every element one after the other (a rolling operation on a running cluster).
func forEachNodeInTurn<T: Sendable, R: Sendable>(_ items: [T], _ body: (T) async throws(StepFailure) -> R) async throws(StepFailure) -> [R] {
    var out: [R] = []
    for item in items { out.append(try await body(item)) }
    return out
}
