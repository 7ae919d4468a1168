import Workflow

/// The rules of the screen, as a pure function: `update(&state, action)` changes the state and returns
/// what to ask the engine for. No IO, no clock, no curses: tested key by key in WizardTUITests.
public enum Wizard {
    public static func update(_ s: inout AppState, _ action: Action) -> [EngineRequest] {
        if s.form != nil, !action.isFromEngine { return updateForm(&s, action) }
        switch action {
        case .engine(let event): return receive(&s, event)
        case .tick(let now): s.clock = now
        case .resize: s.scroll = min(s.scroll, max(0, s.scroll))
        case .up: move(&s, -1)
        case .down: move(&s, 1)
        case .pageUp: move(&s, -10)
        case .pageDown: move(&s, 10)
        case .top: move(&s, -1_000_000)
        case .bottom: move(&s, 1_000_000)
        case .back:
            if case .resume = s.prompt { s.prompt = nil } else if s.prompt == nil || isChoice(s.prompt) { show(&s, .overview) }
        case .help: show(&s, .help)
        case .log: show(&s, .log)
        case .findings: show(&s, .findings)
        case .summary: show(&s, .summary)
        case .plan:
            show(&s, .plan)
            guard !s.busy else { break }
            s.plans = [:]
            s.activity = Activity(kind: .planning, startedAt: s.clock)
            return [.plan(waived: s.waived)]
        case .run:
            if case .resume(let ids) = s.prompt {
                s.prompt = nil
                // An interrupted rollback is finished first, and nothing else is started.
                if !ids.isEmpty, ids.allSatisfy({ id in s.steps.first { $0.id == id }?.recorded == .rollbackUnknown }) {
                    s.activity = Activity(kind: .rollingBack, startedAt: s.clock, step: ids[0])
                    s.interrupts = 0
                    return [.rollback([])]
                }
            }
            guard !s.busy else { s.message = ("busy: wait for the current run, or Ctrl-C to stop it", false); break }
            s.activity = Activity(kind: .applying, startedAt: s.clock)
            s.interrupts = 0
            s.view = .overview
            s.secretDeclined = false
            return [.apply(only: nil, waived: s.waived)]
        case .retry:
            guard let row = s.selectedStep else { break }
            guard !s.busy else { s.message = ("busy: wait for the current run, or Ctrl-C to stop it", false); break }
            // The step that needs a secret the screen has not been given asks for it first; one typed here is
            // asked for again after that step failed (a user that exists with another password fails the login).
            if let ask = s.secret, ask.step == row.id, !ask.given || (s.secretTyped && row.status == .failed) {
                s.prompt = .secret(SecretEntry())
                break
            }
            return runOnly(&s, row.id)
        case .rollback:
            if case .resume(let ids) = s.prompt, let first = ids.first, let i = s.steps.firstIndex(where: { $0.id == first }) {
                s.prompt = nil
                s.selected = i
            }
            guard let row = s.selectedStep else { break }
            guard !s.busy else { s.message = ("busy: wait for the current run, or Ctrl-C to stop it", false); break }
            guard row.undoable else {
                s.message = ("\(row.id) has nothing recorded to roll back (it is \(row.recorded.rawValue))", false)
                break
            }
            let later = Rollback.blocking(row.id, undoable: s.steps.filter(\.undoable).map(\.id))
            guard later.isEmpty else {
                s.message = ("later steps are still applied: \(later.map(\.rawValue).joined(separator: ", ")). "
                             + "Roll them back first, or U rolls back everything", false)
                break
            }
            s.prompt = .confirmRollback([row.id], typed: destroys(s, [row.id]) ? "" : nil)
        case .rollbackAll:
            guard !s.busy else { s.message = ("busy: wait for the current run, or Ctrl-C to stop it", false); break }
            let targets = Rollback.all(s.steps.filter(\.undoable).map(\.id))
            guard !targets.isEmpty else { s.message = ("nothing to roll back: no step has recorded changes", false); break }
            s.prompt = .confirmRollback(targets, typed: destroys(s, targets) ? "" : nil)
        case .repairPartition:
            // Asked of the engine whatever the cluster line says: the engine reads every node afresh, and the
            // line is as old as the last look (a partition that began while the screen waited is not on it).
            guard !s.busy else { s.message = ("busy: wait for the current run, or Ctrl-C to stop it", false); break }
            s.activity = Activity(kind: .repairing, startedAt: s.clock)
            s.interrupts = 0
            return [.proposeRepair]
        case .waive:
            let all = s.allFindings
            guard all.indices.contains(s.findingCursor) else { break }
            let name = all[s.findingCursor].finding.name
            if s.waived.contains(name) { s.waived.remove(name) } else { s.waived.insert(name) }
        case .filterStep:
            let ids = [nil] + s.steps.map { Optional($0.id) }
            s.logStep = ids[((ids.firstIndex(of: s.logStep) ?? 0) + 1) % ids.count]
            s.scroll = 0
        case .filterNode:
            var hosts: [String?] = [nil]
            for c in s.commands where !hosts.contains(c.target) { hosts.append(c.target) }
            s.logNode = hosts[((hosts.firstIndex(of: s.logNode) ?? 0) + 1) % hosts.count]
            s.scroll = 0
        case .quit:
            if case .quit = s.prompt { break }
            if s.busy { s.prompt = .quit } else { s.exit = (ExitStatus.success.rawValue, false) }
        case .interrupt:
            guard s.busy else { s.exit = (ExitStatus.interrupted.rawValue, false); break }
            s.interrupts += 1
            if s.interrupts >= 2 {
                s.exit = (ExitStatus.interrupted.rawValue, true)
                break
            }
            s.activity?.stopping = true
            switch s.prompt {
            case .confirmPlan, .choose: s.prompt = nil  // the engine answers it "no" / "quit"
            default: break
            }
            s.message = ("stopping at the next safe point (Ctrl-C again aborts now; the step's outcome is then unknown)", false)
            return [.stop]
        case .yes: return answer(&s, true)
        case .no: return answer(&s, false)
        case .type(let c):
            switch s.prompt {
            case .confirmPlan(let id, let t?): s.prompt = .confirmPlan(id, typed: t + String(c))
            case .confirmRollback(let ids, let t?): s.prompt = .confirmRollback(ids, typed: t + String(c))
            case .confirmRepair(let p, let t): s.prompt = .confirmRepair(p, typed: t + String(c))
            case .secret(var e):
                e.typed.append(c)
                e.refusal = nil
                s.prompt = .secret(e)
            default: break
            }
        case .erase:
            switch s.prompt {
            case .confirmPlan(let id, let t?): s.prompt = .confirmPlan(id, typed: String(t.dropLast()))
            case .confirmRollback(let ids, let t?): s.prompt = .confirmRollback(ids, typed: String(t.dropLast()))
            case .confirmRepair(let p, let t): s.prompt = .confirmRepair(p, typed: String(t.dropLast()))
            case .secret(var e):
                e.typed.removeLast(e.typed.isEmpty ? 0 : 1)
                e.refusal = nil
                s.prompt = .secret(e)
            default: break
            }
        case .choose(let choice):
            guard case .choose = s.prompt else { break }
            s.prompt = nil
            if choice == .rollbackStep || choice == .rollbackAll { s.activity?.kind = .rollingBack }
            return [.choose(choice)]
        }
        return []
    }

    /// Runs one step (r, the offered drill, the step a secret was typed for).
    static func runOnly(_ s: inout AppState, _ id: StepID) -> [EngineRequest] {
        s.activity = Activity(kind: .applying, startedAt: s.clock, step: id, only: [id])
        s.interrupts = 0
        s.view = .overview
        return [.apply(only: [id], waived: s.waived)]
    }

    /// After a run that ended well: the question that finishes the setup, if one is due. The secret's step
    /// when it is the only default step left undone (asked once per guided run; Esc leaves it); then the
    /// offered opt-in step, once per session, when every default step is done (the secret's step may be
    /// left undone by Esc).
    static func finishingQuestion(_ s: inout AppState) {
        guard s.prompt == nil else { return }
        let defaults = s.steps.filter(\.info.runsByDefault)
        guard !defaults.isEmpty else { return }
        let open = defaults.filter { $0.status != .done }
        if let ask = s.secret, !ask.given, !s.secretDeclined, open.map(\.id) == [ask.step] {
            s.prompt = .secret(SecretEntry())
            return
        }
        let waitsForSecret = open.map(\.id) == [s.secret?.step] && s.secretDeclined
        if let offer = s.offer, !s.offered, open.isEmpty || waitsForSecret,
           let row = s.steps.first(where: { $0.id == offer.step }), row.status != .done {
            s.prompt = .offer
        }
    }

    /// Observation starts afresh: old observations would be wrong after a run.
    static func observe(_ s: inout AppState) -> [EngineRequest] {
        s.live = [:]
        s.cluster = nil
        s.activity = Activity(kind: .observing, startedAt: s.clock)
        return [.observe]
    }

    /// Keys while the setup form is open: move, type, cycle choices, save, leave.
    static func updateForm(_ s: inout AppState, _ action: Action) -> [EngineRequest] {
        guard var form = s.form else { return [] }
        var edited = false
        switch action {
        case .up: form.cursor = max(0, form.cursor - 1)
        case .down: form.cursor = min(form.fields.count - 1, form.cursor + 1)
        case .pageUp: form.cursor = max(0, form.cursor - 10)
        case .pageDown: form.cursor = min(form.fields.count - 1, form.cursor + 10)
        case .type(let c):
            form.type(c)
            edited = true
        case .erase:
            form.erase()
            edited = true
        case .run:
            if form.problems.isEmpty {
                s.message = ("writing \(form.path)", true)
                s.form = form
                return [.save(form.fileValues, nodes: form.nodeCount, path: form.path)]
            }
            s.message = ("fix the \(form.problems.count) problem(s) marked in red first", false)
        case .back:
            if form.escapePressed {
                s.exit = (ExitStatus.success.rawValue, false)
            } else {
                s.message = ("Esc again quits without saving", false)
            }
        case .interrupt:
            s.exit = (ExitStatus.interrupted.rawValue, false)
        default:
            break
        }
        if case .back = action { form.escapePressed = true } else { form.escapePressed = false }
        s.form = form
        return edited ? [.validate(form.fileValues, nodes: form.nodeCount)] : []
    }

    static func isChoice(_ p: Prompt?) -> Bool {
        if case .choose = p { return true }
        return false
    }

    /// The word a typed confirmation wants: the step id, or `rollback` for several steps.
    public static func expectedWord(_ prompt: Prompt) -> String? {
        switch prompt {
        case .confirmPlan(let id, _?): id.rawValue
        case .confirmRollback(let ids, _?): ids.count == 1 ? ids[0].rawValue : "rollback"
        case .confirmRepair: "restart"
        default: nil
        }
    }

    static func destroys(_ s: AppState, _ ids: [StepID]) -> Bool {
        ids.contains { id in
            if case .needsConfirmation = s.steps.first(where: { $0.id == id })?.info.rollbackScope { return true }
            return false
        }
    }

    static func answer(_ s: inout AppState, _ yes: Bool) -> [EngineRequest] {
        guard let prompt = s.prompt else { return [] }
        switch prompt {
        case .confirmPlan(_, let typed):
            if yes, let typed, typed != expectedWord(prompt) {
                s.message = ("type \(expectedWord(prompt)!) exactly to go ahead, or Esc to decline", false)
                return []
            }
            s.prompt = nil
            s.view = .overview
            return [.confirm(yes)]
        case .confirmRollback(let ids, let typed):
            if yes, let typed, typed != expectedWord(prompt) {
                s.message = ("type \(expectedWord(prompt)!) exactly to go ahead, or Esc to cancel", false)
                return []
            }
            s.prompt = nil
            guard yes else { s.message = ("not rolled back", true); return [] }
            s.activity = Activity(kind: .rollingBack, startedAt: s.clock, step: ids.first)
            s.interrupts = 0
            s.view = .overview
            return [.rollback(ids)]
        case .quit:
            s.prompt = nil
            guard yes else { return [] }
            s.quitWhenIdle = true
            s.activity?.stopping = true
            s.message = ("stopping at the next safe point, then quitting", false)
            return [.stop]
        case .confirmRepair(let proposal, let typed):
            if yes, typed != expectedWord(prompt) {
                s.message = ("type restart exactly to go ahead, or Esc to cancel", false)
                return []
            }
            s.prompt = nil
            guard yes else { s.message = ("nothing was restarted", true); return [] }
            s.activity = Activity(kind: .repairing, startedAt: s.clock)
            s.interrupts = 0
            s.view = .overview
            return [.repair(restart: proposal.restart)]
        case .takeOverLock:
            s.prompt = nil
            guard yes else { s.message = ("the lock was left as it is; nothing was run", false); return [] }
            s.activity = Activity(kind: .applying, startedAt: s.clock)
            return [.takeOverStaleLock]
        case .secret(var entry):
            guard let ask = s.secret else { s.prompt = nil; return [] }
            guard yes else {
                s.prompt = nil
                s.secretDeclined = true
                s.message = ("\(ask.step) left undone: nothing typed is kept. r on it asks again", false)
                finishingQuestion(&s)
                return []
            }
            switch entry.enter(ask.rule) {
            case .refused, .again:
                s.prompt = .secret(entry)
                return []
            case .accepted(let text):
                s.prompt = nil
                s.secret?.given = true
                s.secretTyped = true
                return [.giveSecret(Array(text.utf8))] + runOnly(&s, ask.step)
            }
        case .offer:
            s.prompt = nil
            s.offered = true
            guard let offer = s.offer else { return [] }
            guard yes else {
                s.message = ("\(offer.step) not run: r on it runs it whenever you want", true)
                return []
            }
            return runOnly(&s, offer.step)
        case .choose, .resume:
            return []
        }
    }

    static func show(_ s: inout AppState, _ view: AppState.View) {
        if s.view != view { s.scroll = 0 }
        s.view = view
    }

    static func move(_ s: inout AppState, _ delta: Int) {
        switch s.view {
        case .overview:
            guard !s.steps.isEmpty else { return }
            s.selected = min(max(s.selected + delta, 0), s.steps.count - 1)
        case .findings:
            let n = s.allFindings.count
            s.findingCursor = n == 0 ? 0 : min(max(s.findingCursor + delta, 0), n - 1)
        default:
            s.scroll = max(0, s.scroll + delta)  // render clamps to the content
        }
    }

    /// Engine events: what the work reports changes the state the same way keys do.
    static func receive(_ s: inout AppState, _ event: EngineEvent) -> [EngineRequest] {
        switch event {
        case .setup(let path, let choices):
            let form = SetupForm(path: path, choices: choices)
            s.form = form
            s.view = .setup
            s.label = "new topology: \(path)"
            return [.validate(form.fileValues, nodes: form.nodeCount)]
        case .validated(let problems):
            s.form?.problems = problems
        case .saved(let path):
            s.form = nil
            s.view = .overview
            s.message = ("wrote \(path); Enter runs the steps", true)
        case .opened(let snap):
            s.label = snap.label
            s.handoff = snap.handoff
            s.secret = snap.secret
            s.offer = snap.offer
            s.commands = snap.history
            s.steps = snap.steps.map { info in
                let record = snap.journal.records[info.id]
                let recorded = snap.journal.status(info.id)
                return StepRow(info: info, status: RowStatus(recorded), recorded: recorded,
                               undoable: Rollback.isUndoable(recorded, undo: record?.undo))
            }
            for (id, r) in snap.journal.records { if let f = r.failure { s.failures[id] = f } }
            s.evidence = snap.journal.evidence.map { EvidenceItem(step: $0.step, title: $0.title, text: $0.text) }
            if !snap.interrupted.isEmpty {
                s.prompt = .resume(snap.interrupted)
                if let i = s.steps.firstIndex(where: { $0.id == snap.interrupted[0] }) { s.selected = i }
            }
            return observe(&s)
        case .observed(let id, let live, _):
            s.live[id] = live
        case .cluster(let line):
            s.cluster = line
        case .observeFinished:
            if s.activity?.kind == .observing { s.activity = nil }
        case .runner(let runner, let event):
            follow(&s, runner, event)
        case .progress(let text):
            s.activity?.waitingFor = text
            s.say(.progress, "... " + text)
        case .commandStarted(_, let target, let argv, let mutates):
            let line = CommandText.brief(argv)
            s.activity?.running.append(Activity.Running(target: target, line: line, startedAt: s.clock))
            if mutates { s.say(.command, "$ [\(target)] \(line)") }
        case .output(let line):
            s.say(.output, "  " + line)
        case .commandFinished(let c):
            s.commands.append(c)
            // That command ends; one that runs alongside (a restart while reads come and go) stays shown.
            // A request over a node connection ends without having started: nothing to remove.
            let line = CommandText.brief(c.argv)
            if let i = s.activity?.running.lastIndex(where: { $0.target == c.target && $0.line == line }) { s.activity?.running.remove(at: i) }
            if !c.ok && c.mutates { s.say(.failure, "  -> \(c.exit)") }
        case .evidence(let step, let title, let text):
            s.evidence.append(EvidenceItem(step: step, title: title, text: text))
            s.say(.note, "\(title):\n\(text)")
        case .confirm(let id, let plan):
            s.plans[id] = plan
            s.prompt = .confirmPlan(id, typed: plan.destructive.isEmpty ? nil : "")
            if let i = s.steps.firstIndex(where: { $0.id == id }) { s.selected = i }
            s.view = .plan
            s.scroll = 0
        case .choose(let id, let choices, let failure):
            if let failure { s.failures[id] = failure }
            s.prompt = .choose(id, choices, failure)
            if let i = s.steps.firstIndex(where: { $0.id == id }) { s.selected = i }
        case .finished(let message, let ok):
            let kind = s.activity?.kind
            let only = s.activity?.only
            s.activity = nil
            s.interrupts = 0
            if case .choose = s.prompt { s.prompt = nil }
            if case .confirmPlan = s.prompt { s.prompt = nil }
            s.message = (message, ok)
            s.say(ok ? .note : .failure, message)
            if s.quitWhenIdle { s.exit = ((ok ? ExitStatus.success : .failed).rawValue, false); break }
            if kind == .planning { break }
            if !ok, s.allFindings.contains(where: { $0.finding.blocks(waived: s.waived) }) {
                s.view = .findings
            } else if kind == .applying, let only, let offer = s.offer, only == [offer.step] {
                // The offered step's own run (the drill): its table is in the summary, however it ended.
                s.view = .summary
            } else if ok, kind == .applying, s.steps.filter(\.info.runsByDefault).allSatisfy({ $0.status == .done || $0.status == .skipped }) {
                // Nothing left to run (the hand-off without a password is skipped, not done): the values to hand over.
                s.view = .summary
            }
            if ok, kind == .applying { finishingQuestion(&s) }
            return observe(&s)
        case .staleLock(let who):
            s.activity = nil
            s.prompt = .takeOverLock(who)
            if s.quitWhenIdle { s.exit = (ExitStatus.failed.rawValue, false) }
        case .refused(let text):
            s.activity = nil
            s.message = (text, false)
            if s.quitWhenIdle { s.exit = (ExitStatus.failed.rawValue, false) }
        case .repairProposal(let proposal):
            s.activity = nil
            s.prompt = .confirmRepair(proposal, typed: "")
        case .handoff(let values):
            s.handoff = values
        }
        return []
    }

    /// Step rows follow the runner: the journal's states, plus what the current step is doing.
    static func follow(_ s: inout AppState, _ runner: RunnerState, _ event: RunnerEvent) {
        s.findings.merge(runner.findings) { $1 }
        s.plans.merge(runner.plans) { $1 }
        s.failures.merge(runner.failures) { $1 }
        if case .checked(let id, let findings) = event {
            s.findings[id] = findings
            for f in findings.sorted(by: { $0.severity < $1.severity }) where f.severity != .info {
                s.say(f.severity == .error ? .failure : .note, "\(id): \(f.severity.rawValue) \(f.name)\(f.node.map { " (\($0))" } ?? ""): \(f.message)")
            }
        }
        if case .failed(let id, let f, let phase) = event { s.say(.failure, "\(id) failed (\(phase.rawValue)): \(f.cause)") }
        if case .verified(let id) = event { s.say(.note, "\(id): done") }
        if case .rolledBack(let id) = event { s.say(.note, "\(id): rolled back") }
        if case .reconciled(let id, let done, let detail) = event {
            s.say(.note, "\(id): was interrupted; observed: \(detail) -> \(done ? "done" : "not done")")
        }
        if s.activity?.step != runner.current {
            s.activity?.waitingFor = nil
            // The selection follows the run to the step it works on now.
            if let id = runner.current, let i = s.steps.firstIndex(where: { $0.id == id }) { s.selected = i }
        }
        s.activity?.step = runner.current
        if let id = runner.current { s.live[id] = nil }
        for i in s.steps.indices {
            let id = s.steps[i].id
            let recorded = runner.statuses[id] ?? .pending
            var status = RowStatus(recorded)
            if let plan = runner.plans[id], [.pending, .rolledBack, .skipped].contains(recorded) {
                status = plan.isEmpty ? (runner.mode == .plan ? .done : status) : .ready
            }
            if runner.current == id, runner.outcome == nil {
                if runner.mode == .rollback {
                    status = .rollingBack
                } else if recorded == .unknown || recorded == .applied {
                    status = .running
                } else if case .failed(id, _, _) = event {
                    status = .failed
                } else if case .planned(id, let plan) = event {
                    status = plan.isEmpty ? status : .ready
                } else if isRetryStart(event, id) {
                    status = .checking
                } else if [.pending, .rolledBack, .skipped].contains(recorded) {
                    status = runner.plans[id].map { $0.isEmpty ? status : .ready } ?? .checking
                }
            }
            s.steps[i].status = status
            s.steps[i].recorded = recorded
            let undo = runner.undo[id]
            s.steps[i].undoable = Rollback.isUndoable(recorded, undo: undo)
        }
    }

    static func isRetryStart(_ event: RunnerEvent, _ id: StepID) -> Bool {
        if case .chose(id, .retry) = event { return true }
        if case .checked(id, _) = event { return true }
        if case .backoffElapsed(id) = event { return true }
        return false
    }
}
