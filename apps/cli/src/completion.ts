import type { Command } from "commander";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

interface Node {
  /** Subcommand path, e.g. `admin/ban`; "" for the root. */
  path: string;
  name: string;
  description: string;
  options: Array<{ flag: string; description: string }>;
  children: Node[];
}

/** The command tree as commander holds it, so completion never drifts from the real commands. */
function tree(command: Command, path = ""): Node {
  const options = command.options
    .filter((option) => option.long !== undefined && !option.hidden)
    .map((option) => ({ flag: option.long as string, description: option.description }));
  options.push({ flag: "--help", description: "display help" });
  return {
    path,
    name: command.name(),
    description: command.description(),
    options,
    children: command.commands
      .filter((child) => !(child as unknown as { _hidden?: boolean })._hidden)
      .map((child) => tree(child, path === "" ? child.name() : `${path}/${child.name()}`)),
  };
}

function walk(node: Node): Node[] {
  return [node, ...node.children.flatMap(walk)];
}

const single = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

/**
 * The completion script for `shell`: subcommands at every level, then each command's flags; file
 * names where nothing else matches (for `--file`, `--wasm`, `@input.json`).
 */
export function completionScript(program: Command, shell: Shell): string {
  const root = tree(program);
  const nodes = walk(root);
  const name = root.name;
  if (shell === "bash") return bashScript(name, nodes);
  if (shell === "zsh") return zshScript(name, nodes);
  return fishScript(name, nodes);
}

function bashScript(name: string, nodes: Node[]): string {
  const known = nodes.filter((node) => node.path !== "").map((node) => `/${node.path}`);
  const cases = nodes
    .map((node) => {
      const words = [...node.children.map((child) => child.name), ...node.options.map((o) => o.flag)];
      return `    ${single(node.path === "" ? "" : `/${node.path}`)}) words=${single(words.join(" "))} ;;`;
    })
    .join("\n");
  const fn = `_${name}_complete`;
  return `# ${name} completion for bash: add to ~/.bashrc
#   source <(${name} completion bash)
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmdpath="" word words="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$cmdpath/$word" in
      ${known.join("|")}) cmdpath="$cmdpath/$word" ;;
    esac
  done
  case "$cmdpath" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F ${fn} ${name}
`;
}

const zshItem = (word: string, description: string) =>
  single(`${word.replaceAll(":", "\\:")}:${description.replaceAll("\n", " ")}`);

function zshScript(name: string, nodes: Node[]): string {
  const known = nodes.filter((node) => node.path !== "").map((node) => `/${node.path}`);
  const cases = nodes
    .map((node) => {
      const items = [
        ...node.children.map((child) => zshItem(child.name, child.description)),
        ...node.options.map((option) => zshItem(option.flag, option.description)),
      ];
      return `    (${single(node.path === "" ? "" : `/${node.path}`)}) candidates=(${items.join(" ")}) ;;`;
    })
    .join("\n");
  return `#compdef ${name}
# ${name} completion for zsh: add to ~/.zshrc (after compinit)
#   source <(${name} completion zsh)
_${name}() {
  local cmdpath="" word i
  local -a candidates
  for ((i = 2; i < CURRENT; i++)); do
    word="\${words[i]}"
    case "$cmdpath/$word" in
      (${known.join("|")}) cmdpath="$cmdpath/$word" ;;
    esac
  done
  case "$cmdpath" in
${cases}
  esac
  _describe -t commands '${name}' candidates || _files
}
compdef _${name} ${name}
`;
}

function fishScript(name: string, nodes: Node[]): string {
  const lines = [
    `# ${name} completion for fish: save as ~/.config/fish/completions/${name}.fish`,
    `#   ${name} completion fish > ~/.config/fish/completions/${name}.fish`,
    `complete -c ${name} -f`,
  ];
  for (const node of nodes) {
    const chain = node.path === "" ? [] : node.path.split("/");
    const here = chain.map((word) => `__fish_seen_subcommand_from ${word}`);
    const childNames = node.children.map((child) => child.name).join(" ");
    // Subcommands of this node: this node's path seen, and none of its children yet.
    const childCondition = [
      ...(here.length === 0 ? ["__fish_use_subcommand"] : here),
      ...(node.children.length > 0 && here.length > 0
        ? [`not __fish_seen_subcommand_from ${childNames}`]
        : []),
    ].join("; and ");
    for (const child of node.children) {
      lines.push(
        `complete -c ${name} -n ${single(childCondition)} -a ${child.name} -d ${single(child.description)}`,
      );
    }
    const optionCondition = here.length === 0 ? "" : ` -n ${single(here.join("; and "))}`;
    for (const option of node.options) {
      lines.push(
        `complete -c ${name}${optionCondition} -l ${option.flag.slice(2)} -d ${single(option.description)}`,
      );
    }
  }
  // Flags that take a path complete file names.
  for (const flag of ["input", "file", "out", "wasm"]) lines.push(`complete -c ${name} -l ${flag} -F -r`);
  return `${lines.join("\n")}\n`;
}
