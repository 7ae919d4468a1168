import Executor
import Foundation
import RabbitSetup
import Synchronization
import WizardCore
import WizardTUI
import Workflow

/// The wizard screen's engine: the same session, runner and journal as the CLI commands, with the
/// screen as operator. Runs one thing at a time on the cooperative pool; reports through `events`.
final class TUIEngine: WizardEngine {
    /// nil until the setup form has written a topology file.
    private let current: Mutex<Session?>
    /// Opens a session on a topology file (after the setup form saved it).
    private let openSession: @Sendable (String) async throws -> Session
    private let setupPath: String?
    var session: Session { current.withLock { $0! } }
    var isOpen: Bool { current.withLock { $0 != nil } }
    private let sink = Mutex<(@Sendable (EngineEvent) -> Void)?>(nil)
    private let stop = Atomic<Bool>(false)
    private let waiting = Mutex<CheckedContinuation<EngineRequest, Never>?>(nil)
    /// The observation in progress; a run cancels it (its results would be stale anyway).
    private let observation = Mutex<Task<Void, Never>?>(nil)
    /// The last run request (repeated after the operator takes a stale lock over) and whether to take it.
    private let lastRun = Mutex<EngineRequest?>(nil)
    private let takeOver = Atomic<Bool>(false)
    /// The partition repair last proposed on screen: what `restart` typed there confirms.
    private let proposed = Mutex<PartitionRepair.Decision?>(nil)
    /// Ids of running commands that change something: their output is streamed.
    private let streaming = Mutex<Set<String>>([])

    /// On an open session, or (session nil) starting with the setup form that writes `setupPath`.
    init(session: Session?, setupPath: String?, open: @escaping @Sendable (String) async throws -> Session) {
        current = Mutex(session)
        self.setupPath = setupPath
        openSession = open
    }

    var label: String {
        var label = session.configPath ?? "test steps"
        if let t = session.topology {
            label += " (\(t.nodes.count) nodes\(t.loadBalancer.map { ", \($0.kindName)" } ?? ""))"
        }
        return label
    }

    func emit(_ e: EngineEvent) { sink.withLock { $0 }?(e) }

    /// What the setup form offers: the registered load balancer kinds and server platforms.
    static var setupChoices: SetupForm.Choices {
        SetupForm.Choices(loadBalancers: LoadBalancerKinds.standard.map(\.name) + [LoadBalancerSpec.external], servers: PlatformProfile.forServers.map(\.rawValue),
                          unreachedLoadBalancers: [LoadBalancerSpec.external])
    }

    func start(events: @escaping @Sendable (EngineEvent) -> Void) {
        sink.withLock { $0 = events }
        if current.withLock({ $0 == nil }), let setupPath {
            emit(.setup(path: setupPath, choices: Self.setupChoices))
            return
        }
        opened()
    }

    /// Subscribes to the session's commands and tells the screen what the journal says.
    func opened() {
        _ = session.executor.subscribe { [weak self] event in
            switch event {
            case .started(let id, let step, let target, let argv, let mutates):
                if mutates { self?.streaming.withLock { _ = $0.insert(id) } }
                self?.emit(.commandStarted(step: step, target: target, argv: argv, mutates: mutates))
            case .running:
                break
            case .output(let id, _, let line):
                // Only what changes the servers streams to the screen; every line is in the command log.
                if self?.streaming.withLock({ $0.contains(id) }) == true { self?.emit(.output(line)) }
            case .finished(let r):
                self?.streaming.withLock { _ = $0.remove(r.id) }
                self?.emit(.commandFinished(TUIEngine.summary(r)))
            case .notice(let text):
                self?.emit(.progress(text))
            }
        }
        do {
            let journal = try session.journalState()
            emit(.opened(EngineSnapshot(
                label: label,
                steps: session.steps.map { StepInfo(id: $0.id, title: $0.title, runsByDefault: $0.runsByDefault, rollbackScope: $0.rollbackScope) },
                journal: journal, interrupted: journal.needingReconcile(in: session.order), handoff: handoff(),
                history: ((try? CommandLog.readAll(path: session.state.commandLogPath).records) ?? []).suffix(5000).map(TUIEngine.summary),
                secret: secretAsk(), offer: drillOffer())))
        } catch {
            emit(.opened(EngineSnapshot(label: label, steps: session.steps.map { StepInfo(id: $0.id, title: $0.title) })))
            emit(.refused(ErrorPresenter.describe(error)))
        }
    }

    static func summary(_ r: CommandRecord) -> CommandSummary {
        let ok = r.termination == .exited(code: 0)
        return CommandSummary(step: r.step, target: r.target, argv: r.argv, mutates: r.mutates, exit: ok ? "ok" : "\(r.termination)", ok: ok,
                              seconds: r.durationSeconds)
    }

    /// The OutSystems user's password, which the screen asks for when the hand-off is the step left.
    func secretAsk() -> SecretAsk? {
        guard let t = session.topology, session.order.contains(.outSystemsHandoff) else { return nil }
        let os = t.outsystems
        return SecretAsk(step: .outSystemsHandoff, what: "Password of the OutSystems user \(os.username)",
                         use: "creates the user \(os.username) on the vhost \(os.vhost) with it (if missing) and checks its login through the load balancer",
                         rule: OutSystemsHandoffStep.passwordRule, given: session.secrets[OutSystemsHandoffStep.passwordKey] != nil)
    }

    /// The failover drill, offered once the setup's steps are done.
    func drillOffer() -> StepOffer? {
        guard let drill = session.steps.lazy.compactMap({ $0 as? FailoverDrillStep }).first else { return nil }
        return StepOffer(step: drill.id, question: "Run the failover drill now?", lines: drill.offer)
    }

    /// Keeps a secret typed on the screen in this session's memory: the executor scrubs it from everything it
    /// logs, and the steps get it as the CLI's --outsystems-password-file gives it.
    func give(secret bytes: [UInt8]) {
        let secret = Secret(bytes: bytes)
        session.executor.register(secret: secret)
        current.withLock { $0?.secrets[OutSystemsHandoffStep.passwordKey] = secret }
        emit(.handoff(handoff()))
    }

    /// The values the OutSystems Configuration Tool asks for on its Cache Invalidation Service tab.
    func handoff() -> [HandoffValue] {
        guard let t = session.topology, let lb = t.loadBalancer else { return [] }
        // The step's own values, so the screen shows what the step computed and verified.
        return OutSystemsHandoffStep(topology: t, loadBalancer: lb).cacheTab.map { HandoffValue($0.label, $0.value) } + [
                HandoffValue("Password", session.secrets[OutSystemsHandoffStep.passwordKey] == nil
                             ? "(not given yet: asked for on this screen; the CLI takes --outsystems-password-file FILE)" : "(set; not shown)"),
                HandoffValue("Use SSL", "no (plain AMQP through the TCP load balancer)")]
    }

    func perform(_ request: EngineRequest) {
        switch request {
        case .confirm, .choose:
            waiting.withLock { c in
                c?.resume(returning: request)
                c = nil
            }
        case .stop:
            stop.store(true, ordering: .relaxed)
            // A question waiting for an answer is answered "no" / "quit": nothing more is changed.
            waiting.withLock { c in
                c?.resume(returning: request)
                c = nil
            }
        case .validate(let values, let nodes):
            emit(.validated(TUIEngine.formProblems(values, nodes: nodes)))
        case .save(let values, let nodes, let path):
            Task { await save(values, nodes: nodes, path: path) }
        case .takeOverStaleLock:
            takeOver.store(true, ordering: .relaxed)
            if let again = lastRun.withLock({ $0 }) { perform(again) }
        case .observe:
            let task = Task { await observeAll() }
            observation.withLock { $0?.cancel(); $0 = task }
        case .plan(let waived):
            lastRun.withLock { $0 = request }
            Task { await run(mode: .plan, queue: nil, waived: waived, command: "plan") }
        case .apply(let only, let waived):
            lastRun.withLock { $0 = request }
            Task { await run(mode: .apply, queue: only, waived: waived, command: only.map { "retry " + $0.map(\.rawValue).joined(separator: " ") } ?? "apply") }
        case .rollback(let ids):
            lastRun.withLock { $0 = request }
            Task { await run(mode: .rollback, queue: ids, waived: [], command: "rollback " + ids.map(\.rawValue).joined(separator: " ")) }
        case .proposeRepair:
            Task { await proposeRepair() }
        case .repair(let restart):
            Task { await repair(restart: restart) }
        case .giveSecret(let bytes):
            give(secret: bytes)
        }
    }

    /// Ends the observation in progress (its results would be stale) and waits for it.
    func endObservation() async {
        if let previous = observation.withLock({ o in defer { o = nil }; return o }) {
            previous.cancel()
            await previous.value
        }
    }

    /// The guided repair's proposal from every node's view (read-only), as `repair partition` makes it.
    func proposeRepair() async {
        await endObservation()
        guard let topology = session.topology else { return emit(.finished(message: "no topology: nothing to repair", ok: false)) }
        let proposal: PartitionRepair.Proposal
        do { proposal = try await session.proposeRepair() } catch { return emit(.refused(ErrorPresenter.describe(error))) }
        // What was just read is the cluster's line too.
        emit(.cluster(TUIEngine.line(proposal.view, topology)))
        switch proposal.decision {
        case .success(let d):
            proposed.withLock { $0 = d }
            emit(.repairProposal(RepairProposal(keep: d.keep, restart: d.restart, rule: d.rule, evidence: d.evidence, startOnly: d.startOnly)))
        case .failure(let refusal):
            if case .nothingToRepair = refusal { emit(.finished(message: refusal.message, ok: true)) } else { emit(.finished(message: refusal.message, ok: false)) }
        }
    }

    /// Restarts the confirmed side under the run lock, as `repair partition` does (``Session/repair(_:readAgain:keepSideOf:locks:progress:)``
    /// with `readAgain`: the proposal came from an earlier view, so it decides again and goes ahead only for the same decision).
    func repair(restart: [String]) async {
        await endObservation()
        guard let topology = session.topology else { return emit(.finished(message: "no topology: nothing to repair", ok: false)) }
        let progress: @Sendable (String) -> Void = { [weak self] text in self?.emit(.progress(text)) }
        let locks: Session.RunLocks
        do { locks = try await session.lock(command: "repair partition", takeOverStale: false, progress: progress) } catch {
            return emit(.refused(ErrorPresenter.describe(error)))
        }
        await repair(topology, restart: restart, locks: locks)
        await locks.release(progress: progress)
    }

    private func repair(_ topology: Topology, restart: [String], locks: Session.RunLocks) async {
        // The decision the operator confirmed: the proposal's, for these nodes.
        guard let decision = proposed.withLock({ $0 }), decision.restart == restart else {
            return emit(.finished(message: "nothing was restarted: no proposal to restart \(restart.joined(separator: ", ")) was shown; look again (R)", ok: false))
        }
        do {
            let after = try await session.repair(decision, readAgain: true, locks: locks) { [weak self] text in self?.emit(.progress(text)) }
            emit(.finished(message: PartitionRepair.repaired(after, topology), ok: true))
        } catch {
            emit(.finished(message: ErrorPresenter.describe(error), ok: false))
        }
    }

    /// The topology parser's problems, by the form's field keys.
    static func formProblems(_ values: [String: String], nodes: Int) -> [SetupForm.Problem] {
        TopologyDraft.problems(values, nodes: nodes).map { p in
            SetupForm.Problem(field: p.field, message: "\(p.message). Fix: \(p.fix)")
        }
    }

    /// Writes the topology file (0600, never over an existing file), then opens it like --config.
    func save(_ values: [String: String], nodes: Int, path: String) async {
        let problems = TUIEngine.formProblems(values, nodes: nodes)
        guard problems.isEmpty else { return emit(.validated(problems)) }
        do { try TopologyDraft.write(values, nodes: nodes, to: path) } catch { return emit(.refused(ErrorPresenter.describe(error))) }
        do {
            let session = try await openSession(path)
            current.withLock { $0 = session }
        } catch {
            return emit(.refused("\(path) was written but cannot be opened: \(ErrorPresenter.describe(error))"))
        }
        emit(.saved(path: path))
        opened()
    }

    /// One look at every step and the cluster, as `status` takes it (its own set of observations, each
    /// question asked once; the session's node connections).
    func observeAll() async {
        await lookAgainWhereLooksFailed()
        await Observations.run(reusing: true) { await observeEach() }
    }

    /// Windows servers whose layout could not be read when the session opened are looked at again
    /// before each look and run, so that a server that is back needs no restart of the screen.
    private func lookAgainWhereLooksFailed() async {
        if let again = await session.rediscovered() { current.withLock { $0 = again } }
    }

    private func observeEach() async {
        let view = await session.look(waived: []) { [weak self] step, live, pending in self?.emit(.observed(step.id, live: live, pendingChanges: pending)) }
        if let view, let topology = session.topology {
            var line = TUIEngine.line(view, topology)
            // The load balancer: whose it is, and for a pair each host's VRRP state.
            if let lb = topology.loadBalancer {
                let vrrp = await FloatingAddressStep.states(lb, executor: session.executor, step: nil)
                line.loadBalancer = lb.summary(vrrp: vrrp)
            }
            emit(.cluster(line))
        }
        emit(.observeFinished)
    }

    func run(mode: RunMode, queue only: [StepID]?, waived: Set<String>, command: String) async {
        if let previous = observation.withLock({ o in defer { o = nil }; return o }) {
            previous.cancel()
            await previous.value
        }
        stop.store(false, ordering: .relaxed)
        await lookAgainWhereLooksFailed()
        if mode != .plan, !takeOver.load(ordering: .relaxed), let stale = await session.staleLock() {
            emit(.staleLock(stale))
            return
        }
        do {
            let (queue, skipped) = mode == .rollback ? (only ?? [], []) : try Runner.select(session.steps, only: only ?? [], skip: [])
            let request = RunRequest(mode, queue: queue, skipped: skipped, waived: waived.sorted(), confirmEachPlan: true, command: command)
            let hooks = Session.RunHooks(
                answerer: ScreenOperator(engine: self),
                observe: { [weak self] state, event in self?.emit(.runner(state, event)) },
                progress: { [weak self] text in self?.emit(.progress(text)) },
                evidence: { [weak self] step, title, text in self?.emit(.evidence(step, title: title, text: text)) },
                stopRequested: { [weak self] in self?.stop.load(ordering: .relaxed) ?? true },
                takeOverStaleLock: takeOver.exchange(false, ordering: .relaxed),
                // The screen looks again after every run: its node connections stay open until it quits.
                closesConnections: false)
            let final = try await session.run(request, hooks: hooks)
            let (message, code) = ErrorPresenter.summary(for: final) ?? ("stopped", .failed)
            emit(.finished(message: message, ok: code == .success))
        } catch {
            emit(.refused(ErrorPresenter.describe(error)))
        }
    }

    /// The cluster's line on the screen, from every node's view.
    static func line(_ view: ClusterView, _ topology: Topology) -> ClusterLine {
        let health: ClusterLine.Health = switch view.verdict {
        case .healthy: .healthy
        case .degraded: .degraded
        case .partitioned: .partitioned
        case .separate: .separate
        }
        return ClusterLine(health: health, text: view.summary(strategy: topology.partitionHandling))
    }

    /// Waits for the screen's answer to a question it was just sent.
    func ask(_ event: EngineEvent) async -> EngineRequest {
        await withCheckedContinuation { c in
            waiting.withLock { $0 = c }
            emit(event)
        }
    }
}

/// The runner's questions go to the screen; the answers come back as requests.
struct ScreenOperator: Operator {
    let engine: TUIEngine

    func confirm(_ step: StepID, _ plan: Plan) async -> Bool {
        if case .confirm(let yes) = await engine.ask(.confirm(step, plan)) { return yes }
        return false
    }

    func choose(_ step: StepID, _ choices: [Choice], failure: StepFailure?) async -> Choice {
        if case .choose(let c) = await engine.ask(.choose(step, choices, failure)) { return c }
        return .quit
    }
}
