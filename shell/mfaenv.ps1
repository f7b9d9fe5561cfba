# mfaenv shell integration for PowerShell (printed by `mfaenv init powershell`).
#
# A child process cannot change its parent's environment, so `mfaenv` becomes
# a function that runs what the real command prints. It also defines
# `mfaenv_prompt` and completion. Internal names start with __mfaenv_. A
# function shadows the application of the same name, so the application is
# looked up explicitly and user aliases or functions cannot stand in for it;
# the cmdlets the wrapper relies on, and the Remove-Item that mfaenv prints,
# are module-qualified for the same reason.

function global:__mfaenv_application {
    Microsoft.PowerShell.Core\Get-Command -Name mfaenv -CommandType Application -ErrorAction Stop |
        Microsoft.PowerShell.Utility\Select-Object -First 1
}

# list, status, prompt, init, exec, credential-process, console, rotate, keys, doctor, setup, help, the hidden
# profiles and any -h/--help/--version run untouched, straight to the terminal
# (exec's, credential-process's and console's output is not shell code). Everything else
# prints shell code and is run: the CLI routes any other first word (a
# profile, a code, an option such as --force) to `get`; `unset` and `forget`
# print removals.
function global:__mfaenv_changes_shell([string[]] $Arguments) {
    $first = if ($Arguments.Count -gt 0) { [string]$Arguments[0] } else { '' }
    if ($first -eq '' -or $first -in 'list', 'status', 'prompt', 'init', 'profiles', 'exec', 'credential-process', 'console', 'rotate', 'keys', 'doctor', 'setup', 'help') {
        return $false
    }
    -not ($Arguments | Where-Object { $_ -in '-h', '--help', '--version' })
}

function global:mfaenv {
    $application = __mfaenv_application
    if (-not (__mfaenv_changes_shell $args)) {
        # MFAENV_INTEGRATION for this one call: `mfaenv doctor` sees the integration is loaded.
        $previousIntegration = $Env:MFAENV_INTEGRATION
        $Env:MFAENV_INTEGRATION = 'powershell'
        try {
            & $application @args
        }
        finally {
            if ($null -eq $previousIntegration) {
                Microsoft.PowerShell.Management\Remove-Item Env:MFAENV_INTEGRATION -ErrorAction SilentlyContinue
            }
            else {
                $Env:MFAENV_INTEGRATION = $previousIntegration
            }
        }
        return
    }
    # MFAENV_WRAPPER for this one call only: the output must be PowerShell,
    # whatever --shell says (the CLI refuses another syntax). The code prompt
    # uses the console, not the output stream. A failed run keeps its exit
    # code and runs nothing.
    $previousWrapper = $Env:MFAENV_WRAPPER
    $Env:MFAENV_WRAPPER = 'powershell'
    try {
        $code = & $application @args
        $exitCode = $LASTEXITCODE
    }
    finally {
        if ($null -eq $previousWrapper) {
            Microsoft.PowerShell.Management\Remove-Item Env:MFAENV_WRAPPER -ErrorAction SilentlyContinue
        }
        else {
            $Env:MFAENV_WRAPPER = $previousWrapper
        }
    }
    if ($exitCode -eq 0 -and $code) {
        Microsoft.PowerShell.Utility\Invoke-Expression ($code -join "`n")
    }
    $global:LASTEXITCODE = $exitCode
}

# Renewal at the prompt: when this shell's session has 5 minutes or less left
# (or expired) and a new one can be had without a code (a cached session of
# the profile, or a cached MFA session beneath a role), `mfaenv renew
# powershell` prints it and it is run. PowerShell has no hook before the
# prompt: mfaenv_prompt calls this first, so it renews where the prompt shows
# the segment. While nothing is due this starts no process (.NET's clock).
# At most one try per prompt, then none for 60 s after a try that renewed
# nothing (the CLI gives up after 5 s and never asks for a code: its input is
# empty). MFAENV_RENEW=off turns it off. $LASTEXITCODE is kept for the prompt.
function global:__mfaenv_renew {
    if ($Env:MFAENV_RENEW -eq 'off' -or -not $Env:MFAENV_PROFILE -or $Env:MFAENV_EXPIRES -notmatch '^[0-9]{1,11}\z') {
        return
    }
    $now = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
    if ([long]$Env:MFAENV_EXPIRES - $now -gt 300) {
        return
    }
    if ($global:__mfaenv_renew_next -is [long] -and $now -lt $global:__mfaenv_renew_next) {
        return
    }
    $global:__mfaenv_renew_next = [long]($now + 60)
    $exitCode = $global:LASTEXITCODE
    $previousWrapper = $Env:MFAENV_WRAPPER
    $Env:MFAENV_WRAPPER = 'powershell'
    try {
        $code = $null | & (__mfaenv_application) renew powershell
    }
    catch {
        $code = $null
    }
    finally {
        if ($null -eq $previousWrapper) {
            Microsoft.PowerShell.Management\Remove-Item Env:MFAENV_WRAPPER -ErrorAction SilentlyContinue
        }
        else {
            $Env:MFAENV_WRAPPER = $previousWrapper
        }
        $global:LASTEXITCODE = $exitCode
    }
    if ($code) {
        Microsoft.PowerShell.Utility\Invoke-Expression ($code -join "`n")
        $global:__mfaenv_renew_next = [long]0
    }
}

# Returns "stage 123456789012 11h59m", "stage expired", or nothing without a
# session, exactly as `mfaenv prompt` does. A session is there while its
# credentials are. .NET's clock, not a process: a prompt render costs
# microseconds.
function global:mfaenv_prompt {
    __mfaenv_renew
    # Digits only, as in the other shells: anything else is no usable session.
    # \z, not $: .NET's $ also matches before a final newline.
    if (-not $Env:MFAENV_PROFILE -or $Env:MFAENV_EXPIRES -notmatch '^[0-9]{1,11}\z' -or
        -not $Env:AWS_ACCESS_KEY_ID -or -not $Env:AWS_SECRET_ACCESS_KEY -or -not $Env:AWS_SESSION_TOKEN) {
        return ''
    }
    $left = [long]$Env:MFAENV_EXPIRES - [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
    if ($left -le 0) {
        return __mfaenv_shown "$Env:MFAENV_PROFILE expired"
    }
    $minutes = [long][Math]::Floor($left / 60)
    $time = if ($minutes -ge 60) {
        '{0}h{1:00}m' -f [long][Math]::Floor($minutes / 60), ($minutes % 60)
    }
    else {
        '{0}m' -f $minutes
    }
    __mfaenv_shown ((@($Env:MFAENV_PROFILE, $Env:MFAENV_ACCOUNT, $time) | Where-Object { $_ }) -join ' ')
}

# Terminal controls in a profile name or account (ESC, BEL, the one-byte C1
# controls such as U+009D, which starts an OSC) would retitle the window or
# rewrite the screen: they are shown escaped (\x1b, \n), as `mfaenv prompt`
# shows them.
function global:__mfaenv_shown([string] $Text) {
    -join ($Text.ToCharArray() | ForEach-Object {
        $code = [int]$_
        if ($code -eq 9) { '\t' }
        elseif ($code -eq 10) { '\n' }
        elseif ($code -eq 13) { '\r' }
        elseif ($code -lt 32 -or ($code -ge 127 -and $code -le 159)) { '\x{0:x2}' -f $code }
        else { [string]$_ }
    })
}

# Completion of commands, options and profile names. `mfaenv profiles` reads
# the AWS files without loading boto3 or Typer, so a Tab stays quick. The
# wrapper takes no declared parameters, so PowerShell asks this native
# completer, registered under the wrapper's name.
function global:__mfaenv_profiles {
    & (__mfaenv_application) profiles 2>$null
}

Register-ArgumentCompleter -Native -CommandName mfaenv -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $wordToComplete = [string]$wordToComplete
    # The words before the one under the cursor; the first is `mfaenv` itself.
    $before = @($commandAst.CommandElements |
        Where-Object { $_.Extent.EndOffset -lt $cursorPosition } |
        ForEach-Object { $_.ToString() })
    $shells = 'bash', 'zsh', 'fish', 'powershell', 'nu'
    $options = '--shell', '--persist', '--duration', '--source', '--serial', '--force', '--code-command'
    $previous = $before[-1]
    $first = if ($before.Count -gt 1) { $before[1] } else { '' }
    # After `exec PROFILE ... --` comes the command to run: left to PowerShell.
    if ($first -eq 'exec' -and $before -contains '--') { return }
    # Under this wrapper the output is PowerShell: the CLI refuses another syntax.
    $candidates = if ($previous -eq '--shell') { 'powershell' }
    elseif ($previous -in '--source', '--profile', '-p') { __mfaenv_profiles }
    elseif ($previous -in '--duration', '--serial', '--code-command', '--destination', '--region') { @() }
    elseif ($before.Count -eq 1) {
        @('get', 'unset', 'init', 'prompt', 'status', 'list', 'exec', 'credential-process', 'console', 'rotate', 'keys', 'doctor', 'setup', 'forget') + @(__mfaenv_profiles)
    }
    elseif ($first -eq 'init') { if ($before.Count -eq 2) { $shells } }
    elseif ($first -eq 'unset') { '--shell' }
    elseif ($first -in 'list', 'status', 'prompt', 'help') { @() }
    elseif ($first -in 'get', 'exec', 'forget', 'credential-process', 'console' -and $before.Count -eq 2 -and -not $wordToComplete.StartsWith('-')) {
        __mfaenv_profiles
    }
    elseif ($first -eq 'credential-process') { @() }
    elseif ($first -eq 'console') { '--stdout', '--destination' }
    elseif ($first -eq 'exec') { '--duration', '--source', '--serial', '--force', '--code-command', '--' }
    elseif ($first -eq 'forget') { '--persisted', '--shell' }
    else { $options }
    foreach ($candidate in $candidates) {
        if ($candidate.StartsWith($wordToComplete, [StringComparison]::OrdinalIgnoreCase)) {
            # Quote names PowerShell would otherwise split or expand.
            $text = if ($candidate -match '[\s''"`$;,(){}@#|&<>]') { "'" + ($candidate -replace "'", "''") + "'" } else { $candidate }
            [System.Management.Automation.CompletionResult]::new($text, $candidate, 'ParameterValue', $candidate)
        }
    }
}

# To enable, add this line to your profile ($PROFILE):
#
#   mfaenv init powershell | Out-String | Invoke-Expression
