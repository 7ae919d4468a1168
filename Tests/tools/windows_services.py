"""The Windows services of a simulated Windows server, as the Service Control Manager keeps them, and the
two ways the wizard's tests move them: PowerShell's Start-Service/Stop-Service (RabbitSetup's PowerShell module's
`Set-RabbitService`) and RabbitMQ's own `rabbitmq-service.bat` (its stand-in, rabbitmq_service_bat.py).

A service lives in DRIVES/services.json, by name:
  state        "Running" | "Stopped" (Win32_Service.State)
  startMode    "Auto" | "Manual" | "Disabled" (Win32_Service.StartMode)
  account      "LocalSystem" or an account name (Win32_Service.StartName)
  path         the binary path (erlsrv.exe of the Erlang the service was installed with)
  home         the rabbitmq_server-* folder whose rabbitmq-service.bat installed it (its ERL_LIBS)
  markedForDeletion  removed while a handle was open: still listed, refuses to start (see remove())

What stands for each service's process: DRIVES/service-control.json, by name, a folder with `start` and
`stop` scripts (a sandbox RabbitMQ node's bin folder).

One-shot faults, DRIVES/faults.json: a name -> the number of times it happens, each use counted down:
  start-fails    the service starts and stops at once ("Erlang machine stopped instantly"): StartPending,
                 then Stopped
  stop-fails     the service does not accept the stop control
  install-fails  erlsrv cannot register the service ("The handle is invalid.", manage-troubleshoot)
  erlang26-install  `install` registers the service and exits 1 (rabbitmq/rabbitmq-server#12135, #14680)
  handle-open    a program (services.msc) holds the service open when it is removed

What each verb does cites the source it follows:
  PS  = PowerShell/PowerShell src/Microsoft.PowerShell.Commands.Management/commands/management/Service.cs
        (Windows PowerShell 5.1's Start-Service and Stop-Service are the same code): DoStartService,
        DoStopService, DoWaitForStatus
  BAT = rabbitmq/rabbitmq-server v3.13.0 deps/rabbit/scripts/rabbitmq-service.bat (v3.8.21 and v4.3.5
        are the same in these lines), by line
  ERL = erlang/otp erts/etc/win32/erlsrv/erlsrv_interactive.c: install_service, remove_service,
        do_remove, do_add_or_set, do_manage
"""
import fcntl
import json
import os
import subprocess
import time


class ServiceError(Exception):
    """What a cmdlet or a program reports: the messages of the exception chain PowerShell's catch sees,
    outermost first; `already` for the errors that only say the service is in that state already."""

    def __init__(self, messages, already=False):
        super().__init__(" ".join(messages))
        self.messages = messages
        self.already = already


def _path(drives, name):
    return os.path.join(drives, name)


class Services:
    def __init__(self, drives):
        self.drives = drives
        self.lock = open(_path(drives, ".services.lock"), "a")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        self.all = self._load("services.json", {})
        self.faults = self._load("faults.json", {})

    def _load(self, name, default):
        try:
            with open(_path(self.drives, name)) as f:
                return json.load(f)
        except FileNotFoundError:
            return default

    def save(self):
        for name, value in (("services.json", self.all), ("faults.json", self.faults)):
            tmp = _path(self.drives, name + ".tmp")
            with open(tmp, "w") as f:
                json.dump(value, f, indent=1)
            os.replace(tmp, _path(self.drives, name))
        self.lock.close()

    def fault(self, name):
        """Whether the one-shot fault happens now (and counts it)."""
        left = self.faults.get(name, 0)
        if left <= 0:
            return False
        self.faults[name] = left - 1
        return True

    def log(self, line):
        with open(_path(self.drives, "service.log"), "a") as f:
            f.write(line + "\n")

    def seen(self, name):
        """Win32_Service as Get-CimInstance shows it (Get-ServiceSeen of RabbitSetup's PowerShell module, RabbitPowerShell.swift)."""
        s = self.all.get(name)
        if s is None:
            return {"exists": False}
        return {"exists": True, "state": s["state"], "startMode": s["startMode"], "account": s["account"], "path": s["path"]}

    def _run(self, name, verb):
        control = self._load("service-control.json", {}).get(name)
        done = subprocess.run([os.path.join(control, verb)], capture_output=True)
        return done.returncode == 0

    # --- What the Service Control Manager does when asked (StartService, ControlService(STOP)). ---

    def scm_start(self, name):
        s = self.all[name]
        if s.get("markedForDeletion"):
            # StartService fails with ERROR_SERVICE_MARKED_FOR_DELETE (1072).
            raise ServiceError(["Cannot start service %s on computer '.'." % name, "The specified service has been marked for deletion."])
        if s["startMode"] == "Disabled":
            # StartService fails with ERROR_SERVICE_DISABLED (1058).
            raise ServiceError(["Cannot start service %s on computer '.'." % name,
                                "The service cannot be started, either because it is disabled or because it has no enabled devices associated with it."])
        if s["state"] == "Running":
            # ERROR_SERVICE_ALREADY_RUNNING (1056).
            raise ServiceError(["An instance of the service is already running."], already=True)
        if self.fault("start-fails") or not self._run(name, "start"):
            # erl.exe ends at once: the service goes from StartPending back to Stopped.
            s["state"] = "Stopped"
            return False
        s["state"] = "Running"
        # When erlsrv last started the emulator (its OnFail rule counts from it: stop_emulator).
        s["emulatorStarted"] = time.time()
        return True

    def scm_stop(self, name):
        s = self.all[name]
        if s["state"] != "Running":
            # ERROR_SERVICE_NOT_ACTIVE (1062).
            raise ServiceError(["The service has not been started."], already=True)
        if self.fault("stop-fails"):
            raise ServiceError(["Cannot stop %s service on computer '.'." % name, "The service cannot accept control messages at this time."])
        self._run(name, "stop")
        s["state"] = "Stopped"
        return True


def _already(e):
    return e.already


def set_rabbit_service(drives, name, want):
    """Set-RabbitService (RabbitSetup's PowerShell module, RabbitPowerShell.swift): read, Start-Service or Stop-Service when not there yet, read again.
    Returns (exit code, answer JSON line)."""
    svc = Services(drives)
    goal = "Running" if want == "running" else "Stopped"
    before = svc.seen(name)
    said = []
    if before["exists"] and before["state"] != goal:
        display = "Service '%s (%s)'" % (name, name)
        try:
            if goal == "Running":
                svc.log("Start-Service")
                try:
                    started = svc.scm_start(name)
                except ServiceError as e:
                    # PS DoStartService: ERROR_SERVICE_ALREADY_RUNNING is not an error; anything else is
                    # CouldNotStartService, "Service '{1} ({0})' cannot be started due to the following error: ...".
                    if not _already(e):
                        raise ServiceError(["%s cannot be started due to the following error: %s" % (display, e.messages[0])] + e.messages)
                    started = True
                if not started:
                    # PS DoWaitForStatus: the status left StartPending for another than Running: StartServiceFailed.
                    raise ServiceError(["Failed to start service '%s (%s)'." % (name, name)])
            else:
                svc.log("Stop-Service")
                try:
                    svc.scm_stop(name)
                except ServiceError as e:
                    # PS DoStopService: ERROR_SERVICE_NOT_ACTIVE is not an error; anything else is CouldNotStopService.
                    if not _already(e):
                        raise ServiceError(["%s cannot be stopped due to the following error: %s" % (display, e.messages[0])] + e.messages)
        except ServiceError as e:
            # Set-RabbitService's catch: every message of the exception chain, outermost first.
            said = e.messages
    after = svc.seen(name)
    svc.save()
    answer = json.dumps({"before": before, "after": after, "said": " ".join(said)})
    return (0 if after.get("exists") and after.get("state") == goal else 1), answer


def service_bat(drives, home, verb):
    """rabbitmq-service.bat VERB, as the script and the programs it calls behave. Returns (exit, out, err)."""
    svc = Services(drives)
    name = "RabbitMQ"  # BAT via rabbitmq-env.bat: RABBITMQ_SERVICENAME defaults to RabbitMQ
    svc.log(verb)
    out, err, code = [], [], 0
    s = svc.all.get(name)
    if verb == "install":
        # BAT 165-170: `erlsrv list NAME`; an existing service only has its parameters updated (`erlsrv set`).
        if s is not None and not s.get("markedForDeletion"):
            out.append("%s service is already present - only updating service parameters" % name)
        else:
            # ERL do_add_or_set/install_service: CreateServiceW(SERVICE_AUTO_START, no account: LocalSystem);
            # it fails while the old one is marked for deletion (ERROR_SERVICE_MARKED_FOR_DELETE) or when the
            # registry is damaged ("The handle is invalid.", OutSystems' manage-troubleshoot page).
            if s is not None or svc.fault("install-fails"):
                why = "The specified service has been marked for deletion." if s is not None else "The handle is invalid."
                err.append("erlsrv: Unable to register %s service with service manager." % name)
                err.append("Error: " + why)
                svc.save()
                # BAT 239-241: a failed erlsrv call ends the script with EXIT /B 1.
                return 1, out, err
            svc.all[name] = s = {"state": "Stopped", "startMode": "Auto", "account": "LocalSystem",
                                 "path": "\"C:\\Program Files\\Erlang\\erts\\bin\\erlsrv.exe\"", "home": home}
        # BAT 220-237: `erlsrv set` stores this folder's ERL_LIBS and arguments; the start type and the
        # account are not touched (ERL do_add_or_set changes the registry keys only).
        s["home"] = home
        if svc.fault("erlang26-install"):
            err.append("erlsrv: Unrecognized option {child_type,worker}].")
            code = 1
    elif verb == "remove":
        # BAT 245-251: `erlsrv remove NAME`; ERL do_remove stops a running service, then remove_service
        # opens and deletes it: no service to open is a failure ("Unable to remove service (not enough
        # privileges?)"), exit 1, which BAT 248-250 turns into EXIT /B 1.
        if s is None or s.get("markedForDeletion"):
            err.append("erlsrv: Unable to remove service (not enough privileges?)")
            code = 1
        else:
            if s["state"] == "Running":
                svc.scm_stop(name)
            if svc.fault("handle-open"):
                # DeleteService with a handle open elsewhere only marks the service for deletion.
                s["markedForDeletion"] = True
            else:
                del svc.all[name]
            out.append("erlsrv: Service %s removed from system." % name)
    elif verb in ("start", "stop"):
        # BAT 254-261: `net start|stop NAME`; net exits 2 when the service is already so (or on any error),
        # which the script turns into EXIT /B 1.
        if s is None:
            err.append("The service name is invalid.")
            code = 1
        else:
            try:
                if verb == "start":
                    if not svc.scm_start(name):
                        err.append("The %s service could not be started." % name)
                        code = 1
                    else:
                        out.append("The %s service was started successfully." % name)
                else:
                    svc.scm_stop(name)
                    out.append("The %s service was stopped successfully." % name)
            except ServiceError as e:
                err.append(("The requested service has already been started." if verb == "start" else
                            "The %s service is not started." % name) if _already(e) else e.messages[-1])
                code = 1
    else:
        out.append("usage")
    svc.save()
    return code, out, err


def _alive(pid):
    try:
        os.kill(pid, 0)
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_emulator(drives, pid):
    """Stop-Process -Id PID -Force (RabbitSetup's PowerShell module's `Stop-RabbitProcess`, RabbitPowerShell.swift) of a
    service's Erlang emulator, and what erlsrv does next. Returns (exit code, error text).

    PS  src/Microsoft.PowerShell.Commands.Management/commands/management/Process.cs, ProcessBaseCommand.
        RetrieveMatchingProcessesById: an id that names no process is the error NoProcessFoundForGivenId, "Cannot find
        a process with the process identifier {1}." (ProcessResources), non-terminating, so the module's
        -ErrorAction Stop makes it the exception its catch reports; StopProcessCommand with -Force ends the process
        (Process.Kill: TerminateProcess). On this simulated server the only processes are the services' emulators.
    BAT lines 179-180 and 221 (v3.13.0 and main): the service is installed with `-onfail !RABBITMQ_SERVICE_RESTART!`,
        `restart` when unset.
    ERL erlsrv's reference manual (erlang.org, erts, erlsrv: "Killing an emulator that is started by a service
        triggers the OnFail action"; `restart`: the emulator is started again, unless it stops again within 10
        seconds, when it is not restarted and the service is reported stopped)."""
    svc = Services(drives)
    controls = svc._load("service-control.json", {})
    for name, control in controls.items():
        try:
            with open(os.path.join(control, "..", "pid")) as f:
                running = f.read().strip()
        except OSError:
            continue
        if running != str(pid) or svc.all.get(name, {}).get("state") != "Running":
            continue
        svc.log("Stop-Process %s" % pid)
        os.kill(int(pid), 9)
        # erlsrv acts when the emulator has ended (it waits on the process): gone, or a zombie here.
        deadline = time.time() + 10
        while time.time() < deadline and _alive(int(pid)):
            time.sleep(0.05)
        s = svc.all[name]
        now = time.time()
        if now - s.get("emulatorStarted", 0) < 10:
            s["state"] = "Stopped"
        else:
            # erlsrv starts the emulator again on its own: the service stays Running meanwhile.
            s["emulatorStarted"] = now
            subprocess.Popen([os.path.join(control, "start")], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        svc.save()
        return 0, ""
    svc.save()
    return 1, "Cannot find a process with the process identifier %s." % pid
