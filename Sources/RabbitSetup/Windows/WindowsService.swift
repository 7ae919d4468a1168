import Workflow

extension ServiceGoal {
    /// The state Windows reports when the service is there.
    var windowsState: String { self == .running ? "Running" : "Stopped" }
}

extension RabbitNode {
    /// Why a Windows service is not in the wanted state, from what `Set-RabbitService` saw after its move
    /// (`after`) and what Windows said: no such service, marked for deletion, disabled, or another state.
    func windowsServiceFailure(_ change: ServiceChange, _ after: ServiceSeen, _ goal: ServiceGoal, doing: String) -> StepFailure {
        let name = spec.name, service = profile.serviceName
        let said = change.said.isEmpty ? "" : "; Windows said: \(change.said)"
        if !after.exists {
            return StepFailure("\(name) has no Windows service named \(service)", fix: "install RabbitMQ's service on \(spec.host) "
                                   + "(the Configuration Tool's Cache tab, Create/Upgrade Service), then retry", node: name, finding: "rabbitmq-service-missing")
        }
        if change.said.localizedCaseInsensitiveContains("marked for deletion") {
            return StepFailure("the \(service) service on \(name) is marked for deletion: it was removed while a program held it open "
                                   + "(services.msc, Event Viewer, Task Manager's Services tab)\(said)",
                               fix: "close those programs on \(spec.host), or restart Windows, so that it is gone; then install it again "
                                   + "(rabbitmq-service.bat install, in the sbin folder of the RabbitMQ it ran) and retry", node: name)
        }
        if goal == .running && after.startMode == "Disabled" {
            return StepFailure("the \(service) service on \(name) is disabled\(said)",
                               fix: "as an administrator on \(spec.host): Set-Service \(service) -StartupType Automatic; then retry", node: name)
        }
        let before = change.before.flatMap(\.state).map { " (it was \($0))" } ?? ""
        return StepFailure("could not \(doing) on \(name): it is \(after.state ?? "in an unknown state")\(before), not \(goal.windowsState)\(said)",
                           fix: "look at the System event log and \(profile.bootLogs.first ?? "RabbitMQ's log") on \(spec.host); "
                               + "\((goal == .running ? profile.start : profile.stop).joined(separator: " ")) there by hand if needed, then retry", node: name)
    }
}
