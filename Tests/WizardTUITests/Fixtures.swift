import Foundation
import WizardTUI
import Workflow

/// States and events the TUI tests share: a topology of seven steps like the product's, with plans,
/// findings and failures written by hand (not produced by the code under test).
enum Fixtures {
    static let ids = ["installation-checks", "partition-handling", "erlang-cookie", "cluster-join", "load-balancer",
                      "failover-drill", "outsystems-handoff"].map { StepID($0) }

    static let infos: [StepInfo] = [
        StepInfo(id: ids[0], title: "check every node before changing anything"),
        StepInfo(id: ids[1], title: "set cluster_partition_handling = pause_minority on every node"),
        StepInfo(id: ids[2], title: "give every node the seed's Erlang cookie"),
        StepInfo(id: ids[3], title: "join every node to rabbit@ServerA",
                 rollbackScope: .partial("messages in queues of the joined nodes")),
        StepInfo(id: ids[4], title: "put nginx in front of the cluster on 10.0.0.10:5672"),
        StepInfo(id: ids[5], title: "failover drill through nginx", runsByDefault: false),
        StepInfo(id: ids[6], title: "the OutSystems vhost, user and permissions",
                 rollbackScope: .needsConfirmation("the OutSystems user and its permissions")),
    ]

    static let handoff = [HandoffValue("Host", "10.0.0.10"), HandoffValue("Port", "5672"), HandoffValue("Virtual host", "/outsystems"),
                          HandoffValue("Username", "outsystems")]

    static func journal(_ events: [JournalEvent]) -> JournalState { JournalState(events: events) }

    /// The hand-off's password as the product's engine describes it (rule and words written out here).
    static func secret(given: Bool = false) -> SecretAsk {
        SecretAsk(step: ids[6], what: "Password of the OutSystems user outsystems",
                  use: "creates the user outsystems on the vhost /outsystems with it (if missing) and checks its login through the load balancer",
                  rule: SecretRule(rejected: ["?", "&", "^", "\"", "'", "*", "(", ")"], rejectedBy: "OutSystems", maxBytes: 1024), given: given)
    }

    static let offer = StepOffer(step: ids[5], question: "Run the failover drill now?", lines: [
        "It fails each of the 3 nodes in turn (graceful: suspend_listeners, stop_app, start_app) while a publisher, a subscriber and new connections work through nginx 10.0.0.10:5672.",
        "Each node is down about 4 s and is waited for until it runs again (at most 2 min each) and the load balancer sends it new connections again (at most 1 min); a node that fails the drill ends it.",
    ])

    /// Steps 0-4 done (and the hand-off too with `handoffDone`), opened with the secret to ask and the drill to
    /// offer, then a guided run that the engine reports finished.
    static func finishedGuidedRun(given: Bool = false, handoffDone: Bool = false) -> (AppState, [EngineRequest]) {
        var events: [JournalEvent] = []
        for id in ids.prefix(5) + (handoffDone ? [ids[6]] : []) {
            events += [.began(step: id, fingerprint: "f", undo: undo), .applied(step: id, undo: undo), .verified(step: id)]
        }
        var s = AppState()
        _ = Wizard.update(&s, .engine(.opened(EngineSnapshot(label: "/etc/rabbit-wizard/prod.yml (3 nodes, nginx)", steps: infos,
                                                              journal: journal(events), handoff: handoff, secret: secret(given: given), offer: offer))))
        _ = Wizard.update(&s, .engine(.observeFinished))
        _ = Wizard.update(&s, .run)
        let requests = Wizard.update(&s, .engine(.finished(message: "Done: 5 of 7 steps are done.", ok: true)))
        return (s, requests)
    }

    /// The state right after the engine opened, with an optional journal.
    static func opened(_ journal: JournalState = JournalState(), interrupted: [StepID] = []) -> AppState {
        var s = AppState()
        _ = Wizard.update(&s, .engine(.opened(EngineSnapshot(label: "/etc/rabbit-wizard/prod.yml (3 nodes, nginx)", steps: infos,
                                                              journal: journal, interrupted: interrupted, handoff: handoff))))
        _ = Wizard.update(&s, .engine(.observeFinished))
        return s
    }

    static let undo = Undo(json: "{\"files\":1}")

    /// Steps 0-4 done with undo data, as after a complete run.
    static func allDone() -> AppState {
        var events: [JournalEvent] = []
        for id in ids.prefix(5) {
            events += [.began(step: id, fingerprint: "f", undo: id == ids[0] ? .none : undo), .applied(step: id, undo: id == ids[0] ? .none : undo),
                       .verified(step: id)]
        }
        return opened(journal(events))
    }

    static let confPlan = Plan(step: ids[1], changes: [
        Change(.modify, target: "ServerA:/etc/rabbitmq/rabbitmq.conf", node: "ServerA", summary: "cluster_partition_handling = pause_minority",
               before: "listeners.tcp.default = 5672\n", after: "listeners.tcp.default = 5672\ncluster_partition_handling = pause_minority\n"),
        Change(.run, target: "ServerA: set live", node: "ServerA", summary: "application:set_env cluster_partition_handling from ignore to pause_minority, no restart"),
    ])

    /// The same where the node cannot take it live: it restarts, and says why.
    static let confPlanRestarting = Plan(step: ids[1], changes: [
        confPlan.changes[0],
        Change(.run, target: "ServerA: restart", node: "ServerA", summary: "restart: it cannot change live: its Erlang VM does not answer",
               restart: "it cannot change live: its Erlang VM does not answer"),
    ])

    static let cookiePlan = Plan(step: ids[2], changes: [
        Change(.modify, target: "ServerB:/var/lib/rabbitmq/.erlang.cookie", node: "ServerB", summary: "the seed's cookie, mode 0400",
               before: "CANARY-SHOULD-NOT-SHOW", after: "CANARY-SHOULD-NOT-SHOW-EITHER", secret: true),
    ])

    static let joinPlan = Plan(step: ids[3], changes: [
        Change(.run, target: "ServerB: join rabbit@ServerA", node: "ServerB", summary: "stop_app, join_cluster, start_app",
               destructive: "the own data of rabbit@ServerB"),
    ])

    static let nodeDown = StepFailure("rabbit@ServerC is not running (the CLI could not reach it)",
                                      fix: "start it (service rabbitmq-server start on ServerC), then retry", node: "rabbit@ServerC")

    static let findings: [Finding] = [
        Finding("hostname-unresolved", .error, node: "ServerB", message: "ServerC does not resolve on ServerB",
                fix: "add ServerC to /etc/hosts on ServerB"),
        Finding("two-nodes", .warning, message: "a cluster of 2 nodes cannot keep a majority", fix: "add a third node"),
        Finding("disk-free", .info, node: "ServerA", message: "12 GB free"),
        Finding("cookie-mismatch", .warning, node: "ServerB", message: "its cookie differs from the seed's",
                fix: "erlang-cookie copies the seed's"),
    ]

    /// A runner state as the engine reports it: `mode`, the current step and its recorded statuses.
    static func runner(_ mode: RunMode = .apply, current: StepID?, statuses: [StepID: StepStatus] = [:], plans: [StepID: Plan] = [:])
        -> RunnerState
    {
        var r = RunnerState(mode: mode, order: ids, queue: [])
        for (k, v) in statuses { r.statuses[k] = v }
        r.plans = plans
        r.current = current
        return r
    }
}
