# mfaenv shell integration for bash (printed by `mfaenv init bash`).
#
# A child process cannot change its parent's environment, so `mfaenv` becomes
# a function that evaluates what the real command prints. It also defines
# `mfaenv_prompt` and completion. Internal names start with __mfaenv_;
# builtins are called as `\builtin NAME` so user aliases and functions cannot
# break them. mfaenv.zsh is the same design, line for line where it can be.

# list, status, prompt, init, the hidden profiles and any -h/--help/--version
# run untouched, straight to the terminal. Everything else prints shell code
# and is evaluated: the CLI routes any other first word (a profile, a code, an
# option such as --force) to `get`.
__mfaenv_changes_shell() {
    case ${1-} in
        '' | list | status | prompt | init | profiles) return 1 ;;
    esac
    \builtin local __mfaenv_arg
    for __mfaenv_arg in "$@"; do
        case $__mfaenv_arg in -h | --help | --version) return 1 ;; esac
    done
}

mfaenv() {
    if ! __mfaenv_changes_shell "$@"; then
        \builtin command mfaenv "$@"
        return
    fi
    \builtin local __mfaenv_code
    # MFAENV_SHELL for this one call only; the code prompt uses /dev/tty, not
    # stdout. A failed run returns its own status and evaluates nothing.
    __mfaenv_code=$(MFAENV_SHELL=bash \builtin command mfaenv "$@") || return
    \builtin eval "$__mfaenv_code"
}

# Prints "stage 123456789012 11h59m", "expired", or nothing without a session,
# exactly as `mfaenv prompt` does. It reads the shell's own clock
# ($EPOCHSECONDS, or printf's %(%s)T before bash 5) so a render starts no
# process. `mfaenv_prompt -v NAME` stores the text in NAME: no subshell either.
mfaenv_prompt() {
    \builtin local __mfaenv_text='' __mfaenv_now=${EPOCHSECONDS-} __mfaenv_left
    # Digits only: the value goes into arithmetic, which would run code hidden in it.
    if [[ -n ${MFAENV_PROFILE-} && ${MFAENV_EXPIRES-} =~ ^[0-9]{1,11}$ ]]; then
        [[ -n $__mfaenv_now ]] || \builtin printf -v __mfaenv_now '%(%s)T' -1
        __mfaenv_left=$((10#$MFAENV_EXPIRES - __mfaenv_now))
        if ((__mfaenv_left <= 0)); then
            __mfaenv_text=expired
        else
            __mfaenv_left=$((__mfaenv_left / 60))
            if ((__mfaenv_left >= 60)); then
                \builtin printf -v __mfaenv_left '%dh%02dm' $((__mfaenv_left / 60)) $((__mfaenv_left % 60))
            else
                __mfaenv_left=${__mfaenv_left}m
            fi
            __mfaenv_text="$MFAENV_PROFILE${MFAENV_ACCOUNT:+ $MFAENV_ACCOUNT} $__mfaenv_left"
        fi
    fi
    if [[ ${1-} == -v && -n ${2-} ]]; then
        \builtin printf -v "$2" '%s' "$__mfaenv_text"
    else
        \builtin printf '%s' "$__mfaenv_text"
    fi
}

# Completion of commands, options and profile names. `mfaenv profiles` reads
# the AWS files without loading boto3 or Typer, so a Tab stays quick.
__mfaenv_complete() {
    \builtin local __mfaenv_cur=${COMP_WORDS[COMP_CWORD]} __mfaenv_prev=${COMP_WORDS[COMP_CWORD - 1]}
    \builtin local __mfaenv_first=${COMP_WORDS[1]-} __mfaenv_words='' __mfaenv_profiles=0 __mfaenv_word
    COMPREPLY=()
    case $__mfaenv_prev in
        --shell) __mfaenv_words='bash zsh fish powershell' ;;
        --source) __mfaenv_profiles=1 ;;
        --duration | --serial | --code-command) return ;;
        *)
            if ((COMP_CWORD == 1)); then
                __mfaenv_words='get unset init prompt status list'
                __mfaenv_profiles=1
            elif [[ $__mfaenv_first == init ]]; then
                ((COMP_CWORD == 2)) && __mfaenv_words='bash zsh fish powershell'
            elif [[ $__mfaenv_first == unset ]]; then
                __mfaenv_words='--shell'
            elif [[ $__mfaenv_first == get && $COMP_CWORD == 2 && $__mfaenv_cur != -* ]]; then
                __mfaenv_profiles=1
            elif [[ $__mfaenv_first != list && $__mfaenv_first != status && $__mfaenv_first != prompt ]]; then
                __mfaenv_words='--shell --persist --duration --source --serial --force --code-command'
            fi
            ;;
    esac
    for __mfaenv_word in $__mfaenv_words; do
        [[ $__mfaenv_word == "$__mfaenv_cur"* ]] && COMPREPLY+=("$__mfaenv_word")
    done
    if ((__mfaenv_profiles)); then
        # One name a line; names with spaces stay whole.
        while IFS= \builtin read -r __mfaenv_word; do
            [[ $__mfaenv_word == "$__mfaenv_cur"* ]] && COMPREPLY+=("$__mfaenv_word")
        done < <(\builtin command mfaenv profiles 2>/dev/null)
    fi
    return 0
}

\builtin complete -F __mfaenv_complete mfaenv

# To enable, add this line to ~/.bashrc:
#
#   eval "$(mfaenv init bash)"
