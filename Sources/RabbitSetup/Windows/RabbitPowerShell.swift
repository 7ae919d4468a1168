import Executor

/// What a Windows server's RabbitMQ is asked in PowerShell, beyond the executor's library of files,
/// secrets and programs (``PowerShellLibrary``): a module that ``WindowsHost``'s calls carry
/// (``CommandSpec/powershellModule``), constant text like the library's.
///
/// `Set-RabbitService NAME running|stopped` moves a service by its observed state (`Win32_Service`):
/// nothing when it is already there; else `Start-Service` or `Stop-Service`, then the state is read again
/// and decides (exit 0 when it holds); it answers what it saw before and after and what Windows said.
///
/// `Stop-RabbitProcess PID` ends a process at once (`Stop-Process -Force`: TerminateProcess), for the
/// failover drill's `hard` mode: exit 0 when it was ended, 1 with Windows' words when not.
///
/// `Get-RabbitLayout SERVICE` is the read-only look at the installation (``WindowsLayout``): the user
/// and its rights, the machine-wide `RABBITMQ_BASE` and node name, the environment erlsrv stored for the
/// service, the Platform Server's RabbitMQ folders, the service's state, the cookie copies Erlang may read,
/// the OpenSSH version and default shell; one JSON object.
///
/// Not run on Windows here: checked like the library (`tree-sitter-powershell`, and the simulated host,
/// `Tests/tools/windows_host.py` with `Tests/tools/windows_services.py`).
enum RabbitPowerShell {
    static let layout = "Get-RabbitLayout"
    static let service = "Set-RabbitService"
    static let stopProcess = "Stop-RabbitProcess"

    static let module = PowerShellModule(functions: [layout, service, stopProcess], text: #"""
        function Stop-RabbitProcess([string]$Id) {
            try { Stop-Process -Id ([int]$Id) -Force -ErrorAction Stop } catch { Write-Err ($_.Exception.Message + "`n"); return 1 }
            return 0
        }
        function Get-ServiceSeen([string]$Name) {
            $svc = Get-CimInstance -ClassName Win32_Service -Filter ("Name='" + $Name.Replace("'", "''") + "'") -ErrorAction SilentlyContinue
            if (-not $svc) { return [ordered]@{ exists = $false } }
            return [ordered]@{ exists = $true; state = [string]$svc.State; startMode = [string]$svc.StartMode; account = [string]$svc.StartName
                               path = [string]$svc.PathName }
        }
        function Set-RabbitService([string]$Name, [string]$Want) {
            $goal = 'Stopped'
            if ($Want -eq 'running') { $goal = 'Running' }
            $before = Get-ServiceSeen $Name
            $said = @()
            if ($before.exists -and $before.state -ne $goal) {
                try {
                    if ($goal -eq 'Running') { Start-Service -Name $Name -ErrorAction Stop -WarningAction SilentlyContinue }
                    else { Stop-Service -Name $Name -Force -ErrorAction Stop -WarningAction SilentlyContinue }
                } catch {
                    for ($e = $_.Exception; $e; $e = $e.InnerException) { $said += $e.Message }
                }
            }
            $after = Get-ServiceSeen $Name
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while ($after.exists -and $after.state -like '*Pending' -and [DateTime]::UtcNow -lt $deadline) {
                Start-Sleep -Milliseconds 500
                $after = Get-ServiceSeen $Name
            }
            Write-Out ((ConvertTo-Json -InputObject ([ordered]@{ before = $before; after = $after; said = ($said -join ' ') }) -Compress) + "`n")
            if ($after.exists -and $after.state -eq $goal) { return 0 }
            return 1
        }
        function Get-RabbitLayout([string]$ServiceName) {
            $id = [Security.Principal.WindowsIdentity]::GetCurrent()
            $seen = [ordered]@{}
            $seen.powershell = $PSVersionTable.PSVersion.ToString()
            $seen.administrator = (New-Object Security.Principal.WindowsPrincipal $id).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
            $seen.user = $id.Name
            $seen.windir = [string]$env:windir
            $seen.homeDrive = [string]$env:HOMEDRIVE
            $seen.homePath = [string]$env:HOMEPATH
            $seen.userProfile = [string]$env:USERPROFILE
            $seen.machineBase = [string][Environment]::GetEnvironmentVariable('RABBITMQ_BASE', 'Machine')
            $seen.machineNodeName = [string][Environment]::GetEnvironmentVariable('RABBITMQ_NODENAME', 'Machine')
            $seen.erlangHome = [string][Environment]::GetEnvironmentVariable('ERLANG_HOME', 'Machine')
            $seen.serviceEnv = @()
            $erlsrv = 'HKLM:\SOFTWARE\Ericsson\Erlang\ErlSrv\1.1\' + $ServiceName
            if (Test-Path -LiteralPath $erlsrv) {
                $stored = (Get-ItemProperty -LiteralPath $erlsrv -Name Env -ErrorAction SilentlyContinue).Env
                if ($stored) { $seen.serviceEnv = @($stored) }
            }
            $seen.platformServer = ''
            if (Test-Path -LiteralPath 'HKLM:\SOFTWARE\OutSystems\Installer\Server') {
                $seen.platformServer = [string](Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\OutSystems\Installer\Server').'(default)'
            }
            $seen.rabbitHomes = @()
            if ($seen.platformServer) {
                $third = Join-Path $seen.platformServer 'thirdparty\RabbitMQ Server'
                if (Test-Path -LiteralPath $third -PathType Container) {
                    $seen.rabbitHomes = @(Get-ChildItem -LiteralPath $third -Directory -Filter 'rabbitmq_server-*' | ForEach-Object { $_.FullName })
                }
            }
            $service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
            if ($service) { $seen.service = [string]$service.Status } else { $seen.service = 'missing' }
            $seen.hostName = [Net.Dns]::GetHostName()
            $seen.extraCookies = @(@((Join-Path $env:windir 'SysWOW64\config\systemprofile\.erlang.cookie'), (Join-Path $env:windir '.erlang.cookie')) | Where-Object { Test-Path -LiteralPath $_ -PathType Leaf })
            $sshd = Join-Path $env:windir 'System32\OpenSSH\sshd.exe'
            $running = Get-CimInstance -ClassName Win32_Service -Filter "Name='sshd'" -ErrorAction SilentlyContinue
            if ($running -and $running.PathName) {
                $exe = ([string]$running.PathName).Trim()
                if ($exe.StartsWith('"')) { $exe = $exe.Substring(1, $exe.IndexOf('"', 1) - 1) } elseif ($exe.Contains(' ')) { $exe = $exe.Substring(0, $exe.IndexOf(' ')) }
                if (Test-Path -LiteralPath $exe -PathType Leaf) { $sshd = $exe }
            }
            $seen.openssh = ''
            if (Test-Path -LiteralPath $sshd -PathType Leaf) { $seen.openssh = [string](Get-Item -LiteralPath $sshd).VersionInfo.ProductVersion }
            $seen.defaultShell = ''
            if (Test-Path -LiteralPath 'HKLM:\SOFTWARE\OpenSSH') { $seen.defaultShell = [string](Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\OpenSSH').DefaultShell }
            Write-Out ((ConvertTo-Json -InputObject $seen -Compress) + "`n")
            return 0
        }

        """#)
}
