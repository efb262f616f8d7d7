# bash completion for otactl. Install:
#   otactl completion bash | sudo tee /etc/bash_completion.d/otactl >/dev/null
# or add to ~/.bashrc:  source <(otactl completion bash)
_otactl() {
    # The words as typed, split at blanks only: bash splits file:PATH and
    # env:VAR at ':' (COMP_WORDBREAKS), otactl wants them whole.
    local -a words
    if [ -n "${COMP_LINE-}" ]; then
        local line="${COMP_LINE:0:COMP_POINT}"
        read -ra words <<<"$line"
        [[ "$line" =~ [[:space:]]$ ]] && words+=("")
    else
        words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
    fi
    local cur="${words[${#words[@]}-1]}"
    # What bash replaces is the part of cur after its last ':'.
    local colon=""
    [[ "$cur" == *:* && "$COMP_WORDBREAKS" == *:* ]] && colon="${cur%"${cur##*:}"}"
    local IFS=$'\n'
    local -a out
    out=($(otactl __complete "${words[@]:1}" 2>/dev/null))
    COMPREPLY=()
    local first="${out[0]-}"
    if [[ "$first" == :files* ]]; then
        out=("${out[@]:1}")
        local pre="${first#:files}"
        pre="${pre#=}"
        local f
        for f in $(compgen -f -- "${cur#"$pre"}"); do
            [ -d "$f" ] && f="$f/"
            COMPREPLY+=("${pre}${f}")
        done
        compopt -o nospace 2>/dev/null
    fi
    local c
    for c in "${out[@]}"; do
        COMPREPLY+=("${c%%$'\t'*}")
    done
    if [ -n "$colon" ]; then
        local i
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[$i]="${COMPREPLY[$i]#"$colon"}"
        done
    fi
}
complete -F _otactl otactl
