// Each rule's source block, cut out of the Snakefile and includes as the run captured them,
// so that the dashboard shows the code that ran. A block is the `rule NAME:` / `checkpoint NAME:`
// line and every line after it up to the first code line indented no deeper than the header
// (Python's own rule), with triple-quoted strings and comments not counting as code.

export interface RuleBlock {
  rule: string;
  kind: "rule" | "checkpoint";
  /** The file the block was found in. */
  path: string;
  /** 1-based line of the header. */
  line: number;
  /** The block's text, header included, trailing blank lines dropped. */
  text: string;
}

/** A captured file to search (the parts of `RunSource` used here). */
export interface SourceText {
  path: string;
  text: string;
}

const HEADER = /^([ \t]*)(rule|checkpoint)[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*:/;

/** Indentation width, a tab counting up to the next multiple of 8 as in Python. */
function indentOf(line: string): number {
  let w = 0;
  for (const c of line) {
    if (c === " ") w += 1;
    else if (c === "\t") w = (Math.floor(w / 8) + 1) * 8;
    else break;
  }
  return w;
}

const isBlank = (line: string) => line.trim() === "";
const isComment = (line: string) => line.trimStart().startsWith("#");

/** The triple quote left open at the end of `line` when `open` was open before it, if any. */
function tripleQuoteAfter(line: string, open: string | null): string | null {
  let i = 0;
  let state = open;
  while (i < line.length) {
    if (state) {
      const end = line.indexOf(state, i);
      if (end < 0) return state;
      i = end + 3;
      state = null;
      continue;
    }
    const c = line[i];
    if (c === "#") return null;
    if (line.startsWith('"""', i) || line.startsWith("'''", i)) {
      state = line.slice(i, i + 3);
      i += 3;
      continue;
    }
    if (c === '"' || c === "'") {
      // A one-line string: skip it, minding escapes.
      let j = i + 1;
      while (j < line.length && line[j] !== c) j += line[j] === "\\" ? 2 : 1;
      i = j + 1;
      continue;
    }
    i += 1;
  }
  return state;
}

/** Every rule and checkpoint block of one file, in file order. */
export function extractRuleBlocks(text: string, path = ""): RuleBlock[] {
  const lines = text.split(/\r?\n/);
  const blocks: RuleBlock[] = [];
  // Lines inside triple-quoted strings never start a block nor end one.
  const inString: boolean[] = [];
  let open: string | null = null;
  for (const line of lines) {
    inString.push(open !== null);
    open = tripleQuoteAfter(line, open);
  }
  /** Whether the next code line from `from` is indented deeper than `indent`. */
  const codeContinuesDeeper = (from: number, indent: number): boolean => {
    for (let k = from; k < lines.length; k++) {
      if (inString[k] || isBlank(lines[k]) || isComment(lines[k])) continue;
      return indentOf(lines[k]) > indent;
    }
    return false;
  };
  for (let i = 0; i < lines.length; i++) {
    if (inString[i]) continue;
    const m = HEADER.exec(lines[i]);
    if (!m) continue;
    const indent = indentOf(lines[i]);
    let end = i + 1;
    for (; end < lines.length; end++) {
      const line = lines[end];
      if (inString[end] || isBlank(line)) continue;
      if (indentOf(line) > indent) continue;
      // A shallow comment ends the block unless code of the block follows it.
      if (isComment(line) && codeContinuesDeeper(end + 1, indent)) continue;
      break;
    }
    let last = end - 1;
    while (last > i && (isBlank(lines[last]) || (isComment(lines[last]) && indentOf(lines[last]) <= indent))) last--;
    blocks.push({
      rule: m[3],
      kind: m[2] as RuleBlock["kind"],
      path,
      line: i + 1,
      text: lines.slice(i, last + 1).join("\n"),
    });
  }
  return blocks;
}

/** Rule name to its block over several files; the first definition of a name wins. */
export function ruleSources(files: SourceText[]): Map<string, RuleBlock> {
  const out = new Map<string, RuleBlock>();
  for (const f of files) {
    for (const b of extractRuleBlocks(f.text, f.path)) if (!out.has(b.rule)) out.set(b.rule, b);
  }
  return out;
}
