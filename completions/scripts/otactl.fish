# fish completion for otactl. Install:
#   otactl completion fish > ~/.config/fish/completions/otactl.fish
function __otactl_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l out (otactl __complete $tokens[2..-1] "$cur" 2>/dev/null)
    if test "$out[1]" = ":files"
        __fish_complete_path "$cur"
    else
        printf '%s\n' $out
    end
end
complete -c otactl -f -a '(__otactl_complete)'
