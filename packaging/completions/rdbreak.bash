# bash completion for rdbreak(1); packaging/tests/manpages.rs checks it names every option.
_rdbreak() {
    local cur prev cmd opts
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    cmd=${COMP_WORDS[1]}
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "build ls cat unpack modules info help --help --version" -- "$cur"))
        return
    fi
    case $prev in
        --compress) COMPREPLY=($(compgen -W "zstd gzip xz none" -- "$cur")); return ;;
        --storage) COMPREPLY=($(compgen -W "lvm md luks none lvm,md lvm,luks md,luks lvm,md,luks" -- "$cur")); return ;;
        --sort) COMPREPLY=($(compgen -W "name size" -- "$cur")); return ;;
        --kver) COMPREPLY=($(compgen -W "$(ls /lib/modules 2>/dev/null)" -- "$cur")); return ;;
        --kmoddir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
        -o | --output | --module-file | --binary | --file | --early-cpio | --init)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        -m | --modules | --cmdline) return ;;
    esac
    case $cmd in
        build) opts="--output -o --kver --kmoddir --modules -m --module-file --host-modules --no-default-modules --storage --binary --file --cmdline --compress --early-cpio --init --help" ;;
        ls) opts="--long -l --sort --segments --help" ;;
        unpack) opts="--force -f --preserve-setid --split --help" ;;
        cat | modules | info) opts="--help" ;;
        help) COMPREPLY=($(compgen -W "build ls cat unpack modules info" -- "$cur")); return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -F _rdbreak rdbreak
