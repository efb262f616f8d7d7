#compdef otactl
# zsh completion for otactl. Install:
#   otactl completion zsh > "${fpath[1]}/_otactl"    (then start a new shell)
# or add to ~/.zshrc after compinit:  source <(otactl completion zsh)
_otactl() {
    local -a out described
    out=("${(@f)$(otactl __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    local first="${out[1]}"
    if [[ "$first" == :files* ]]; then
        shift out
        local pre="${${first#:files}#=}"
        if [[ -n "$pre" ]]; then
            compset -P "$pre"
        fi
        _files
    fi
    local line value desc
    for line in "${out[@]}"; do
        [[ -z "$line" ]] && continue
        value="${line%%$'\t'*}"
        desc=""
        [[ "$line" == *$'\t'* ]] && desc="${line#*$'\t'}"
        # _describe splits at the first unescaped ':'.
        described+=("${value//:/\\:}${desc:+:$desc}")
    done
    if (( ${#described} )); then
        _describe -t otactl 'otactl' described
    fi
}
if [[ "$funcstack[1]" == "_otactl" ]]; then
    _otactl "$@"
else
    compdef _otactl otactl
fi
