# mfaenv shell integration for zsh (printed by `mfaenv init zsh`).
#
# A child process cannot change its parent's environment, so `mfaenv` becomes
# a function that evaluates what the real command prints. It also defines
# `mfaenv_prompt` and completion. Internal names start with __mfaenv_;
# builtins are called as `\builtin NAME` so user aliases and functions cannot
# break them; `emulate -L zsh` shields each function from the user's options.
# mfaenv.bash is the same design, line for line where it can be.

# The shell's own clock, without a process: only the strftime builtin of
# zsh/datetime. Its parameters ($EPOCHSECONDS) are left alone: one inherited
# from the environment would make zmodload complain and could hold code that
# prompt arithmetic runs, or a frozen number.
zmodload -F zsh/datetime b:strftime

# list, status, prompt, init, exec, credential-process, console, rotate, keys, doctor, setup, help, the hidden
# profiles and any -h/--help/--version run untouched, straight to the terminal
# (exec's, credential-process's and console's output is not shell code). Everything else
# prints shell code and is evaluated: the CLI routes any other first word (a
# profile, a code, an option such as --force) to `get`; `unset` and `forget`
# print unset statements.
__mfaenv_changes_shell() {
    \builtin emulate -L zsh
    case ${1-} in
        '' | list | status | prompt | init | profiles | exec | credential-process | console | rotate | keys | doctor | setup | help) return 1 ;;
    esac
    (( ! ${argv[(Ie)-h]} && ! ${argv[(Ie)--help]} && ! ${argv[(Ie)--version]} ))
}

mfaenv() {
    # xtrace would copy the keys onto stderr as they are assigned and
    # evaluated; emulate -L makes every option local, so the user's xtrace
    # comes back on return.
    \builtin emulate -L zsh
    \builtin setopt no_xtrace
    if ! __mfaenv_changes_shell "$@"; then
        # MFAENV_INTEGRATION for this one call: `mfaenv doctor` sees the integration is loaded.
        MFAENV_INTEGRATION=zsh \builtin command mfaenv "$@"
        return
    fi
    \builtin local __mfaenv_code
    # MFAENV_WRAPPER for this one call only: the output must be zsh, whatever
    # --shell says (the CLI refuses another syntax). The code prompt uses
    # /dev/tty, not stdout. A failed run returns its own status and evaluates
    # nothing.
    __mfaenv_code=$(MFAENV_WRAPPER=zsh \builtin command mfaenv "$@") || return
    \builtin eval "$__mfaenv_code"
}

# Renewal at the prompt: when this shell's session has 5 minutes or less left
# (or expired) and a new one can be had without a code (a cached session of
# the profile, or a cached MFA session beneath a role), `mfaenv renew zsh`
# prints it and it is evaluated before the prompt is drawn. While nothing is
# due this starts no process: the clock is strftime's. At most one try per
# prompt, then none for 60 s after a try that renewed nothing (the CLI gives
# up after 5 s and never asks for a code: stdin is /dev/null). MFAENV_RENEW=off
# turns it off. It runs first among the precmd hooks, and again from
# mfaenv_prompt when that runs in this shell (not in a $(...) subshell), so
# that a hook set up before this file still shows the renewed session.
__mfaenv_renew() {
    \builtin local __mfaenv_status=$?
    \builtin emulate -L zsh
    \builtin setopt no_xtrace
    __mfaenv_renew_due && __mfaenv_renew_run
    return $__mfaenv_status
}

__mfaenv_renew_due() {
    \builtin emulate -L zsh
    [[ ${(L)MFAENV_RENEW-} != off && -n ${MFAENV_PROFILE-} && ${MFAENV_EXPIRES-} == <-> && ${#MFAENV_EXPIRES} -le 11 ]] ||
        return 1
    \builtin local __mfaenv_now
    \builtin strftime -s __mfaenv_now %s
    (( 10#$MFAENV_EXPIRES - 10#$__mfaenv_now <= 300 )) || return 1
    [[ ${__mfaenv_renew_next-} == <-> && ${#__mfaenv_renew_next} -le 11 ]] &&
        (( 10#$__mfaenv_now < 10#$__mfaenv_renew_next )) && return 1
    typeset -g __mfaenv_renew_next=$(( 10#$__mfaenv_now + 60 ))
}

__mfaenv_renew_run() {
    \builtin emulate -L zsh
    \builtin local __mfaenv_code
    __mfaenv_code=$(MFAENV_WRAPPER=zsh \builtin command mfaenv renew zsh </dev/null) || return 0
    [[ -n $__mfaenv_code ]] || return 0
    \builtin eval "$__mfaenv_code"
    typeset -g __mfaenv_renew_next=0
}

# First among the precmd hooks, once (under zsh's own options: no_unset would stop at an unset list).
() {
    \builtin emulate -L zsh
    precmd_functions=(__mfaenv_renew ${precmd_functions:#__mfaenv_renew})
}

# Prints "stage 123456789012 11h59m", "stage expired", or nothing without a
# session, exactly as `mfaenv prompt` does, from strftime's clock: no process
# per render. A session is there while its credentials are: after
# `unset AWS_SESSION_TOKEN` the segment goes. `mfaenv_prompt -v NAME` stores
# the text in NAME, for a precmd hook that avoids even the subshell of
# $(mfaenv_prompt).
mfaenv_prompt() {
    \builtin emulate -L zsh
    \builtin local __mfaenv_text='' __mfaenv_now __mfaenv_left
    # Digits only (<->): the value goes into arithmetic, which would run code hidden in it.
    if [[ -n ${MFAENV_PROFILE-} && ${MFAENV_EXPIRES-} == <-> && ${#MFAENV_EXPIRES} -le 11 &&
        -n ${AWS_ACCESS_KEY_ID-} && -n ${AWS_SECRET_ACCESS_KEY-} && -n ${AWS_SESSION_TOKEN-} ]]; then
        \builtin strftime -s __mfaenv_now %s
        __mfaenv_left=$(( 10#$MFAENV_EXPIRES - 10#$__mfaenv_now ))
        # Due for renewal, and in this shell (not a $(...) subshell): a precmd hook set up
        # before this file's must show the renewed session.
        if (( __mfaenv_left <= 300 && !ZSH_SUBSHELL )); then
            __mfaenv_renew || \builtin :
            [[ ${MFAENV_EXPIRES-} == <-> && ${#MFAENV_EXPIRES} -le 11 ]] && __mfaenv_left=$(( 10#$MFAENV_EXPIRES - 10#$__mfaenv_now ))
        fi
        if (( __mfaenv_left <= 0 )); then
            __mfaenv_text="$MFAENV_PROFILE expired"
        else
            __mfaenv_left=$(( __mfaenv_left / 60 ))
            if (( __mfaenv_left >= 60 )); then
                \builtin printf -v __mfaenv_left '%dh%02dm' "$(( __mfaenv_left / 60 ))" "$(( __mfaenv_left % 60 ))"
            else
                __mfaenv_left=${__mfaenv_left}m
            fi
            __mfaenv_text="$MFAENV_PROFILE${MFAENV_ACCOUNT:+ $MFAENV_ACCOUNT} $__mfaenv_left"
        fi
        __mfaenv_escape_controls
    fi
    if [[ ${1-} == -v && -n ${2-} ]]; then
        \builtin printf -v "$2" '%s' "$__mfaenv_text"
    else
        \builtin printf '%s' "$__mfaenv_text"
    fi
}

# Terminal controls in a profile name or account (ESC, BEL, the one-byte C1
# controls such as U+009D, which starts an OSC) would retitle the window or
# rewrite the screen: they are shown escaped (\x1b, \n), as `mfaenv prompt`
# shows them. Edits the caller's __mfaenv_text; the loop runs only when the
# text holds something unprintable.
__mfaenv_escape_controls() {
    \builtin emulate -L zsh
    [[ $__mfaenv_text == *[^[:print:]]* ]] || return 0
    \builtin local __mfaenv_code __mfaenv_hex __mfaenv_char __mfaenv_escape
    for __mfaenv_code in {1..31} 127 {128..159}; do
        \builtin printf -v __mfaenv_hex '%02x' "$__mfaenv_code"
        if (( __mfaenv_code < 128 )); then
            \builtin printf -v __mfaenv_char '%b' "\\x$__mfaenv_hex"
        else # U+0080-U+009F in UTF-8: one character in a UTF-8 locale, two bytes in C
            \builtin printf -v __mfaenv_char '%b' "\\xc2\\x$__mfaenv_hex"
        fi
        case $__mfaenv_code in
            9) __mfaenv_escape='\t' ;;
            10) __mfaenv_escape='\n' ;;
            13) __mfaenv_escape='\r' ;;
            *) __mfaenv_escape="\\x$__mfaenv_hex" ;;
        esac
        __mfaenv_text=${__mfaenv_text//$__mfaenv_char/$__mfaenv_escape}
    done
}

# Completion of commands, options and profile names. `mfaenv profiles` reads
# the AWS files without loading boto3 or Typer, so a Tab stays quick.
__mfaenv_complete() {
    \builtin local -a __mfaenv_profiles __mfaenv_commands __mfaenv_shells __mfaenv_options expl
    \builtin local -i __mfaenv_dashes=${words[(i)--]}
    # After `exec PROFILE ... --` comes the command to run, completed as zsh would.
    if [[ ${words[2]} == exec ]] && (( __mfaenv_dashes > 2 && __mfaenv_dashes < CURRENT )); then
        \builtin shift $__mfaenv_dashes words
        (( CURRENT -= __mfaenv_dashes ))
        _normal
        return
    fi
    __mfaenv_profiles=(${(f)"$(\builtin command mfaenv profiles 2>/dev/null)"})
    __mfaenv_shells=(bash zsh fish powershell nu)
    __mfaenv_options=(--shell --persist --duration --source --serial --force --code-command)
    case ${words[CURRENT-1]} in
        # Under this wrapper the output is zsh: the CLI refuses another syntax.
        --shell) _wanted shells expl shell compadd zsh; return ;;
        --source | --profile | -p) _wanted profiles expl profile compadd -a __mfaenv_profiles; return ;;
        --duration | --serial | --code-command | --destination | --region) _message value; return ;;
    esac
    if (( CURRENT == 2 )); then
        __mfaenv_commands=(
            'get:fetch a session for a profile'
            'unset:remove the session from this shell'
            'init:print the shell integration'
            'prompt:print the prompt segment'
            'status:show this shell'\''s session'
            'list:list usable profiles'
            'exec:run a command with a session'
            'credential-process:print credential_process JSON for the AWS CLI and SDKs'
            'console:open the AWS console as the profile'\''s role'
            'rotate:replace the long-term access key'
            'keys:keep long-term keys in the OS credential store'
            'doctor:check the set-up'
            'setup:write a first profile'
            'forget:remove cached sessions'
        )
        _describe -t commands 'mfaenv command' __mfaenv_commands
        _wanted profiles expl profile compadd -a __mfaenv_profiles
        return
    fi
    case ${words[2]} in
        init) (( CURRENT == 3 )) && _wanted shells expl shell compadd -a __mfaenv_shells ;;
        unset) compadd -- --shell ;;
        list | status | prompt | help) ;;
        credential-process) (( CURRENT == 3 )) && _wanted profiles expl profile compadd -a __mfaenv_profiles ;;
        doctor) compadd -- --profile ;;
        setup) (( CURRENT > 3 )) && compadd -- --layout ;;
        console)
            if (( CURRENT == 3 )) && [[ $PREFIX != -* ]]; then
                _wanted profiles expl profile compadd -a __mfaenv_profiles
            else
                compadd -- --stdout --destination
            fi
            ;;
        get | exec | forget)
            if (( CURRENT == 3 )) && [[ $PREFIX != -* ]]; then
                _wanted profiles expl profile compadd -a __mfaenv_profiles
            elif [[ ${words[2]} == exec ]]; then
                compadd -- --duration --source --serial --force --code-command --
            elif [[ ${words[2]} == forget ]]; then
                compadd -- --persisted --shell
            else
                compadd -a __mfaenv_options
            fi
            ;;
        *) compadd -a __mfaenv_options ;;
    esac
}

# compdef exists only once compinit has run; without it, skip completion
# quietly (put the init line after compinit to get it).
if (( ${+functions[compdef]} )); then
    compdef __mfaenv_complete mfaenv
fi

# To enable, add this line to ~/.zshrc (after compinit, for completion):
#
#   eval "$(mfaenv init zsh)"
