import { describe, expect, it } from "vitest";
import { extractRuleBlocks, ruleSources } from "./ruleSource";

const SNAKEFILE = `configfile: "config.yaml"

SAMPLES = ["A", "B"]

rule all:
    input:
        "results/merged.txt"

# Builds the reference.
rule make_ref:
    output: "ref/reference.txt"
    # a comment inside the block
    shell: "echo ref > {output}"


checkpoint split:
    output: directory("parts")
    shell:
        """
mkdir -p parts
rule not_a_rule:
        """
    # trailing indented comment

def helper(wildcards):
    return []

rule last:
    input: helper`;

describe("extractRuleBlocks", () => {
  const blocks = extractRuleBlocks(SNAKEFILE, "Snakefile");
  const byName = new Map(blocks.map((b) => [b.rule, b]));

  it("finds rules and checkpoints in file order, not rule lines inside strings", () => {
    expect(blocks.map((b) => [b.kind, b.rule, b.line])).toEqual([
      ["rule", "all", 5],
      ["rule", "make_ref", 10],
      ["checkpoint", "split", 16],
      ["rule", "last", 28],
    ]);
    expect(blocks.every((b) => b.path === "Snakefile")).toBe(true);
  });

  it("ends a block at the first line indented no deeper than its header", () => {
    expect(byName.get("all")?.text).toBe('rule all:\n    input:\n        "results/merged.txt"');
  });

  it("keeps comments inside the block and drops the next rule's comment and blank lines", () => {
    expect(byName.get("make_ref")?.text).toBe(
      'rule make_ref:\n    output: "ref/reference.txt"\n    # a comment inside the block\n    shell: "echo ref > {output}"',
    );
  });

  it("does not end a block inside a triple-quoted string at column 0", () => {
    const text = byName.get("split")?.text ?? "";
    expect(text).toContain("mkdir -p parts");
    expect(text).toContain("rule not_a_rule:");
    expect(text.endsWith("    # trailing indented comment")).toBe(true);
    expect(text).not.toContain("def helper");
  });

  it("handles a rule at the very end of the file", () => {
    expect(byName.get("last")?.text).toBe("rule last:\n    input: helper");
    expect(extractRuleBlocks("rule a:")).toEqual([{ rule: "a", kind: "rule", path: "", line: 1, text: "rule a:" }]);
  });

  it("keeps a shallow comment followed by more of the block", () => {
    const text = "rule a:\n    input: 'x'\n# odd comment\n    output: 'y'\nrule b:\n    output: 'z'\n";
    expect(extractRuleBlocks(text)[0].text).toBe("rule a:\n    input: 'x'\n# odd comment\n    output: 'y'");
  });

  it("handles indented rules (inside if-blocks) and CRLF line ends", () => {
    const text = "if True:\r\n    rule inner:\r\n        output: 'o'\r\n    x = 1\r\n";
    expect(extractRuleBlocks(text)).toEqual([
      { rule: "inner", kind: "rule", path: "", line: 2, text: "    rule inner:\n        output: 'o'" },
    ]);
  });

  it("ignores commented-out rules and anonymous rules", () => {
    expect(extractRuleBlocks("# rule old:\n#     shell: ''\nrule:\n    shell: 'x'\n")).toEqual([]);
  });
});

describe("ruleSources", () => {
  it("searches every file and keeps the first definition", () => {
    const m = ruleSources([
      { path: "Snakefile", text: "include: 'rules/a.smk'\nrule all:\n    input: 'a'\n" },
      { path: "rules/a.smk", text: "rule a:\n    output: 'a'\nrule all:\n    input: 'other'\n" },
    ]);
    expect([...m.keys()]).toEqual(["all", "a"]);
    expect(m.get("a")?.path).toBe("rules/a.smk");
    expect(m.get("all")?.path).toBe("Snakefile");
  });
});
