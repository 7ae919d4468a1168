import Executor
import Foundation
import Glibc
import Synchronization
import TestKit
import Testing
import Workflow

@testable import RabbitSetup

/// The cluster lock's rules on a real file through the real executor and the POSIX host (the seed is a
/// sandbox-profile node whose folder is a temporary one: the lock lives at `DIR/rabbit-wizard.lock`, as on
/// a sandbox). Two wizards on one cluster at once, on the running sandbox, are in ``ClusterScenarioTests``.
@Suite struct ClusterLockTests {
    struct Bed {
        let root: String
        let topology: Topology
        let executor: Executor
        var lockFile: String { root + "/seed/rabbit-wizard.lock" }

        init() throws {
            root = Support.temporaryDirectory()
            mkdir(root + "/seed", 0o700)
            topology = try TopologyParser.parse("""
                cluster:
                  seed: node-a
                nodes:
                  - name: node-a
                    host: localhost
                    node_name: rabbit-a@localhost
                    reach: local
                    profile: sandbox
                    sandbox_dir: \(root)/seed
                  - name: node-b
                    host: localhost
                    node_name: rabbit-b@localhost
                    reach: local
                    profile: sandbox
                    amqp_port: 5999
                    sandbox_dir: \(root)/other
                """)
            executor = try Executor(state: try StateDirectory(path: root + "/state"))
        }

        func take(_ stateDirectory: String, takeOverStale: Bool = false, refreshEvery: Duration = ClusterLock.refreshEvery,
                  notes: Notes = Notes()) async throws(ClusterLock.Problem) -> ClusterLock
        {
            try await ClusterLock.take(topology, executor: executor, command: "apply", stateDirectory: stateDirectory, takeOverStale: takeOverStale,
                                       refreshEvery: refreshEvery) { notes.add($0) }
        }

        /// The lock as another wizard would have written it: under the folder's flock, as every swap holds it
        /// (written without it, a refresh under way could replace it right after).
        func plant(pid: Int32, host: String, stateDirectory: String, secondsAgo: Int = 0) {
            let folder = open(root + "/seed", O_RDONLY | O_CLOEXEC)
            flock(folder, LOCK_EX)
            defer { close(folder) }
            let text = #"{"command":"apply","host":"\#(host)","process":{"pid":\#(pid)},"started":"2026-12-01T10:00:00Z","#
                + #""stateDirectory":"\#(stateDirectory)","token":"planted"}"# + "\n"
            Support.write(text, to: lockFile, mode: 0o600)
            var times = [timespec(tv_sec: time(nil) - secondsAgo, tv_nsec: 0), timespec(tv_sec: time(nil) - secondsAgo, tv_nsec: 0)]
            utimensat(AT_FDCWD, lockFile, &times, 0)
        }
    }

    final class Notes: Sendable {
        let lines = Mutex<[String]>([])
        func add(_ s: String) { lines.withLock { $0.append(s) } }
        var all: [String] { lines.withLock { $0 } }
    }

    /// A pid that no process has (the highest pid Linux hands out is below 2^22).
    static let deadPid: Int32 = 4_194_303 + 1

    @Test func oneHolderAtATimeAndTheSecondIsToldWho() async throws {
        let bed = try Bed()
        defer { Support.remove(bed.root) }
        #expect(await ClusterLock.look(bed.topology, executor: bed.executor) == .free)
        let first = try await bed.take(bed.root + "/state-1")
        #expect(Self.mode(bed.lockFile) == 0o600, "the lock file is private")
        do {
            _ = try await bed.take(bed.root + "/state-2", takeOverStale: true)
            Issue.record("a second wizard took a lock that is held and refreshed")
        } catch {
            guard case .held(let holder?, _, let place) = error else { Issue.record("\(error)"); return }
            #expect(holder.process == .current && holder.stateDirectory == bed.root + "/state-1" && holder.command == "apply")
            #expect(place.contains(bed.lockFile) && place.contains("node-a"), "\(place)")
        }
        // This process holds it: no words for itself; a look sees it held and not stale.
        let seen = await ClusterLock.look(bed.topology, executor: bed.executor)
        guard case .held(let holder?, _, nil, _) = seen else { Issue.record("\(seen)"); return }
        #expect(holder.isThisProcess && seen.words == nil && seen.activeHolder == nil)
        #expect(await first.release() == nil)
        #expect(!FileManager.default.fileExists(atPath: bed.lockFile), "release removes it")
        let again = try await bed.take(bed.root + "/state-2")
        await again.release()
    }

    @Test func aLockWhoseHolderIsGoneIsTakenOverOnlyWhenConfirmed() async throws {
        let bed = try Bed()
        defer { Support.remove(bed.root) }
        // Gone: it ran on this machine and its pid no longer runs.
        bed.plant(pid: Self.deadPid, host: ClusterLock.jumpHost, stateDirectory: bed.root + "/elsewhere")
        do {
            _ = try await bed.take(bed.root + "/state")
            Issue.record("a stale lock was taken without confirmation")
        } catch {
            guard case .stale(let holder?, let why, _) = error else { Issue.record("\(error)"); return }
            #expect(holder.process.pid == Self.deadPid && why.contains("no longer runs"), "\(why)")
        }
        #expect(Support.read(bed.lockFile).contains("planted"), "a refused take changed the lock")
        let words = await ClusterLock.look(bed.topology, executor: bed.executor).words ?? ""
        #expect(words.contains("that is gone left the cluster lock") && words.contains("--yes"), "\(words)")
        let notes = Notes()
        let taken = try await bed.take(bed.root + "/state", takeOverStale: true, notes: notes)
        #expect(!Support.read(bed.lockFile).contains("planted"))
        #expect(notes.all.contains { $0.contains("taking over the stale cluster lock") }, "\(notes.all)")
        await taken.release()

        // Not refreshed for longer than the limit, held on another jump host: stale; refreshed recently: held.
        bed.plant(pid: 1, host: "another-jump-host", stateDirectory: "/x", secondsAgo: ClusterLock.staleAfter + 30)
        await #expect(throws: ClusterLock.Problem.self) { _ = try await bed.take(bed.root + "/state") }
        let old = await ClusterLock.look(bed.topology, executor: bed.executor)
        guard case .held(_, let age, let why?, _) = old else { Issue.record("\(old)"); return }
        #expect(age >= ClusterLock.staleAfter + 30 && why.contains("last refreshed"), "\(why)")
        bed.plant(pid: 1, host: "another-jump-host", stateDirectory: "/x", secondsAgo: 5)
        let fresh = await ClusterLock.look(bed.topology, executor: bed.executor)
        #expect(fresh.activeHolder?.host == "another-jump-host")
        #expect(fresh.words?.hasPrefix("another rabbit-wizard on another-jump-host has been running 'apply' since 2026-12-01T10:00:00Z") == true,
                "\(fresh.words ?? "")")
        do {
            _ = try await bed.take(bed.root + "/state", takeOverStale: true)
            Issue.record("--yes took over a lock that is refreshed")
        } catch {
            guard case .held = error else { Issue.record("\(error)"); return }
        }
    }

    /// A lock an earlier run of the same state folder left (its process gone) is that folder's: the run
    /// that now holds the folder's own lock takes it without asking.
    @Test func aLockLeftByThisStateFolderIsTakenBack() async throws {
        let bed = try Bed()
        defer { Support.remove(bed.root) }
        bed.plant(pid: Self.deadPid, host: ClusterLock.jumpHost, stateDirectory: bed.root + "/state")
        let notes = Notes()
        let lock = try await bed.take(bed.root + "/state", notes: notes)
        #expect(notes.all.contains { $0.contains("an earlier run of this state folder left") }, "\(notes.all)")
        await lock.release()
    }

    /// A holder that finds its lock taken over says so and reports it lost (its run then stops at the next
    /// safe point); a lock someone removed by hand is taken again. Each refresh is made here by hand (the
    /// refresher's own period is an hour), so what each one finds is known.
    @Test func aHolderNoticesItsLockWasTakenOver() async throws {
        let bed = try Bed()
        defer { Support.remove(bed.root) }
        let notes = Notes()
        let lock = try await bed.take(bed.root + "/state", refreshEvery: .seconds(3600), notes: notes)
        let taken = Support.read(bed.lockFile)
        #expect(await lock.refresh() && Support.read(bed.lockFile) == taken, "a refresh of a lock that is still its own")
        unlink(bed.lockFile)
        #expect(await lock.refresh() && Support.read(bed.lockFile) == taken, "a removed lock was not taken again")
        #expect(notes.all.contains { $0.contains("was removed by someone else") }, "\(notes.all)")
        #expect(lock.lost == nil)
        bed.plant(pid: 1, host: "another-jump-host", stateDirectory: "/x")
        #expect(!(await lock.refresh()), "the loss went unnoticed")
        #expect(lock.lost?.contains("another rabbit-wizard took the cluster lock over (pid 1 on another-jump-host") == true, "\(lock.lost ?? "")")
        #expect(notes.all.contains { $0.contains("stopping at the next safe point") })
        await lock.release()
        #expect(Support.read(bed.lockFile).contains("planted"), "release removed another wizard's lock")
    }

    static func mode(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }
}
