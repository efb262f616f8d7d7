# fish completion for otactl. Install:
#   otactl completion fish > ~/.config/fish/completions/otactl.fish
function __otactl_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l out (otactl __complete $tokens[2..-1] "$cur" 2>/dev/null)
    if string match -q -- ':files*' "$out[1]"
        set -l pre (string replace -r -- '^:files=?' '' "$out[1]")
        set -e out[1]
        set -l rest (string sub -s (math (string length -- "$pre") + 1) -- "$cur")
        for p in (__fish_complete_path "$rest")
            printf '%s%s\n' "$pre" "$p"
        end
    end
    printf '%s\n' $out
end
complete -c otactl -f -a '(__otactl_complete)'
