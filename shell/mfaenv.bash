# mfaenv shell integration for bash (printed by `mfaenv init bash`).
#
# A child process cannot change its parent's environment, so `mfaenv` becomes
# a function that evaluates what the real command prints. It also defines
# `mfaenv_prompt` and completion. Internal names start with __mfaenv_;
# builtins are called as `\builtin NAME` so user aliases and functions cannot
# break them. mfaenv.zsh is the same design, line for line where it can be.

# list, status, prompt, init, exec, credential-process, console, rotate, keys, doctor, setup, help, the hidden
# profiles and any -h/--help/--version run untouched, straight to the terminal
# (exec's, credential-process's and console's output is not shell code). Everything else
# prints shell code and is evaluated: the CLI routes any other first word (a
# profile, a code, an option such as --force) to `get`; `unset` and `forget`
# print unset statements.
__mfaenv_changes_shell() {
    case ${1-} in
        '' | list | status | prompt | init | profiles | exec | credential-process | console | rotate | keys | doctor | setup | help) return 1 ;;
    esac
    \builtin local __mfaenv_arg
    for __mfaenv_arg in "$@"; do
        case $__mfaenv_arg in -h | --help | --version) return 1 ;; esac
    done
}

mfaenv() {
    # xtrace (set -x) would copy the keys onto stderr as they are assigned and
    # evaluated: it is off inside the wrapper and restored after. The braces
    # send the trace of the two commands that turn it off to /dev/null.
    { \builtin local __mfaenv_xtrace=${-//[^x]/} __mfaenv_status=0; \builtin set +x; } 2>/dev/null
    __mfaenv_run "$@" || __mfaenv_status=$?
    [[ -z $__mfaenv_xtrace ]] || \builtin set -x
    \builtin return "$__mfaenv_status"
}

__mfaenv_run() {
    if ! __mfaenv_changes_shell "$@"; then
        # MFAENV_INTEGRATION for this one call: `mfaenv doctor` sees the integration is loaded.
        MFAENV_INTEGRATION=bash \builtin command mfaenv "$@"
        \builtin return
    fi
    \builtin local __mfaenv_code
    # MFAENV_WRAPPER for this one call only: the output must be bash, whatever
    # --shell says (the CLI refuses another syntax). The code prompt uses
    # /dev/tty, not stdout. A failed run returns its own status and evaluates
    # nothing.
    __mfaenv_code=$(MFAENV_WRAPPER=bash \builtin command mfaenv "$@") || \builtin return
    \builtin eval "$__mfaenv_code"
}

# Renewal at the prompt: when this shell's session has 5 minutes or less left
# (or expired) and a new one can be had without a code (a cached session of
# the profile, or a cached MFA session beneath a role), `mfaenv renew bash`
# prints it and it is evaluated before the prompt is drawn. While nothing is
# due this starts no process: the clock is printf's. At most one try per
# prompt, then none for 60 s after a try that renewed nothing (the CLI gives
# up after 5 s and never asks for a code: stdin is /dev/null). MFAENV_RENEW=off
# turns it off. It runs first in PROMPT_COMMAND, and again from mfaenv_prompt
# when that runs in this shell (not in a $(...) subshell), so that a prompt
# hook set up before this file still shows the renewed session.
__mfaenv_renew() {
    # Quoted: `\builtin local` is no declaration to the parser, so a hostile IFS would split it.
    \builtin local __mfaenv_status="$?" __mfaenv_now
    # The cheap tests first (a glob, not a regex: bash compiles a regex at every use). Digits
    # only: the value goes into arithmetic, which would run code hidden in it.
    [[ -n ${MFAENV_PROFILE-} && -n ${MFAENV_EXPIRES-} && $MFAENV_EXPIRES != *[!0-9]* && ${#MFAENV_EXPIRES} -le 11 &&
        ${MFAENV_RENEW-} != [Oo][Ff][Ff] ]] || \builtin return "$__mfaenv_status"
    \builtin printf -v __mfaenv_now '%(%s)T' -1
    ((10#$MFAENV_EXPIRES - 10#$__mfaenv_now <= 300)) || \builtin return "$__mfaenv_status"
    # Due. xtrace (set -x) would copy the keys onto stderr as they are evaluated: off, and restored.
    { \builtin local __mfaenv_xtrace="${-//[^x]/}"; \builtin set +x; } 2>/dev/null
    __mfaenv_renew_due "$__mfaenv_now" && __mfaenv_renew_run
    [[ -z $__mfaenv_xtrace ]] || \builtin set -x
    \builtin return "$__mfaenv_status"
}

# At most one try a minute while a try renews nothing.
__mfaenv_renew_due() {
    [[ -n ${__mfaenv_renew_next-} && $__mfaenv_renew_next != *[!0-9]* && ${#__mfaenv_renew_next} -le 11 ]] &&
        (($1 < 10#$__mfaenv_renew_next)) && \builtin return 1
    __mfaenv_renew_next=$(($1 + 60))
}

__mfaenv_renew_run() {
    \builtin local __mfaenv_code
    __mfaenv_code=$(MFAENV_WRAPPER=bash \builtin command mfaenv renew bash </dev/null) || \builtin return 0
    [[ -n $__mfaenv_code ]] || \builtin return 0
    \builtin eval "$__mfaenv_code"
    __mfaenv_renew_next=0
}

# bash 5.1+ may hold PROMPT_COMMAND as an array; a string otherwise. Once only.
# shellcheck disable=SC2128,SC2178
if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501)) && [[ -n ${PROMPT_COMMAND+set} && ${PROMPT_COMMAND@a} == *a* ]]; then
    [[ " ${PROMPT_COMMAND[*]} " == *" __mfaenv_renew "* ]] || PROMPT_COMMAND=(__mfaenv_renew "${PROMPT_COMMAND[@]}")
else
    [[ ${PROMPT_COMMAND-} == *__mfaenv_renew* ]] || PROMPT_COMMAND="__mfaenv_renew${PROMPT_COMMAND:+; $PROMPT_COMMAND}"
fi

# Prints "stage 123456789012 11h59m", "stage expired", or nothing without a
# session, exactly as `mfaenv prompt` does. A session is there while its
# credentials are: after `unset AWS_SESSION_TOKEN` the segment goes. The clock
# is printf's %(%s)T (bash 4.2+), never an inherited $EPOCHSECONDS, so a
# render starts no process and reads no number it did not make.
# `mfaenv_prompt -v NAME` stores the text in NAME: no subshell either.
mfaenv_prompt() {
    \builtin local __mfaenv_text='' __mfaenv_now __mfaenv_left
    # Digits only: the value goes into arithmetic, which would run code hidden in it.
    if [[ -n ${MFAENV_PROFILE-} && ${MFAENV_EXPIRES-} =~ ^[0-9]{1,11}$ && -n ${AWS_ACCESS_KEY_ID-} &&
        -n ${AWS_SECRET_ACCESS_KEY-} && -n ${AWS_SESSION_TOKEN-} ]]; then
        \builtin printf -v __mfaenv_now '%(%s)T' -1
        __mfaenv_left=$((10#$MFAENV_EXPIRES - 10#$__mfaenv_now))
        # Due for renewal, and in this shell (not a $(...) subshell): a prompt hook set up
        # before this file's must show the renewed session.
        if ((__mfaenv_left <= 300 && !BASH_SUBSHELL)); then
            __mfaenv_renew || \builtin :
            [[ ${MFAENV_EXPIRES-} =~ ^[0-9]{1,11}$ ]] && __mfaenv_left=$((10#$MFAENV_EXPIRES - 10#$__mfaenv_now))
        fi
        if ((__mfaenv_left <= 0)); then
            __mfaenv_text="$MFAENV_PROFILE expired"
        else
            __mfaenv_left=$((__mfaenv_left / 60))
            if ((__mfaenv_left >= 60)); then
                # Quoted: a hostile IFS (digits) would split the numbers.
                \builtin printf -v __mfaenv_left '%dh%02dm' "$((__mfaenv_left / 60))" "$((__mfaenv_left % 60))"
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
    [[ $__mfaenv_text == *[![:print:]]* ]] || \builtin return 0
    \builtin local __mfaenv_code __mfaenv_hex __mfaenv_char __mfaenv_escape
    for __mfaenv_code in {1..31} 127 {128..159}; do
        \builtin printf -v __mfaenv_hex '%02x' "$__mfaenv_code"
        if ((__mfaenv_code < 128)); then
            \builtin printf -v __mfaenv_char %b "\\x$__mfaenv_hex"
        else # U+0080-U+009F in UTF-8: one character in a UTF-8 locale, two bytes in C
            \builtin printf -v __mfaenv_char %b "\\xc2\\x$__mfaenv_hex"
        fi
        case $__mfaenv_code in
            9) __mfaenv_escape='\t' ;;
            10) __mfaenv_escape='\n' ;;
            13) __mfaenv_escape='\r' ;;
            *) __mfaenv_escape="\\x$__mfaenv_hex" ;;
        esac
        __mfaenv_text=${__mfaenv_text//"$__mfaenv_char"/"$__mfaenv_escape"}
    done
}

# Completion of commands, options and profile names. `mfaenv profiles` reads
# the AWS files without loading boto3 or Typer, so a Tab stays quick. Under
# this wrapper the output is bash, so `--shell` offers only bash.
__mfaenv_complete() {
    \builtin local __mfaenv_cur=${COMP_WORDS[COMP_CWORD]} __mfaenv_prev=${COMP_WORDS[COMP_CWORD - 1]}
    \builtin local __mfaenv_first=${COMP_WORDS[1]-} __mfaenv_profiles=0 __mfaenv_word __mfaenv_typed __mfaenv_index
    \builtin local -a __mfaenv_words
    __mfaenv_words=() COMPREPLY=()
    if [[ $__mfaenv_first == exec ]]; then
        # After `--` comes the command to run: its name, then files.
        for ((__mfaenv_index = 2; __mfaenv_index < COMP_CWORD; __mfaenv_index++)); do
            [[ ${COMP_WORDS[__mfaenv_index]} == -- ]] || \builtin continue
            if ((__mfaenv_index + 1 == COMP_CWORD)); then
                while IFS= \builtin read -r __mfaenv_word; do
                    COMPREPLY+=("$__mfaenv_word")
                done < <(\builtin compgen -c -- "$__mfaenv_cur")
            else
                \builtin compopt -o default
            fi
            \builtin return 0
        done
    fi
    case $__mfaenv_prev in
        --shell) __mfaenv_words=(bash) ;;
        --source | --profile | -p) __mfaenv_profiles=1 ;;
        --layout) __mfaenv_words=(seed standard) ;;
        --duration | --serial | --code-command | --destination | --region) \builtin return 0 ;;
        *)
            if ((COMP_CWORD == 1)); then
                __mfaenv_words=(get unset init prompt status list exec credential-process console rotate keys doctor setup forget)
                __mfaenv_profiles=1
            else
                case $__mfaenv_first in
                    init) ((COMP_CWORD == 2)) && __mfaenv_words=(bash zsh fish powershell nu) ;;
                    unset) __mfaenv_words=(--shell) ;;
                    list | status | prompt | help) ;;
                    credential-process) ((COMP_CWORD == 2)) && __mfaenv_profiles=1 ;;
                    doctor) __mfaenv_words=(--profile) ;;
                    setup) ((COMP_CWORD > 2)) && __mfaenv_words=(--layout) ;;
                    console)
                        if ((COMP_CWORD == 2)) && [[ $__mfaenv_cur != -* ]]; then
                            __mfaenv_profiles=1
                        else
                            __mfaenv_words=(--stdout --destination)
                        fi
                        ;;
                    get | exec | forget)
                        if ((COMP_CWORD == 2)) && [[ $__mfaenv_cur != -* ]]; then
                            __mfaenv_profiles=1
                        elif [[ $__mfaenv_first == exec ]]; then
                            __mfaenv_words=(--duration --source --serial --force --code-command --)
                        elif [[ $__mfaenv_first == forget ]]; then
                            __mfaenv_words=(--persisted --shell)
                        else
                            __mfaenv_words=(--shell --persist --duration --source --serial --force --code-command)
                        fi
                        ;;
                    *) __mfaenv_words=(--shell --persist --duration --source --serial --force --code-command) ;;
                esac
            fi
            ;;
    esac
    for __mfaenv_word in "${__mfaenv_words[@]}"; do
        [[ $__mfaenv_word == "$__mfaenv_cur"* ]] && COMPREPLY+=("$__mfaenv_word")
    done
    if ((__mfaenv_profiles)); then
        # A name is inserted quoted (my\ profile), so that a space or a quote in
        # it stays one word. Inside a quote the user opened ('my p), readline
        # inserts after that quote: the name goes in as it is.
        \builtin local __mfaenv_quote=''
        case $__mfaenv_cur in
            \'* | \"*) __mfaenv_quote=${__mfaenv_cur:0:1} __mfaenv_typed=${__mfaenv_cur:1} ;;
            *) __mfaenv_typed=${__mfaenv_cur//\\/} ;;
        esac
        # One name a line; names with spaces stay whole.
        while IFS= \builtin read -r __mfaenv_word; do
            if [[ $__mfaenv_word == "$__mfaenv_typed"* ]]; then
                [[ -n $__mfaenv_quote ]] || \builtin printf -v __mfaenv_word '%q' "$__mfaenv_word"
                COMPREPLY+=("$__mfaenv_word")
            fi
        done < <(\builtin command mfaenv profiles 2>/dev/null)
    fi
    \builtin return 0
}

\builtin complete -F __mfaenv_complete mfaenv

# To enable, add this line to ~/.bashrc:
#
#   eval "$(mfaenv init bash)"
