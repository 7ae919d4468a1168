import Executor
import Foundation
import Synchronization
import Workflow

/// One wizard at a time per cluster, whichever jump host it runs on: a small private file on the seed's
/// server, beside the files the wizard manages (the profile's ``PlatformProfile/lockFile``), changed only
/// by compare-and-swap (``ServerHost/swap(_:expected:_:)``), as Terraform keeps its state lock in the
/// backend rather than on the machine that runs it. The state folder's own lock (``RunLock``) still keeps
/// two wizards of one jump host apart; this one keeps two jump hosts apart.
///
/// The holder writes it again every ``refreshEvery``, and the server's clock dates each write. A lock is
/// stale when its holder is known to be gone (it ran on this jump host and its process no longer runs) or
/// when it was not written for ``staleAfter``: a stale lock is taken over only when the caller says so
/// (`--yes`, `y` on the screen), never silently; the one exception is a lock left by an earlier run of
/// this same state folder, whose holder is provably gone since this run holds that folder's lock. A holder
/// that finds its lock taken over says so and stops at the next safe point.
public final class ClusterLock: Sendable {
    /// Who holds a cluster lock: what the file holds (JSON).
    public struct Holder: Codable, Sendable, Equatable, CustomStringConvertible {
        /// Tells two takes of one process apart.
        public var token: String
        public var process: ProcessIdentity
        /// The jump host the wizard runs on.
        public var host: String
        public var stateDirectory: String
        public var command: String
        public var started: Date

        public var description: String {
            "pid \(process.pid) on \(host) (\(command), state folder \(stateDirectory)), since \(ISO8601DateFormatter().string(from: started))"
        }

        /// Whether this process is the holder.
        public var isThisProcess: Bool { process == .current && host == ClusterLock.jumpHost }
    }

    /// What a read-only look at the lock found.
    public enum Look: Sendable, Equatable {
        case free
        /// `holder` nil: the file holds something that is not a holder. `stale`: why it is stale, if it is.
        case held(Holder?, ageSeconds: Int, stale: String?, place: String)
        /// The seed's server could not be asked.
        case unknown(String, place: String)

        /// Another wizard that holds the lock and may be running now (not this process, not stale).
        public var activeHolder: Holder? {
            guard case .held(let holder?, _, nil, _) = self, !holder.isThisProcess else { return nil }
            return holder
        }

        /// For `status` and `plan`: who holds the lock, unless it is free or this process.
        public var words: String? {
            switch self {
            case .free: return nil
            case .held(let holder?, _, _, _) where holder.isThisProcess: return nil
            case .held(let holder, let age, let stale, let place):
                let who = holder.map { "pid \($0.process.pid), state folder \($0.stateDirectory)" } ?? "its holder cannot be read"
                if let stale {
                    return "a rabbit-wizard that is gone left the cluster lock \(place) (\(who); \(stale)): the next run asks before taking it over (--yes)"
                }
                let since = holder.map { " has been running '\($0.command)' since \(ISO8601DateFormatter().string(from: $0.started))" } ?? " holds it"
                return "another rabbit-wizard on \(holder?.host ?? "an unknown jump host")\(since) (\(who); the cluster lock \(place), refreshed \(age) s ago)"
            case .unknown(let cause, let place):
                return "the cluster lock \(place) cannot be read: \(cause)"
            }
        }
    }

    /// Why a lock could not be taken.
    public enum Problem: Error, Sendable, Equatable {
        /// Another wizard holds it and refreshes it.
        case held(Holder?, ageSeconds: Int, place: String)
        /// A wizard that is gone left it: taken over only when the caller says so.
        case stale(Holder?, why: String, place: String)
        /// The seed's server could not be asked (or answered with an error): nothing is changed without the lock.
        case unavailable(place: String, cause: String)
    }

    public static let refreshEvery: Duration = .seconds(10)
    /// Seconds without a write after which a lock counts as left behind.
    public static let staleAfter = 60
    /// The name its commands carry in the command log (`log --step cluster-lock`).
    public static let logName: StepID = "cluster-lock"
    /// This jump host's name, as holders record it.
    public static let jumpHost = ProcessInfo.processInfo.hostName

    let host: any ServerHost
    let path: String
    public let place: String
    public let holder: Holder
    let content: [UInt8]
    let progress: @Sendable (String) -> Void
    let refreshEvery: Duration
    private let state = Mutex(State())

    struct State {
        var hash = ""
        var refresher: Task<Void, Never>?
        var lost: String?
        var failingSince: ContinuousClock.Instant?
    }

    private init(host: any ServerHost, path: String, place: String, holder: Holder, content: [UInt8], hash: String,
                 refreshEvery: Duration, progress: @escaping @Sendable (String) -> Void)
    {
        self.refreshEvery = refreshEvery
        self.host = host
        self.path = path
        self.place = place
        self.holder = holder
        self.content = content
        self.progress = progress
        state.withLock { $0.hash = hash }
    }

    /// The seed's server and the lock file there, and how to name them for people.
    static func location(_ topology: Topology, executor: Executor) -> (host: any ServerHost, path: String, place: String) {
        let seed = RabbitNode(topology.seed, executor: executor, step: logName)
        let path = seed.profile.lockFile
        return (seed.host, path, "\(path) on \(topology.seed.name) (\(topology.seed.target))")
    }

    static func decode(_ bytes: [UInt8]?) -> Holder? {
        guard let bytes else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(Holder.self, from: Data(bytes))
    }

    /// Why a lock `ageSeconds` old held by `holder` is stale, or nil while its holder may still run.
    public static func staleness(_ holder: Holder?, ageSeconds: Int) -> String? {
        if let holder, holder.host == jumpHost, !holder.process.isRunning {
            return "its process (pid \(holder.process.pid)) no longer runs on this machine"
        }
        if ageSeconds > staleAfter {
            return "it was last refreshed \(ageSeconds) s ago (a running wizard refreshes it every \(refreshEvery.components.seconds) s)"
        }
        return nil
    }

    /// Read-only: who holds the lock now.
    public static func look(_ topology: Topology, executor: Executor) async -> Look {
        let (host, path, place) = location(topology, executor: executor)
        do throws(StepFailure) {
            let answer = try await fresh(host, path, expected: nil, .none)
            guard let found = answer.found else { return .free }
            let holder = decode(found), age = answer.ageSeconds ?? 0
            return .held(holder, ageSeconds: age, stale: staleness(holder, ageSeconds: age), place: place)
        } catch {
            return .unknown(error.cause, place: place)
        }
    }

    /// Takes the lock for this process (a run of `command` with the state folder `stateDirectory`) and
    /// keeps it refreshed until ``release()``. `takeOverStale`: the operator confirmed that a stale lock's
    /// holder is gone. `refreshEvery` other than ``refreshEvery``: tests only.
    public static func take(_ topology: Topology, executor: Executor, command: String, stateDirectory: String, takeOverStale: Bool,
                            refreshEvery: Duration = ClusterLock.refreshEvery,
                            progress: @escaping @Sendable (String) -> Void) async throws(Problem) -> ClusterLock
    {
        let (host, path, place) = location(topology, executor: executor)
        let me = Holder(token: UUID().uuidString.lowercased(), process: .current, host: jumpHost, stateDirectory: stateDirectory,
                        command: command, started: Date())
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let content = Array(((try? encoder.encode(me)) ?? Data())) + [0x0A]
        var expected: String?
        // A few rounds at most: another wizard may change the file between this one's look and its swap.
        for _ in 0..<3 {
            let answer: SwapAnswer
            do throws(StepFailure) {
                answer = try await fresh(host, path, expected: expected, .put(content))
            } catch {
                throw .unavailable(place: place, cause: error.cause)
            }
            if answer.changed, let hash = answer.hash {
                let lock = ClusterLock(host: host, path: path, place: place, holder: me, content: content, hash: hash, refreshEvery: refreshEvery,
                                       progress: progress)
                lock.startRefreshing()
                return lock
            }
            guard let foundHash = answer.foundHash else { expected = nil; continue }
            let holder = decode(answer.found), age = answer.ageSeconds ?? 0
            let ownFolder = holder.map { $0.host == jumpHost && $0.stateDirectory == stateDirectory && !$0.process.isRunning } ?? false
            if let why = staleness(holder, ageSeconds: age) {
                guard takeOverStale || ownFolder else { throw .stale(holder, why: why, place: place) }
                progress(ownFolder ? "taking over the cluster lock an earlier run of this state folder left on \(topology.seed.name)"
                                   : "taking over the stale cluster lock on \(topology.seed.name) (\(why))")
                expected = foundHash
                continue
            }
            throw .held(holder, ageSeconds: age, place: place)
        }
        throw .unavailable(place: place, cause: "the lock changed under every attempt to take it")
    }

    /// Why this process no longer holds the lock (another wizard took it over), or nil while it does.
    public var lost: String? { state.withLock { $0.lost } }

    private func startRefreshing() {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                guard let every = self?.refreshEvery else { return }
                do { try await Task.sleep(for: every) } catch { return }
                guard let self, await self.refresh() else { return }
            }
        }
        state.withLock { $0.refresher = task }
    }

    /// Writes the lock again (its date is the server's); false once it is lost. The refresher calls it
    /// every `refreshEvery`; tests call it directly.
    func refresh() async -> Bool {
        let hash = state.withLock { $0.hash }
        do throws(StepFailure) {
            var answer = try await swap(expected: hash, .put(content))
            if !answer.changed && answer.found == nil {
                progress("the cluster lock on \(place) was removed by someone else while this wizard ran: taken again")
                answer = try await swap(expected: nil, .put(content))
            }
            if answer.changed, let new = answer.hash {
                state.withLock { $0.hash = new; $0.failingSince = nil }
                return true
            }
            let other = ClusterLock.decode(answer.found).map(String.init(describing:)) ?? "a holder whose lock cannot be read"
            let why = "another rabbit-wizard took the cluster lock over (\(other))"
            state.withLock { $0.lost = why }
            progress(why + ": stopping at the next safe point")
            return false
        } catch {
            let first = state.withLock { s -> Bool in
                defer { s.failingSince = s.failingSince ?? .now }
                return s.failingSince == nil
            }
            if first {
                progress("cannot refresh the cluster lock (\(error.cause)); trying again every \(ClusterLock.refreshEvery.components.seconds) s; "
                         + "after \(ClusterLock.staleAfter) s without a refresh another wizard could take it over")
            }
            return true
        }
    }

    private func swap(expected: String?, _ change: SwapChange) async throws(StepFailure) -> SwapAnswer {
        try await ClusterLock.fresh(host, path, expected: expected, change)
    }

    /// A swap never answered from a run's observations: the lock changes while a run goes on.
    static func fresh(_ host: any ServerHost, _ path: String, expected: String?, _ change: SwapChange) async throws(StepFailure) -> SwapAnswer {
        let result = await Observations.$current.withValue(nil) { () async -> Result<SwapAnswer, StepFailure> in
            do throws(StepFailure) { return .success(try await host.swap(path, expected: expected, change)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Stops refreshing and removes the lock if it is still this process's. Returns a note for the
    /// operator when it could not be removed (the next run of this state folder takes it over itself).
    @discardableResult
    public func release() async -> String? {
        let task = state.withLock { s -> Task<Void, Never>? in
            defer { s.refresher = nil }
            return s.refresher
        }
        task?.cancel()
        await task?.value
        guard lost == nil else { return nil }
        do throws(StepFailure) {
            _ = try await swap(expected: state.withLock { $0.hash }, .remove)
            return nil
        } catch {
            return "the cluster lock \(place) could not be removed (\(error.cause)); the next run from this state folder takes it over, "
                + "another one sees it stale after \(ClusterLock.staleAfter) s"
        }
    }
}
