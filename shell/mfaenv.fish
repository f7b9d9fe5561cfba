# mfaenv shell integration for fish (printed by `mfaenv init fish`).
#
# A child process cannot change its parent's environment, so `mfaenv` becomes
# a function that sources what the real command prints. It also defines
# `mfaenv_prompt` and completion. Internal names start with __mfaenv_.
# `command`, `builtin`, `set`, `string` and `test` are reserved words in fish;
# other builtins are called as `builtin NAME` so user functions cannot stand
# in for them.

# list, status, prompt, init, exec, credential-process, console, rotate, keys, doctor, setup, help, the hidden
# profiles and any -h/--help/--version run untouched, straight to the terminal
# (exec's, credential-process's and console's output is not shell code). Everything else
# prints shell code and is sourced: the CLI routes any other first word (a
# profile, a code, an option such as --force) to `get`; `unset` and `forget`
# print unset statements.
function __mfaenv_changes_shell
    switch "$argv[1]"
        case '' list status prompt init profiles exec credential-process console rotate keys doctor setup help
            return 1
    end
    not builtin contains -- -h $argv
    and not builtin contains -- --help $argv
    and not builtin contains -- --version $argv
end

function mfaenv --description 'Fetch AWS MFA session credentials into this shell'
    # fish_trace would copy the keys onto stderr as they are assigned and
    # sourced: an empty local one hides the user's inside this function only.
    set -l fish_trace
    if not __mfaenv_changes_shell $argv
        # MFAENV_INTEGRATION for this one call: `mfaenv doctor` sees the integration is loaded.
        MFAENV_INTEGRATION=fish command mfaenv $argv
        return $status
    end
    # MFAENV_WRAPPER for this one call only: the output must be fish, whatever
    # --shell says (the CLI refuses another syntax). The code prompt uses
    # /dev/tty, not stdout. A failed run returns its own status and sources
    # nothing.
    set -l __mfaenv_code (MFAENV_WRAPPER=fish command mfaenv $argv)
    or return $status
    # The substitution split the output into lines; join them back whole.
    string join \n -- $__mfaenv_code | builtin source
end

# Renewal at the prompt: when this shell's session has 5 minutes or less left
# (or expired) and a new one can be had without a code (a cached session of
# the profile, or a cached MFA session beneath a role), `mfaenv renew fish`
# prints it and it is sourced before the prompt is drawn (the fish_prompt
# event comes first). fish has no clock of its own: the one `date` a render
# may cost is read here, only while a session is in this shell, and
# mfaenv_prompt reuses it (__mfaenv_clock), so a render still starts one
# process at most while nothing is due. At most one try per prompt, then none
# for 60 s after a try that renewed nothing (the CLI gives up after 5 s and
# never asks for a code: stdin is /dev/null). MFAENV_RENEW=off turns it off.
function __mfaenv_renew --on-event fish_prompt
    set -l fish_trace
    set -e __mfaenv_clock
    string match -qi off -- "$MFAENV_RENEW"; and return 0
    test -n "$MFAENV_PROFILE" -a -n "$AWS_ACCESS_KEY_ID" -a -n "$AWS_SECRET_ACCESS_KEY" -a -n "$AWS_SESSION_TOKEN"
    or return 0
    string match -qr '^[0-9]{1,11}\z' -- "$MFAENV_EXPIRES"; or return 0
    command -q date; or return 0
    set -g __mfaenv_clock (command date +%s)
    set -l __mfaenv_left (builtin math "$MFAENV_EXPIRES - $__mfaenv_clock" 2>/dev/null); or return 0
    test "$__mfaenv_left" -le 300; or return 0
    if string match -qr '^[0-9]{1,11}\z' -- "$__mfaenv_renew_next"; and test $__mfaenv_clock -lt $__mfaenv_renew_next
        return 0
    end
    set -g __mfaenv_renew_next (builtin math $__mfaenv_clock + 60)
    set -l __mfaenv_code (MFAENV_WRAPPER=fish command mfaenv renew fish </dev/null); or return 0
    test -n "$__mfaenv_code"; or return 0
    string join \n -- $__mfaenv_code | builtin source
    set -g __mfaenv_renew_next 0
end

# Prints "stage 123456789012 11h59m", "stage expired", or nothing without a
# session, exactly as `mfaenv prompt` does. A session is there while its
# credentials are: after `set -e AWS_SESSION_TOKEN` the segment goes. fish has
# no clock variable, so one `date` per render is the whole cost (no Python, no
# AWS call); with no `date` on PATH there is no time to show, and no segment.
function mfaenv_prompt --description 'mfaenv prompt segment: profile, account, time left'
    test -n "$MFAENV_PROFILE" -a -n "$AWS_ACCESS_KEY_ID" -a -n "$AWS_SECRET_ACCESS_KEY" -a -n "$AWS_SESSION_TOKEN"
    or return 0
    # Digits only, as in the other shells: anything else is no usable session.
    # \z, not $: PCRE's $ also matches before a final newline.
    string match -qr '^[0-9]{1,11}\z' -- "$MFAENV_EXPIRES"; or return 0
    # The clock the renewal read for this render (used once), else `date`.
    set -l __mfaenv_now $__mfaenv_clock
    set -e __mfaenv_clock
    if test -z "$__mfaenv_now"
        command -q date; or return 0
        set __mfaenv_now (command date +%s)
    end
    # math works in doubles: a value past 2^53 is no usable session either, and
    # its error must not land in the prompt.
    set -l __mfaenv_left (builtin math "$MFAENV_EXPIRES - $__mfaenv_now" 2>/dev/null)
    or return 0
    set -l __mfaenv_parts $MFAENV_PROFILE
    if test "$__mfaenv_left" -le 0
        set -a __mfaenv_parts expired
    else
        set -l __mfaenv_minutes (builtin math "floor($__mfaenv_left / 60)")
        test -n "$MFAENV_ACCOUNT"; and set -a __mfaenv_parts $MFAENV_ACCOUNT
        if test $__mfaenv_minutes -ge 60
            set -a __mfaenv_parts (builtin printf '%dh%02dm' (builtin math "floor($__mfaenv_minutes / 60)") (builtin math "$__mfaenv_minutes % 60"))
        else
            set -a __mfaenv_parts {$__mfaenv_minutes}m
        end
    end
    __mfaenv_shown "$__mfaenv_parts"
end

# Prints its argument with terminal controls (ESC, BEL, the one-byte C1
# controls such as U+009D, which starts an OSC) shown escaped (\x1b, \n), as
# `mfaenv prompt` shows them: a profile name must not retitle the window.
function __mfaenv_shown
    set -l __mfaenv_char
    # Newlines first: from here on, each substitution's output is one line.
    set -l __mfaenv_text (string replace -a \n '\\n' -- $argv[1])
    set __mfaenv_text (string replace -a \t '\\t' -- $__mfaenv_text)
    set __mfaenv_text (string replace -a \r '\\r' -- $__mfaenv_text)
    # Each other control: its code from printf's 'c form, then every copy replaced.
    while set __mfaenv_char (string match -r '[\x01-\x1f\x7f-\x9f]' -- $__mfaenv_text)
        set __mfaenv_text (string replace -a -- $__mfaenv_char (builtin printf '\\\\x%02x' "'$__mfaenv_char") $__mfaenv_text)
    end
    builtin printf '%s' $__mfaenv_text
end

# Completion of commands, options and profile names. `mfaenv profiles` reads
# the AWS files without loading boto3 or Typer, so a Tab stays quick. The
# conditions are our own rather than fish's __fish_* helpers, which are not
# loaded in every fish (e.g. `fish --no-config`).
function __mfaenv_profiles
    command mfaenv profiles 2>/dev/null
end

# True when the word being completed is argument number $argv[1] (1 = first).
function __mfaenv_at_argument
    test (builtin count (builtin commandline -opc)) -eq $argv[1]
end

# True when the first argument is one of $argv.
function __mfaenv_first_is
    set -l __mfaenv_tokens (builtin commandline -opc)
    builtin contains -- "$__mfaenv_tokens[2]" $argv
end

# True when the first argument fetches a session for this shell: `get` or a profile name.
function __mfaenv_fetches
    set -l __mfaenv_tokens (builtin commandline -opc)
    test (builtin count $__mfaenv_tokens) -ge 2
    and not builtin contains -- "$__mfaenv_tokens[2]" unset init prompt status list exec credential-process console rotate keys doctor setup forget help
end

# True after `exec PROFILE ... --`, where the command to run is typed.
function __mfaenv_exec_command
    set -l __mfaenv_tokens (builtin commandline -opc)
    test "$__mfaenv_tokens[2]" = exec
    and builtin contains -- -- $__mfaenv_tokens[3..-1]
end

# Completes the command line after `exec PROFILE ... --` as if it stood alone.
function __mfaenv_complete_command
    set -l __mfaenv_tokens (builtin commandline -opc)
    set -l __mfaenv_index (builtin contains -i -- -- $__mfaenv_tokens)
    set -l __mfaenv_command (string escape -- $__mfaenv_tokens[(builtin math $__mfaenv_index + 1)..-1]) (builtin commandline -ct)
    builtin complete -C (string join ' ' -- $__mfaenv_command)
end

complete -c mfaenv -f
complete -c mfaenv -n '__mfaenv_at_argument 1' -a get -d 'fetch a session for a profile'
complete -c mfaenv -n '__mfaenv_at_argument 1' -a unset -d 'remove the session from this shell'
complete -c mfaenv -n '__mfaenv_at_argument 1' -a init -d 'print the shell integration'
complete -c mfaenv -n '__mfaenv_at_argument 1' -a prompt -d 'print the prompt segment'
complete -c mfaenv -n '__mfaenv_at_argument 1' -a status -d "show this shell's session"
complete -c mfaenv -n '__mfaenv_at_argument 1' -a list -d 'list usable profiles'
complete -c mfaenv -n '__mfaenv_at_argument 1' -a exec -d 'run a command with a session'
complete -c mfaenv -n '__mfaenv_at_argument 1' -a credential-process -d 'credential_process JSON for the AWS CLI and SDKs'
complete -c mfaenv -n '__mfaenv_at_argument 1' -a console -d "open the AWS console as the profile's role"
complete -c mfaenv -n '__mfaenv_at_argument 1' -a doctor -d 'check the set-up without spending a code'
complete -c mfaenv -n '__mfaenv_at_argument 1' -a setup -d 'write a first profile (keys, MFA device)'
complete -c mfaenv -n '__mfaenv_at_argument 1' -a forget -d 'remove cached sessions'
complete -c mfaenv -n '__mfaenv_first_is doctor' -s p -l profile -x -a '(__mfaenv_profiles)' -d 'the profile'
complete -c mfaenv -n '__mfaenv_first_is setup' -l layout -x -a 'seed standard' -d 'layout of the sections written'
complete -c mfaenv -n '__mfaenv_at_argument 1' -a '(__mfaenv_profiles)' -d profile
complete -c mfaenv -n '__mfaenv_at_argument 2; and __mfaenv_first_is get exec credential-process console forget' -a '(__mfaenv_profiles)' -d profile
complete -c mfaenv -n '__mfaenv_first_is console' -l stdout -d 'print the sign-in URL instead of opening it'
complete -c mfaenv -n '__mfaenv_first_is console' -l destination -x -d 'console path or URL to open'
complete -c mfaenv -n '__mfaenv_at_argument 2; and __mfaenv_first_is init' -a 'bash zsh fish powershell nu'
# Under this wrapper the output is fish: the CLI refuses another syntax.
complete -c mfaenv -n '__mfaenv_first_is unset forget' -l shell -x -a fish -d 'shell syntax'
complete -c mfaenv -n '__mfaenv_first_is forget' -l persisted -d 'also remove the session --persist wrote'
complete -c mfaenv -n __mfaenv_fetches -l shell -x -a fish -d 'shell syntax'
complete -c mfaenv -n __mfaenv_fetches -l persist -d 'also write the credentials file'
complete -c mfaenv -n '__mfaenv_fetches; or __mfaenv_first_is exec; and not __mfaenv_exec_command' -l duration -x -d 'session length in seconds'
complete -c mfaenv -n '__mfaenv_fetches; or __mfaenv_first_is exec; and not __mfaenv_exec_command' -l source -x -a '(__mfaenv_profiles)' -d 'profile with the long-term keys'
complete -c mfaenv -n '__mfaenv_fetches; or __mfaenv_first_is exec; and not __mfaenv_exec_command' -l serial -x -d 'MFA device ARN'
complete -c mfaenv -n '__mfaenv_fetches; or __mfaenv_first_is exec credential-process; and not __mfaenv_exec_command' -s p -l profile -x -a '(__mfaenv_profiles)' -d 'the profile'
complete -c mfaenv -n '__mfaenv_fetches; or __mfaenv_first_is exec; and not __mfaenv_exec_command' -l region -x -d 'region instead of the profile\'s'
complete -c mfaenv -n '__mfaenv_fetches; or __mfaenv_first_is exec; and not __mfaenv_exec_command' -l force -d 'fetch even when a valid session exists'
complete -c mfaenv -n '__mfaenv_fetches; or __mfaenv_first_is exec; and not __mfaenv_exec_command' -l code-command -x -d 'command that prints the code'
# After `exec PROFILE ... --`: the command and its arguments, as fish completes them.
complete -c mfaenv -n __mfaenv_exec_command -x -a '(__mfaenv_complete_command)'

# To enable, add this line to ~/.config/fish/config.fish:
#
#   mfaenv init fish | source
