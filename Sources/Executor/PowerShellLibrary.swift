/// The fixed PowerShell library every per-call script of the Windows dialect starts with, and the one
/// call it ends with (``PowerShellWire/script(for:)``). The library is constant text: the only variable
/// part of a script is its last line, `Complete-Call { NAME 'ARG' 'ARG' ... }`, every argument a
/// PowerShell verbatim string (``PowerShellWire/literal(_:)``).
///
/// A command whose `argv[0]` is one of ``functions`` is a library call with the rest of argv as its
/// arguments (``PowerShellLibrary`` is what a Windows ``ServerHost`` speaks: files, secrets, port probes);
/// any other argv runs a program through `Invoke-Native` (`ProcessStartInfo`, arguments quoted by the
/// `CommandLineToArgvW` rules). `Invoke-WithCookie FILE STATUS PROGRAM ARGS...` runs PROGRAM only when
/// FILE exists, else exits STATUS (an Erlang VM without a cookie writes a new random one).
///
/// Each function returns its exit code as an `[int]` and writes only through `Write-Out`/`Write-Err`
/// (UTF-8 without a BOM, straight to the process's streams); `Complete-Call` frames the answer: a begin
/// line before the call's output (what an outer shell printed before it, a profile's banner, is not the
/// answer), then, after turning an exception into exit 1 with its message, the sentinel line the
/// controller reads the exit code from. A native program's output is passed on as UTF-8 when it is
/// valid UTF-8, else decoded from the console's OEM code page (what cmd.exe and `net` write).
///
/// Modes on Windows, as the steps speak them: `600` is a private ACL (inheritance removed; only SYSTEM,
/// Administrators, by SID, and the login user, who runs the CLI), `400` the same with the ReadOnly
/// attribute (what Erlang's `mode=8#400` means there), `644` the folder's inherited access. `owner` is
/// the ACL's owner as Windows names it, kept when a file is replaced and carried with a backup and its
/// restore (`icacls /setowner`). Erlang checks no ACL on Windows: the ACL is hardening only.
///
/// Functions that belong to a layer above (RabbitMQ's service and installation on a Windows server) come as
/// a ``PowerShellModule`` the command carries (``CommandSpec/powershellModule``): its constant text follows
/// the library in that command's script, and its functions may be called by name like the library's.
///
/// Not run on Windows here (no PowerShell on these machines): the library is checked by
/// `tree-sitter-powershell` (syntax) and by the simulated host, which carries out each call's meaning in
/// Python against a folder standing in for the drives (`Tests/tools/windows_host.py`).
public enum PowerShellLibrary {
    /// The functions a command may call by name: the library's and its module's.
    static func functions(for spec: CommandSpec) -> Set<String> { functions.union(spec.powershellModule?.functions ?? []) }

    /// The functions a command may call by name (argv[0]).
    public static let functions: Set<String> = [
        "Observe-File", "Write-FileAtomic", "Restore-File", "Remove-File", "Find-Files", "Remove-Files",
        "Find-Program", "Read-Secret", "Read-Tail", "Test-Ports", "Swap-File",
    ]

    /// `argv[0]` of a program run behind the cookie guard: `Invoke-WithCookie FILE STATUS PROGRAM ARGS...`
    /// (carried out by `Invoke-Native`).
    public static let cookieGuard = "Invoke-WithCookie"

    /// What `-EncodedCommand` carries: reads the per-call script from stdin and runs it.
    public static var bootstrap: String { PowerShellWire.bootstrap }

    public static let text = #"""
        param($r)
        $ErrorActionPreference = 'Stop'
        $ProgressPreference = 'SilentlyContinue'
        $Utf8 = New-Object System.Text.UTF8Encoding $false
        $Utf8Strict = New-Object System.Text.UTF8Encoding $false, $true
        $InputLine = $r.ReadLine()
        $Stdout = [Console]::OpenStandardOutput()
        $Stderr = [Console]::OpenStandardError()
        $PrivateSids = @('S-1-5-18', 'S-1-5-32-544', [Security.Principal.WindowsIdentity]::GetCurrent().User.Value)

        function Write-Bytes($Stream, [byte[]]$Bytes) { $Stream.Write($Bytes, 0, $Bytes.Length); $Stream.Flush() }
        function Write-Out([string]$Text) { Write-Bytes $Stdout ($Utf8.GetBytes($Text)) }
        function Write-Err([string]$Text) { Write-Bytes $Stderr ($Utf8.GetBytes($Text)) }
        function Get-InputBytes {
            if ($InputLine) { return ,([Convert]::FromBase64String($InputLine)) }
            return ,([byte[]]@())
        }
        function New-TempPath([string]$Path) {
            return [IO.Path]::Combine([IO.Path]::GetDirectoryName($Path), '.' + [IO.Path]::GetFileName($Path) + '.rabbit-wizard.' + [Guid]::NewGuid().ToString('N'))
        }
        function Clear-ReadOnly([string]$Path) {
            if (Test-Path -LiteralPath $Path -PathType Leaf) { (Get-Item -LiteralPath $Path -Force).IsReadOnly = $false }
        }
        function Remove-Temp([string]$Path) {
            if (Test-Path -LiteralPath $Path -PathType Leaf) { Clear-ReadOnly $Path; Remove-Item -LiteralPath $Path -Force }
        }
        function Test-Private([string]$Path) {
            $acl = Get-Acl -LiteralPath $Path
            if (-not $acl.AreAccessRulesProtected) { return $false }
            foreach ($rule in $acl.GetAccessRules($true, $true, [Security.Principal.SecurityIdentifier])) {
                if ($rule.AccessControlType -eq 'Allow' -and $PrivateSids -notcontains $rule.IdentityReference.Value) { return $false }
            }
            return $true
        }
        function Get-Mode([string]$Path) {
            if (-not (Test-Private $Path)) { return '644' }
            if ((Get-Item -LiteralPath $Path -Force).IsReadOnly) { return '400' }
            return '600'
        }
        function Set-Mode([string]$Path, [string]$Mode) {
            if ($Mode -eq '644') {
                if (Test-Private $Path) {
                    & icacls.exe $Path '/reset' | Out-Null
                    if ($LASTEXITCODE -ne 0) { throw ('icacls could not reset the access to ' + $Path + ' (exit ' + $LASTEXITCODE + ')') }
                }
                return
            }
            & icacls.exe $Path '/inheritance:r' '/grant:r' '*S-1-5-18:F' '*S-1-5-32-544:F' ('*' + $PrivateSids[2] + ':F') | Out-Null
            if ($LASTEXITCODE -ne 0) { throw ('icacls could not limit the access to ' + $Path + ' (exit ' + $LASTEXITCODE + ')') }
            if ($Mode -eq '400') { (Get-Item -LiteralPath $Path -Force).IsReadOnly = $true }
        }
        function Set-Owner([string]$Path, [string]$Owner) {
            if (-not $Owner -or (Get-Acl -LiteralPath $Path).Owner -eq $Owner) { return }
            & icacls.exe $Path '/setowner' $Owner | Out-Null
            if ($LASTEXITCODE -ne 0) { throw ('icacls could not make ' + $Owner + ' the owner of ' + $Path + ' (exit ' + $LASTEXITCODE + ')') }
        }
        function Copy-Access([string]$From, [string]$To) {
            $source = Get-Acl -LiteralPath $From
            $sddl = $source.GetSecurityDescriptorSddlForm('Access')
            $item = Get-Item -LiteralPath $To -Force
            $acl = $item.GetAccessControl('Access')
            $acl.SetSecurityDescriptorSddlForm($sddl, 'Access')
            $item.SetAccessControl($acl)
            Set-Owner $To $source.Owner
        }
        function Copy-Kept([string]$From, [string]$To) {
            $tmp = New-TempPath $To
            try {
                [IO.File]::Copy($From, $tmp, $false)
                Copy-Access $From $tmp
                if (Test-Path -LiteralPath $To -PathType Leaf) {
                    Clear-ReadOnly $To
                    $readOnly = (Get-Item -LiteralPath $tmp -Force).IsReadOnly
                    Clear-ReadOnly $tmp
                    [IO.File]::Replace($tmp, $To, [NullString]::Value)
                    Copy-Access $From $To
                    if ($readOnly) { (Get-Item -LiteralPath $To -Force).IsReadOnly = $true }
                } else {
                    [IO.File]::Move($tmp, $To)
                }
            } finally { Remove-Temp $tmp }
        }

        function Observe-File([string]$Path, [string]$Max, [string]$Want) {
            if (-not (Test-Path -LiteralPath $Path)) { Write-Out "{`"kind`":`"missing`"}`n"; return 0 }
            $item = Get-Item -LiteralPath $Path -Force
            if ($item.Attributes -band [IO.FileAttributes]::ReparsePoint) { Write-Out "{`"kind`":`"symlink`"}`n"; return 0 }
            if ($item.PSIsContainer) { Write-Out "{`"kind`":`"other`"}`n"; return 0 }
            $seen = [ordered]@{ kind = 'regular'; mode = (Get-Mode $Path); owner = (Get-Acl -LiteralPath $Path).Owner; size = $item.Length
                                sha256 = (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant() }
            if ($Want -eq 'bytes') {
                if ($item.Length -gt [long]$Max) { $seen.tooLarge = $true } else { $seen.bytes = [Convert]::ToBase64String([IO.File]::ReadAllBytes($Path)) }
            }
            Write-Out ((ConvertTo-Json -InputObject $seen -Compress) + "`n")
            return 0
        }
        function Write-FileAtomic([string]$Path, [string]$Mode, [string]$Backup) {
            $bytes = Get-InputBytes
            $owner = ''
            if (Test-Path -LiteralPath $Path -PathType Leaf) { $owner = (Get-Acl -LiteralPath $Path).Owner }
            $tmp = New-TempPath $Path
            try {
                $fs = New-Object IO.FileStream($tmp, [IO.FileMode]::CreateNew, [IO.FileAccess]::Write, [IO.FileShare]::None, 4096, [IO.FileOptions]::WriteThrough)
                try { $fs.Write($bytes, 0, $bytes.Length); $fs.Flush($true) } finally { $fs.Dispose() }
                if ($Mode -ne '644') { Set-Mode $tmp '600' }
                if ($Backup -and (Test-Path -LiteralPath $Path -PathType Leaf) -and -not (Test-Path -LiteralPath $Backup)) { Copy-Kept $Path $Backup }
                if (Test-Path -LiteralPath $Path -PathType Leaf) {
                    Clear-ReadOnly $Path
                    [IO.File]::Replace($tmp, $Path, [NullString]::Value)
                } else {
                    [IO.File]::Move($tmp, $Path)
                }
                Set-Mode $Path $Mode
                Set-Owner $Path $owner
            } finally { Remove-Temp $tmp }
            Write-Out ((Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant() + "`n")
            return 0
        }
        function Swap-File([string]$Path, [string]$Expect, [string]$Change) {
            $mutex = New-Object Threading.Mutex($false, 'Global\rabbit-wizard-swap')
            try { $held = $mutex.WaitOne(10000) } catch [Threading.AbandonedMutexException] { $held = $true }
            if (-not $held) { Write-Err "another rabbit-wizard's lock operation has held this server for over 10 s`n"; return 75 }
            try {
                $item = Get-Item -LiteralPath $Path -Force -ErrorAction SilentlyContinue
                if ($item -and ($item.PSIsContainer -or ($item.Attributes -band [IO.FileAttributes]::ReparsePoint))) {
                    Write-Err ($Path + " is not a regular file`n"); return 3
                }
                if ($item) {
                    $have = (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
                    $age = [long][Math]::Floor(([DateTime]::UtcNow - $item.LastWriteTimeUtc).TotalSeconds)
                    Write-Out ('found ' + $have + ' ' + $age + "`n" + [Convert]::ToBase64String([IO.File]::ReadAllBytes($Path)) + "`n")
                } else {
                    $have = 'absent'
                    Write-Out "absent`n`n"
                }
                if ($Change -eq 'read' -or $have -ne $Expect) { Write-Out "kept`n"; return 0 }
                if ($Change -eq 'remove') { Remove-Temp $Path; Write-Out "removed`n"; return 0 }
                Write-Out 'put '
                $null = Write-FileAtomic $Path '600' ''
                return 0
            } finally { $mutex.ReleaseMutex(); $mutex.Dispose() }
        }
        function Restore-File([string]$Path, [string]$Backup) {
            if (-not (Test-Path -LiteralPath $Backup -PathType Leaf)) { Write-Err ('the backup ' + $Backup + " is missing`n"); return 3 }
            Copy-Kept $Backup $Path
            return 0
        }
        function Remove-File([string]$Path) {
            Remove-Temp $Path
            return 0
        }
        function Find-Files {
            for ($i = 0; $i + 1 -lt $args.Count; $i += 2) {
                $prefix = [string]$args[$i]; $suffix = [string]$args[$i + 1]
                $dir = [IO.Path]::GetDirectoryName($prefix)
                if (-not (Test-Path -LiteralPath $dir -PathType Container)) { continue }
                foreach ($f in (Get-ChildItem -LiteralPath $dir -File -Force)) {
                    $name = $f.FullName
                    if ($f.Attributes -band [IO.FileAttributes]::ReparsePoint) { continue }
                    if ($name.Length -lt $prefix.Length + $suffix.Length) { continue }
                    if (-not $name.StartsWith($prefix, [StringComparison]::OrdinalIgnoreCase)) { continue }
                    if (-not $name.EndsWith($suffix, [StringComparison]::OrdinalIgnoreCase)) { continue }
                    Write-Out ([string]$f.Length + "`t" + $prefix + $name.Substring($prefix.Length) + "`n")
                }
            }
            return 0
        }
        function Remove-Files {
            foreach ($p in $args) { Remove-Temp ([string]$p) }
            return 0
        }
        function Find-Program([string]$Name) {
            if (Get-Command -Name $Name -CommandType Application -ErrorAction SilentlyContinue) { return 0 }
            return 1
        }
        function Read-Secret([string]$Path) {
            Write-Bytes $Stdout ([IO.File]::ReadAllBytes($Path))
            return 0
        }
        function Read-Tail([string]$Path, [string]$Count) {
            $fs = [IO.File]::Open($Path, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::ReadWrite)
            try {
                $n = [int][Math]::Min([long]$Count, $fs.Length)
                [void]$fs.Seek(-$n, [IO.SeekOrigin]::End)
                $b = New-Object byte[] $n
                $got = 0
                while ($got -lt $n) { $k = $fs.Read($b, $got, $n - $got); if ($k -le 0) { break }; $got += $k }
                Write-Bytes $Stdout $b
            } finally { $fs.Dispose() }
            return 0
        }
        function Test-Ports([string]$Mode) {
            $tries = @()
            foreach ($hp in $args) {
                $at = ([string]$hp).LastIndexOf(':')
                $c = New-Object Net.Sockets.TcpClient
                $tries += ,@([string]$hp, $c, $c.ConnectAsync(([string]$hp).Substring(0, $at), [int](([string]$hp).Substring($at + 1))))
            }
            $deadline = [DateTime]::UtcNow.AddSeconds(3)
            foreach ($t in $tries) {
                $ok = $false
                try {
                    if ($t[2].Wait([int][Math]::Max(0, ($deadline - [DateTime]::UtcNow).TotalMilliseconds)) -and $t[1].Connected) {
                        if ($Mode -eq 'amqp') {
                            $s = $t[1].GetStream()
                            $header = [byte[]](65, 77, 81, 80, 0, 0, 9, 1)
                            $s.Write($header, 0, $header.Length)
                            $buffer = New-Object byte[] 1
                            $read = $s.ReadAsync($buffer, 0, 1)
                            $ok = $read.Wait([int][Math]::Max(0, ($deadline - [DateTime]::UtcNow).TotalMilliseconds)) -and $read.Result -eq 1 -and $buffer[0] -eq 1
                        } else { $ok = $true }
                    }
                } catch { $ok = $false }
                $t[1].Dispose()
                if ($ok) { Write-Out ('ok ' + $t[0] + "`n") } else { Write-Out ('no ' + $t[0] + "`n") }
            }
            return 0
        }
        function Invoke-Native([string]$CookieFile, [string]$NoCookieStatus, [string]$FileName, [string]$Arguments, [string]$WorkingDirectory) {
            if ($CookieFile -and -not (Test-Path -LiteralPath $CookieFile -PathType Leaf)) {
                Write-Err ('rabbit-wizard: no Erlang cookie at ' + $CookieFile + "`n")
                return [int]$NoCookieStatus
            }
            $psi = New-Object System.Diagnostics.ProcessStartInfo
            $psi.FileName = $FileName
            $psi.Arguments = $Arguments
            if ($WorkingDirectory) { $psi.WorkingDirectory = $WorkingDirectory }
            for ($i = 0; $i + 1 -lt $args.Count; $i += 2) { $psi.EnvironmentVariables[[string]$args[$i]] = [string]$args[$i + 1] }
            $psi.UseShellExecute = $false
            $psi.RedirectStandardInput = $true
            $psi.RedirectStandardOutput = $true
            $psi.RedirectStandardError = $true
            try { $p = [System.Diagnostics.Process]::Start($psi) } catch {
                Write-Err ('rabbit-wizard: cannot start ' + $FileName + ': ' + $_.Exception.Message + "`n")
                return 127
            }
            $outBytes = New-Object IO.MemoryStream
            $errBytes = New-Object IO.MemoryStream
            $out = $p.StandardOutput.BaseStream.CopyToAsync($outBytes)
            $err = $p.StandardError.BaseStream.CopyToAsync($errBytes)
            $in = Get-InputBytes
            if ($in.Length -gt 0) { $p.StandardInput.BaseStream.Write($in, 0, $in.Length) }
            $p.StandardInput.Close()
            $p.WaitForExit()
            $out.Wait()
            $err.Wait()
            Write-Out (ConvertFrom-NativeBytes $outBytes.ToArray())
            Write-Err (ConvertFrom-NativeBytes $errBytes.ToArray())
            return $p.ExitCode
        }
        function ConvertFrom-NativeBytes([byte[]]$Bytes) {
            try { return $Utf8Strict.GetString($Bytes) } catch {
                return [Text.Encoding]::GetEncoding([Globalization.CultureInfo]::CurrentCulture.TextInfo.OEMCodePage).GetString($Bytes)
            }
        }
        function Complete-Call([scriptblock]$Call) {
            Write-Out ("##rabbit-wizard-begin`n")
            try { $code = [int](@(& $Call)[-1]) } catch { Write-Err ('rabbit-wizard: ' + $_.Exception.Message + "`n"); $code = 1 }
            Write-Out ("`n" + '##rabbit-wizard-exit ' + $code + "`n")
            exit $code
        }

        """#
}

/// More functions for the library, from the layer that needs them: constant text (each function written
/// like the library's, returning its exit code and writing through `Write-Out`/`Write-Err`) and the names
/// a command may call. The executor knows only that they are PowerShell.
public struct PowerShellModule: Sendable, Hashable {
    public let functions: Set<String>
    public let text: String

    public init(functions: Set<String>, text: String) {
        self.functions = functions
        self.text = text
    }
}
