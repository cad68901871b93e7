// The workflow's code as the run captured it: each file (Snakefile, includes, config files,
// scripts) and each rule's block cut out of the Snakefile and includes.
import { memo, useMemo, useState } from "react";
import { Alert, Card, Collapse, Empty, Segmented, Skeleton, Space, Tag, Typography } from "antd";
import { useSources } from "../../api/queries";
import { errorMessage } from "../../api/client";
import type { RunSource } from "../../api/types";
import { ruleSources } from "../../lib/ruleSource";
import { CodeBlock } from "./CodeBlock";

const ROLE_ORDER: RunSource["role"][] = ["snakefile", "include", "configfile", "script"];

function Truncated({ s }: { s: RunSource }) {
  return s.truncated ? <Tag color="warning">first part of {s.size} bytes</Tag> : null;
}

export const CodePanel = memo(function CodePanel({ runId, rules, rule }: { runId: string; rules: string[]; rule: string | null }) {
  const sources = useSources(runId);
  const [view, setView] = useState<"files" | "rules">(rule ? "rules" : "files");
  const files = useMemo(
    () => (sources.data ?? []).slice().sort((a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role)),
    [sources.data],
  );
  const blocks = useMemo(
    () => ruleSources(files.filter((f) => f.role === "snakefile" || f.role === "include")),
    [files],
  );
  const ruleNames = useMemo(() => {
    const names = rule ? [rule] : [...rules];
    if (!rule) blocks.forEach((_, name) => !names.includes(name) && names.push(name));
    return names;
  }, [rules, rule, blocks]);

  if (sources.isPending) return <Skeleton active />;
  if (sources.isError) return <Alert type="error" showIcon title="Could not load the sources" description={errorMessage(sources.error)} />;
  return (
    <div data-testid="code-panel">
      <Segmented
        value={view}
        onChange={(v) => setView(v as "files" | "rules")}
        options={[
          { label: `Files (${files.length})`, value: "files" },
          { label: "Rules", value: "rules" },
        ]}
        style={{ marginBottom: 12 }}
      />
      {view === "files" ? (
        files.length === 0 ? (
          <Empty description="Source files not captured" image={Empty.PRESENTED_IMAGE_SIMPLE} />
        ) : (
          <Collapse
            defaultActiveKey={[files[0].path + files[0].role]}
            items={files.map((f) => ({
              key: f.path + f.role,
              label: (
                <Space>
                  <Tag>{f.role}</Tag>
                  <Typography.Text code>{f.path}</Typography.Text>
                  <Truncated s={f} />
                </Space>
              ),
              children: <CodeBlock text={f.text} />,
            }))}
          />
        )
      ) : ruleNames.length === 0 ? (
        <Empty description="No rules" image={Empty.PRESENTED_IMAGE_SIMPLE} />
      ) : (
        ruleNames.map((name) => {
          const b = blocks.get(name);
          return (
            <Card
              key={name}
              size="small"
              data-testid="rule-source"
              data-rule={name}
              style={{ marginBottom: 12 }}
              title={
                <Space>
                  <span>{name}</span>
                  {b && (
                    <Typography.Text type="secondary" style={{ fontWeight: "normal" }}>
                      {b.path}:{b.line}
                    </Typography.Text>
                  )}
                </Space>
              }
            >
              {b ? <CodeBlock text={b.text} firstLine={b.line} maxHeight={400} /> : <Typography.Text type="secondary">not captured</Typography.Text>}
            </Card>
          );
        })
      )}
    </div>
  );
});
