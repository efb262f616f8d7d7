# bash completion for otactl. Install:
#   otactl completion bash | sudo tee /etc/bash_completion.d/otactl >/dev/null
# or add to ~/.bashrc:  source <(otactl completion bash)
_otactl() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    local IFS=$'\n'
    local -a out
    out=($(otactl __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
    if [ "${out[0]}" = ":files" ]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        compopt -o filenames 2>/dev/null
        return 0
    fi
    COMPREPLY=("${out[@]}")
}
complete -F _otactl otactl
