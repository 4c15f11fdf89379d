"""Shell completion scripts for bash, zsh and fish, made from the argparse parser itself:
the commands, their options, and what each value is (a folder, a file, a spec, one of
some words, or an identity name), so a new option completes with no edit here.

What a value is comes from the metavar the parser gives it: DIR a folder, FILE a file,
SPEC a YAML file, NAME an identity of the spec on the line (which the scripts get from
`pkiform completion --names SPEC`: the YAML read, nothing else loaded); choices are
completed as words. Every word that goes into a script is one of the parser's own
(option strings, command names, choices), checked against SAFE: a script never holds a
word a shell would expand.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

SHELLS = ("bash", "zsh", "fish")
SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$|^--?[A-Za-z0-9][A-Za-z0-9-]*$")
_KINDS = {"DIR": "dir", "FILE": "file", "SPEC": "spec", "NAME": "names"}


@dataclass(frozen=True, slots=True)
class Option:
    flags: tuple[str, ...]
    help: str
    value: str | None  # None: takes no value; else dir, file, spec, names, words or any
    words: tuple[str, ...] = ()
    repeats: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    options: tuple[Option, ...]
    positional: str | None  # what its positional arguments are, as Option.value
    words: tuple[str, ...] = ()
    many: bool = False  # several positional arguments (validate SPEC...)


@dataclass(frozen=True, slots=True)
class Cli:
    options: tuple[Option, ...]
    commands: tuple[Command, ...]

    def valued(self) -> list[str]:
        """Every option of any command that takes a value."""
        found = {f for c in self.commands for o in c.options if o.value for f in o.flags}
        return sorted(found)


def describe(parser: argparse.ArgumentParser) -> Cli:
    """What the scripts complete, read off the parser."""
    commands = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                positional = next((a for a in sub._actions if not a.option_strings), None)
                commands.append(
                    Command(
                        name=_safe(name),
                        help=helps.get(name, ""),
                        options=_options(sub),
                        positional=_kind(positional) if positional else None,
                        words=_words(positional) if positional else (),
                        many=positional is not None and positional.nargs in ("+", "*"),
                    )
                )
    return Cli(options=_options(parser), commands=tuple(commands))


def _options(parser: argparse.ArgumentParser) -> tuple[Option, ...]:
    return tuple(
        Option(
            flags=tuple(_safe(f) for f in action.option_strings),
            help=action.help or "",
            value=_kind(action) if action.nargs != 0 else None,
            words=_words(action),
            repeats=isinstance(action, argparse._AppendAction),
        )
        for action in parser._actions
        if action.option_strings and action.help != argparse.SUPPRESS
    )


def _kind(action: argparse.Action) -> str:
    if action.choices:
        return "words"
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    return _KINDS.get(metavar, "any")


def _words(action: argparse.Action) -> tuple[str, ...]:
    return tuple(_safe(str(c)) for c in action.choices or ())


def _safe(word: str) -> str:
    if not SAFE.match(word):
        raise ValueError(f"not a word a completion script may hold: {word!r}")
    return word


def _value(option: Option) -> str:
    return f"words {' '.join(option.words)}" if option.value == "words" else option.value or ""


def _summary(text: str) -> str:
    """A help text as one short phrase, safe inside single quotes in any of the shells
    (and in zsh's [descriptions]): up to its first ; or :, without its (asides)."""
    plain = re.sub(r" ?\([^)]*\)", "", text)
    first = re.split(r"[;:]", plain)[0].strip().replace("'", "\u2019")
    return re.sub(r"[^A-Za-z0-9 ,./_\u2019-]", "", first)[:70]


def bash(cli: Cli, version: str) -> str:
    """The bash script: `source <(pkiform completion bash)`."""
    options = [f'        "") echo "{" ".join(f for o in cli.options for f in o.flags)}" ;;']
    values, positionals = [], []
    for command in cli.commands:
        flags = " ".join(f for o in command.options for f in o.flags)
        options.append(f'        {command.name}) echo "{flags}" ;;')
        for option in command.options:
            if option.value:
                cases = "|".join(f'"{command.name} {f}"' for f in option.flags)
                values.append(f'        {cases}) echo "{_value(option)}" ;;')
        if command.positional:
            value = Option(flags=(), help="", value=command.positional, words=command.words)
            positionals.append(f'        {command.name}) echo "{_value(value)}" ;;')
    names = " ".join(c.name for c in cli.commands)
    return _BASH.format(
        version=version,
        options="\n".join(options),
        values="\n".join(values),
        positionals="\n".join(positionals),
        commands=names,
    )


_BASH = """\
# bash completion for pkiform {version}: commands, options, files and folders, and
# for --rekey the identity names of the spec on the line. In ~/.bashrc:
#   source <(pkiform completion bash)

_pkiform_options() {{  # the options of command $1 ("": pkiform's own)
    case $1 in
{options}
    esac
}}

_pkiform_value() {{  # what the value of option $2 of command $1 is; nothing: it takes none
    case "$1 $2" in
{values}
    esac
}}

_pkiform_positional() {{  # what the arguments of command $1 are
    case $1 in
{positionals}
    esac
}}

_pkiform_add() {{  # COMPREPLY += each line of standard input
    local line
    while IFS= read -r line; do COMPREPLY+=("$line"); done
}}

_pkiform_complete() {{  # $1 program, $2 what to complete, $3 word so far, $4 the spec
    local name
    case $2 in
        words\\ *) _pkiform_add < <(compgen -W "${{2#words }}" -- "$3") ;;
        dir)
            compopt -o filenames 2>/dev/null
            _pkiform_add < <(compgen -d -- "$3") ;;
        file)
            compopt -o filenames 2>/dev/null
            _pkiform_add < <(compgen -f -- "$3") ;;
        spec)
            compopt -o filenames 2>/dev/null
            _pkiform_add < <(compgen -d -- "$3"; compgen -f -X '!*.yaml' -- "$3";
                compgen -f -X '!*.yml' -- "$3") ;;
        names)
            [[ -n $4 && $4 != - ]] || return 0
            # only names pkiform printed, each checked against the identity name rule
            while IFS= read -r name; do
                [[ $name == "$3"* ]] && COMPREPLY+=("$name")
            done < <("$1" completion --names "${{4/#\\~/$HOME}}" 2>/dev/null)
            ;;
    esac
    return 0
}}

_pkiform() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
    local command= spec= option= word what i
    COMPREPLY=()
    # bash splits --out=DIR at the =: the option is before it
    if [[ $cur == = ]]; then
        option=$prev cur=
    elif [[ $prev == = ]]; then
        option=${{COMP_WORDS[COMP_CWORD-2]}}
    fi
    # the whole line, not only what is before the cursor: the spec may come last
    for ((i = 1; i < ${{#COMP_WORDS[@]}}; i++)); do
        ((i == COMP_CWORD)) && continue
        word=${{COMP_WORDS[i]}}
        if [[ -z $command ]]; then
            ((i > COMP_CWORD)) && break
            [[ $word == -* ]] || command=$word
        elif [[ $word == -* && -n $(_pkiform_value "$command" "$word") ]]; then
            [[ ${{COMP_WORDS[i+1]}} == = ]] && ((i++))
            ((i++))  # its value
        elif [[ $word != -* && $word != = && -z $spec ]]; then
            spec=$word
        fi
    done
    if [[ -z $command ]]; then
        if [[ $cur == -* ]]; then
            what="words $(_pkiform_options "")"
        else
            what="words {commands}"
        fi
    elif [[ -z $option && $prev == -* ]] && [[ -n $(_pkiform_value "$command" "$prev") ]]; then
        what=$(_pkiform_value "$command" "$prev")
    elif [[ -n $option ]]; then
        what=$(_pkiform_value "$command" "$option")
    elif [[ $cur == -* ]]; then
        what="words $(_pkiform_options "$command")"
    else
        what=$(_pkiform_positional "$command")
    fi
    _pkiform_complete "${{1:-pkiform}}" "$what" "$cur" "$spec"
}}

complete -F _pkiform pkiform
"""


def zsh(cli: Cli, version: str) -> str:
    """The zsh script: `source <(pkiform completion zsh)` after compinit, or saved as
    _pkiform in a folder of $fpath."""
    described = "\n".join(f"    '{c.name}:{_summary(c.help)}'" for c in cli.commands)
    cases = []
    for command in cli.commands:
        specs = [_zsh_option(o) for o in command.options]
        if command.positional:
            action = _zsh_action(command.positional, command.words)
            many = "*" if command.many else "1"
            specs.append(f"'{many}:{command.positional}:{action}'")
        lines = " \\\n            ".join(specs)
        cases.append(f"        {command.name})\n          _arguments -s \\\n            {lines} ;;")
    top = " \\\n    ".join(_zsh_option(o, exclusive="(- : *)") for o in cli.options)
    return _ZSH.format(
        version=version,
        described=described,
        cases="\n".join(cases),
        top=top,
        valued=" ".join(cli.valued()),
    )


def _zsh_option(option: Option, exclusive: str | None = None) -> str:
    """An _arguments spec: `'(excluded)--out=[help]:message:action'`."""
    if option.repeats:
        exclusive = "*"  # repeatable, so it excludes nothing, not even itself
    elif exclusive is None:
        exclusive = "(- *)" if "--help" in option.flags else ""
        if len(option.flags) > 1 and not exclusive:
            exclusive = f"({' '.join(option.flags)})"
    value = f":{option.value}:{_zsh_action(option.value, option.words)}" if option.value else ""
    # a value follows a long option as a word or after =, a short one as a word or glued
    flags = [
        f + (("=" if f.startswith("--") else "+") if option.value else "") for f in option.flags
    ]
    if len(flags) == 1:
        return f"'{exclusive}{flags[0]}[{_summary(option.help)}]{value}'"
    return f"'{exclusive}'{{{','.join(flags)}}}'[{_summary(option.help)}]{value}'"


def _zsh_action(kind: str, words: tuple[str, ...]) -> str:
    return {
        "dir": "_files -/",
        "file": "_files",
        "spec": '_files -g "*.(yaml|yml)(-.)"',
        "names": "_pkiform_names",
        "words": f"({' '.join(words)})",
    }.get(kind, " ")


_ZSH = """\
#compdef pkiform
# zsh completion for pkiform {version}: commands, options, files and folders, and for
# --rekey the identity names of the spec on the line. In ~/.zshrc, after compinit:
#   source <(pkiform completion zsh)
# or save it as _pkiform in a folder of $fpath.

_pkiform_valued=({valued})

_pkiform_spec() {{  # the spec on the line: the first argument that is no option's value
  local i word
  for (( i = 2; i < CURRENT; i++ )); do
    word=$words[i]
    if [[ $word != *=* ]] && (( ${{_pkiform_valued[(Ie)$word]}} )); then
      (( i++ ))
    elif [[ $word != -* ]]; then
      print -r -- "$word"
      return 0
    fi
  done
  return 1
}}

_pkiform_names() {{
  local spec
  spec=$(_pkiform_spec) && [[ $spec != - ]] || return 1
  # only names pkiform printed, each checked against the identity name rule
  local -a names
  names=(${{(f)"$(pkiform completion --names ${{spec/#\\~/$HOME}} 2>/dev/null)"}})
  compadd -a names
}}

_pkiform() {{
  local curcontext=$curcontext state state_descr line ret=1
  typeset -A opt_args
  _arguments -C \\
    {top} \\
    ': :->command' \\
    '*:: :->argument' && ret=0
  case $state in
    command)
      local -a commands=(
{described}
      )
      _describe -t commands 'pkiform command' commands && ret=0 ;;
    argument)
      curcontext=${{curcontext%:*:*}}:pkiform-$words[1]:
      case $words[1] in
{cases}
      esac ;;
  esac
  return ret
}}

if [[ $funcstack[1] == _pkiform ]]; then
  _pkiform "$@"
else
  compdef _pkiform pkiform
fi
"""


def fish(cli: Cli, version: str) -> str:
    """The fish script: `pkiform completion fish | source`, or saved as
    ~/.config/fish/completions/pkiform.fish."""
    names = " ".join(c.name for c in cli.commands)
    lines = [
        f"complete -c pkiform -n __fish_use_subcommand -a {c.name} -d '{_summary(c.help)}'"
        for c in cli.commands
    ]
    lines += [_fish_option(o, "__fish_use_subcommand") for o in cli.options]
    for command in cli.commands:
        when = f"'__fish_seen_subcommand_from {command.name}'"
        lines += [_fish_option(o, when) for o in command.options]
        if command.positional:
            arguments = _fish_arguments(command.positional, command.words)
            lines.append(f"complete -c pkiform -n {when} {arguments}")
    return _FISH.format(
        version=version, commands=names, valued=" ".join(cli.valued()), lines="\n".join(lines)
    )


def _fish_option(option: Option, when: str) -> str:
    flags = " ".join(f"-l {f[2:]}" if f.startswith("--") else f"-s {f[1:]}" for f in option.flags)
    value = f" {_fish_arguments(option.value, option.words)}" if option.value else ""
    return f"complete -c pkiform -n {when} {flags}{value} -d '{_summary(option.help)}'"


def _fish_arguments(kind: str, words: tuple[str, ...]) -> str:
    return {
        "dir": "-x -a '(__fish_complete_directories)'",
        "file": "-r -F",
        "spec": "-x -a '(__fish_complete_suffix .yaml; __fish_complete_suffix .yml)'",
        "names": "-x -a '(__pkiform_names)'",
        "words": f"-x -a '{' '.join(words)}'",
    }.get(kind, "-x")


_FISH = """\
# fish completion for pkiform {version}: commands, options, files and folders, and for
# --rekey the identity names of the spec on the line. Run once:
#   pkiform completion fish > ~/.config/fish/completions/pkiform.fish

function __pkiform_spec --description 'the spec on the line'
    set -l valued {valued}
    set -l words (commandline -opc)
    set -l skip 0
    for word in $words[3..-1]
        if test $skip = 1
            set skip 0
        else if contains -- $word $valued
            set skip 1
        else if not string match -q -- '-*' $word
            echo $word
            return 0
        end
    end
    return 1
end

function __pkiform_names --description 'the identity names of the spec on the line'
    set -l spec (__pkiform_spec); or return 1
    test "$spec" != -; or return 1
    # only names pkiform printed, each checked against the identity name rule
    pkiform completion --names (string replace -r '^~' $HOME -- $spec) 2>/dev/null
end

complete -c pkiform -f
{lines}
"""
