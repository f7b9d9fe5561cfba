# mfaenv shell integration for zsh (printed by `mfaenv init zsh`).
#
# A child process cannot change its parent's environment, so `mfaenv` becomes
# a function that evaluates what the real command prints. It also defines
# `mfaenv_prompt` and completion. Internal names start with __mfaenv_;
# builtins are called as `\builtin NAME` so user aliases and functions cannot
# break them; `emulate -L zsh` shields each function from the user's options.
# mfaenv.bash is the same design, line for line where it can be.

# The shell's own clock: a prompt render reads $EPOCHSECONDS, no `date` process.
zmodload zsh/datetime

# list, status, prompt, init, the hidden profiles and any -h/--help/--version
# run untouched, straight to the terminal. Everything else prints shell code
# and is evaluated: the CLI routes any other first word (a profile, a code, an
# option such as --force) to `get`.
__mfaenv_changes_shell() {
    \builtin emulate -L zsh
    case ${1-} in
        '' | list | status | prompt | init | profiles) return 1 ;;
    esac
    (( ! ${argv[(Ie)-h]} && ! ${argv[(Ie)--help]} && ! ${argv[(Ie)--version]} ))
}

mfaenv() {
    \builtin emulate -L zsh
    if ! __mfaenv_changes_shell "$@"; then
        \builtin command mfaenv "$@"
        return
    fi
    \builtin local __mfaenv_code
    # MFAENV_SHELL for this one call only; the code prompt uses /dev/tty, not
    # stdout. A failed run returns its own status and evaluates nothing.
    __mfaenv_code=$(MFAENV_SHELL=zsh \builtin command mfaenv "$@") || return
    \builtin eval "$__mfaenv_code"
}

# Prints "stage 123456789012 11h59m", "expired", or nothing without a session,
# exactly as `mfaenv prompt` does, from $EPOCHSECONDS: no process per render.
# `mfaenv_prompt -v NAME` stores the text in NAME, for a precmd hook that
# avoids even the subshell of $(mfaenv_prompt).
mfaenv_prompt() {
    \builtin emulate -L zsh
    \builtin local __mfaenv_text='' __mfaenv_left
    # Digits only (<->): the value goes into arithmetic, which would run code hidden in it.
    if [[ -n ${MFAENV_PROFILE-} && ${MFAENV_EXPIRES-} == <-> && ${#MFAENV_EXPIRES} -le 11 ]]; then
        __mfaenv_left=$(( MFAENV_EXPIRES - EPOCHSECONDS ))
        if (( __mfaenv_left <= 0 )); then
            __mfaenv_text=expired
        else
            __mfaenv_left=$(( __mfaenv_left / 60 ))
            if (( __mfaenv_left >= 60 )); then
                \builtin printf -v __mfaenv_left '%dh%02dm' $(( __mfaenv_left / 60 )) $(( __mfaenv_left % 60 ))
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
    \builtin local -a __mfaenv_profiles __mfaenv_commands __mfaenv_shells __mfaenv_options expl
    __mfaenv_profiles=(${(f)"$(\builtin command mfaenv profiles 2>/dev/null)"})
    __mfaenv_shells=(bash zsh fish powershell)
    __mfaenv_options=(--shell --persist --duration --source --serial --force --code-command)
    case ${words[CURRENT-1]} in
        --shell) _wanted shells expl shell compadd -a __mfaenv_shells; return ;;
        --source) _wanted profiles expl profile compadd -a __mfaenv_profiles; return ;;
        --duration | --serial | --code-command) _message value; return ;;
    esac
    if (( CURRENT == 2 )); then
        __mfaenv_commands=(
            'get:fetch a session for a profile'
            'unset:remove the session from this shell'
            'init:print the shell integration'
            'prompt:print the prompt segment'
            'status:show this shell'\''s session'
            'list:list usable profiles'
        )
        _describe -t commands 'mfaenv command' __mfaenv_commands
        _wanted profiles expl profile compadd -a __mfaenv_profiles
        return
    fi
    case ${words[2]} in
        init) (( CURRENT == 3 )) && _wanted shells expl shell compadd -a __mfaenv_shells ;;
        unset) compadd -- --shell ;;
        list | status | prompt) ;;
        get)
            if (( CURRENT == 3 )) && [[ $PREFIX != -* ]]; then
                _wanted profiles expl profile compadd -a __mfaenv_profiles
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
