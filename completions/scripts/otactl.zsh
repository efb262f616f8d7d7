#compdef otactl
# zsh completion for otactl. Install:
#   otactl completion zsh > "${fpath[1]}/_otactl"    (then start a new shell)
# or add to ~/.zshrc after compinit:  source <(otactl completion zsh)
_otactl() {
    local -a out
    out=("${(@f)$(otactl __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    if [[ "${out[1]}" == ":files" ]]; then
        _files
        return
    fi
    compadd -- "${out[@]}"
}
if [[ "$funcstack[1]" == "_otactl" ]]; then
    _otactl "$@"
else
    compdef _otactl otactl
fi
