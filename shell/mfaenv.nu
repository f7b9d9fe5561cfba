# mfaenv shell integration for Nushell (printed by `mfaenv init nu`).
#
# A child process cannot change its parent's environment, and Nushell has no
# eval: mfaenv prints one JSON record (variable -> value, null to remove it)
# and the `mfaenv` command defined here loads it as data with load-env and
# hide-env, so no value can ever run as code. This file is a module, which
# Nushell reads when it parses config.nu. A module cannot export a command
# named like itself, so the wrapper is the module's `main`, which
# `use mfaenv.nu *` names `mfaenv`; it also exports `mfaenv_prompt`. The
# helpers, named __mfaenv_*, stay inside the module. `^mfaenv` is always the
# mfaenv program, never this wrapper.

# list, status, prompt, init, exec, credential-process, console, rotate, keys, doctor, setup, help, the hidden
# profiles and any -h/--help/--version run untouched, straight to the terminal
# (their output is not a record to load). Everything else prints a record and
# is loaded: the CLI routes any other first word (a profile, a code, an option
# such as --force) to `get`; `unset` and `forget` print removals.
def __mfaenv_changes_shell [arguments: list<string>]: nothing -> bool {
    let first = ($arguments.0? | default '')
    if $first in ['' list status prompt init profiles exec credential-process console rotate keys doctor setup help] {
        return false
    }
    not ($arguments | any {|argument| $argument in [-h --help --version] })
}

# Fetch AWS MFA session credentials into this shell (`mfaenv stage 123456`)
@complete __mfaenv_complete
export def --env --wrapped main [...arguments: string] {
    # The arguments stay strings: a code such as 012345 is not read as a number.
    if not (__mfaenv_changes_shell $arguments) {
        # MFAENV_INTEGRATION for this one call: `mfaenv doctor` sees the integration is loaded.
        with-env {MFAENV_INTEGRATION: nu} { ^mfaenv ...$arguments }
    } else {
        # MFAENV_WRAPPER for this one call only: the output must be this record, whatever
        # --shell says (the CLI refuses another syntax). The code prompt uses /dev/tty, not
        # stdout. A failed run ends here with its own error and exit status
        # ($env.LAST_EXIT_CODE), as any external command does, and nothing is loaded.
        # Captured whole before it is parsed: piped on into `from json`, a failure's exit
        # status would be lost (Nushell 0.108).
        let output = (with-env {MFAENV_WRAPPER: nu} { ^mfaenv ...$arguments })
        # `forget` prints nothing when this shell held none of the sessions it removed.
        if not ($output | is-empty) {
            let record = ($output | from json)
            let removed = ($record | columns | where {|name| ($record | get $name) == null })
            hide-env --ignore-errors ...$removed
            $record | reject ...$removed | load-env
        }
        # Captured output leaves LAST_EXIT_CODE as the command before set it.
        $env.LAST_EXIT_CODE = 0
    }
}

# Renewal at the prompt: when this shell's session has 5 minutes or less left
# (or expired) and a new one can be had without a code (a cached session of
# the profile, or a cached MFA session beneath a role), `mfaenv renew nu`
# prints its record and it is loaded before the prompt is drawn: a pre_prompt
# hook that `use mfaenv.nu *` adds (first, once). While nothing is due this
# starts no process: the clock is `date now`. At most one try per prompt, then
# none for 60 s after a try that renewed nothing (the CLI gives up after 5 s
# and never asks for a code: its stdin is empty). MFAENV_RENEW=off turns it off.
export-env {
    let hooks = ($env.config?.hooks?.pre_prompt? | default [])
    let hooks = if ($hooks | describe) =~ '^list' { $hooks } else { [$hooks] }
    if not ($hooks | any {|hook| ($hook | describe) == 'closure' and ((view source $hook) =~ '__mfaenv_renew') }) {
        $env.config = ($env.config? | default {} | upsert hooks.pre_prompt ([{|| __mfaenv_renew }] | append $hooks))
    }
}

def --env __mfaenv_renew []: nothing -> nothing {
    if ($env.MFAENV_RENEW? | default '') =~ '(?i)^off\z' {
        return
    }
    let profile = ($env.MFAENV_PROFILE? | default '')
    let expires = ($env.MFAENV_EXPIRES? | default '')
    if ($profile | is-empty) or ($expires !~ '^[0-9]{1,11}\z') {
        return
    }
    let now = ((date now | into int) // 1_000_000_000)
    if (($expires | into int) - $now) > 300 {
        return
    }
    let next = ($env.__MFAENV_RENEW_NEXT? | default '0')
    if ($next =~ '^[0-9]{1,11}\z') and $now < ($next | into int) {
        return
    }
    $env.__MFAENV_RENEW_NEXT = ($now + 60 | into string)
    let output = try { with-env {MFAENV_WRAPPER: nu} { null | ^mfaenv renew nu } } catch { '' }
    if ($output | is-empty) {
        return
    }
    let record = ($output | from json)
    let removed = ($record | columns | where {|name| ($record | get $name) == null })
    hide-env --ignore-errors ...$removed
    $record | reject ...$removed | load-env
    $env.__MFAENV_RENEW_NEXT = '0'
}

# Returns "stage 123456789012 11h59m", "stage expired", or '' without a
# session, exactly as `mfaenv prompt` prints it. A session is there while its
# credentials are: after `hide-env AWS_SESSION_TOKEN` the segment goes.
# Nushell's own clock (`date now`), not a process: a render starts nothing.
export def mfaenv_prompt []: nothing -> string {
    let profile = ($env.MFAENV_PROFILE? | default '')
    let expires = ($env.MFAENV_EXPIRES? | default '')
    let credentials = [$env.AWS_ACCESS_KEY_ID? $env.AWS_SECRET_ACCESS_KEY? $env.AWS_SESSION_TOKEN?]
    # Digits only, as in the other shells: anything else is no usable session.
    # \z, not $: it ends the text, whatever the regex flavour does with a final newline.
    if ($profile | is-empty) or ($credentials | any {|value| $value | is-empty }) or ($expires !~ '^[0-9]{1,11}\z') {
        return ''
    }
    let left = ($expires | into int) - ((date now | into int) // 1_000_000_000)
    if $left <= 0 {
        return (__mfaenv_shown $'($profile) expired')
    }
    let minutes = $left // 60
    let time = if $minutes >= 60 {
        $'($minutes // 60)h($minutes mod 60 | fill --alignment right --character 0 --width 2)m'
    } else {
        $'($minutes)m'
    }
    [$profile ($env.MFAENV_ACCOUNT? | default '') $time] | where {|part| $part != '' } | each {|part| __mfaenv_shown $part } | str join ' '
}

# Terminal controls in a profile name or account (ESC, BEL, the one-byte C1
# controls such as U+009D, which starts an OSC) would retitle the window or
# rewrite the screen: they are shown escaped (\x1b, \n), as `mfaenv prompt`
# shows them. The loop runs only when the text holds one.
def __mfaenv_shown [text: string]: nothing -> string {
    if $text !~ '[\x01-\x1f\x7f-\x9f]' {
        return $text
    }
    let digits = ('0123456789abcdef' | split chars)
    1..159 | where {|code| $code < 32 or $code >= 127 } | reduce --fold $text {|code, shown|
        let escape = match $code {
            9 => '\t'
            10 => '\n'
            13 => '\r'
            _ => $'\x($digits | get ($code // 16))($digits | get ($code mod 16))'
        }
        $shown | str replace --all (char --integer $code) $escape
    }
}

# Completion of commands, options and profile names, for every argument of the
# wrapper (`@complete` above): Nushell hands over the words typed so far and
# shows what comes back as it is. `mfaenv profiles` reads the AWS files without
# loading boto3 or Typer, so a Tab stays quick.
def __mfaenv_complete [spans: list<string>] {
    # The word under the cursor, without a quote the user opened; the words before it,
    # the first of which is `mfaenv` itself.
    let typed = ($spans | last | str replace --regex `^['"]` '')
    let before = ($spans | drop 1)
    let previous = ($before | last)
    let first = ($before.1? | default '')
    # After `exec PROFILE ... --` comes the command to run: null leaves it to Nushell.
    if $first == exec and '--' in $before {
        return null
    }
    let position = ($before | length)
    let fetch_options = [--shell --persist --duration --source --serial --force --code-command]
    # Under this wrapper the output is Nushell's: the CLI refuses another syntax.
    let candidates = if $previous == --shell {
        [nu]
    } else if $previous in [--source --profile -p] {
        __mfaenv_profiles
    } else if $previous in [--duration --serial --code-command --destination --region] {
        []
    } else if $position == 1 {
        [get unset init prompt status list exec credential-process console rotate keys doctor setup forget] | append (__mfaenv_profiles)
    } else if $first == init {
        if $position == 2 { [bash zsh fish powershell nu] } else { [] }
    } else if $first == unset {
        [--shell]
    } else if $first in [list status prompt help] {
        []
    } else if $first in [get exec forget credential-process console] and $position == 2 and not ($typed | str starts-with '-') {
        __mfaenv_profiles
    } else if $first == credential-process {
        []
    } else if $first == console {
        [--stdout --destination]
    } else if $first == exec {
        [--duration --source --serial --force --code-command --]
    } else if $first == forget {
        [--persisted --shell]
    } else {
        $fetch_options
    }
    $candidates | where {|candidate| $candidate | str starts-with $typed } | each {|candidate|
        # A name Nushell would split or read otherwise goes in double-quoted: also the words it
        # takes for a value even where a string is expected (0.108 reads -inf as null).
        if $candidate =~ '^[\w.,:@+=/-]+\z' and $candidate !~ '(?i)^(true|false|null|[+-]?inf|nan)\z' {
            $candidate
        } else {
            let escaped = ($candidate | str replace --all '\' '\\' | str replace --all '"' '\"')
            $'"($escaped)"'
        }
    }
}

def __mfaenv_profiles []: nothing -> list<string> {
    # A broken AWS file or a missing mfaenv shows no error in the middle of the line.
    try { (^mfaenv profiles | complete).stdout | lines } catch { [] }
}

# To enable, save this module once and use it in config.nu:
#
#   mfaenv init nu | save -f ($nu.default-config-dir | path join mfaenv.nu)
#   use mfaenv.nu *
