// API tokens: the caller's (or, for admins, everyone's), a dialog to create one, its secret
// shown once with the lines that set up `flowo login` or the plugin, and revocation.
import { useMemo, useState, type HTMLAttributes } from "react";
import { Alert, App, Button, Card, Form, Input, InputNumber, Modal, Popconfirm, Select, Space, Switch, Table, Tag, Tooltip, Typography } from "antd";
import type { ColumnsType } from "antd/es/table";
import { PlusOutlined } from "@ant-design/icons";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap } from "../../api/client";
import { useTokens, useUsers, useWorkspaces } from "../../api/queries";
import type { ApiToken, CreatedToken, Me, TokenScope } from "../../api/types";
import { formatTime } from "../../lib/format";
import { useNow } from "../../lib/ticker";
import { grantableScopes, relative, SCOPE_HELP, setupLines, tokenState, type TokenState } from "./tokens";

const STATE_COLOR: Record<TokenState, string> = { active: "success", revoked: "default", expired: "warning" };

interface CreateValues {
  name: string;
  scope: TokenScope;
  workspace?: string;
  expires_in_days?: number | null;
}

/** The new token's secret, shown once, with copyable setup lines. */
export function TokenSecretModal({ token, origin, onClose }: { token: CreatedToken | null; origin: string; onClose: () => void }) {
  const lines = token ? setupLines(origin, token.secret, token.scope) : null;
  return (
    <Modal
      open={!!token}
      title={token ? `Token “${token.name}” created` : ""}
      onCancel={onClose}
      mask={{ closable: false }}
      destroyOnHidden
      width={720}
      footer={
        <Button type="primary" onClick={onClose} data-testid="token-secret-close">
          I have saved it
        </Button>
      }
    >
      {token && lines && (
        <Space orientation="vertical" size="middle" style={{ width: "100%" }}>
          <Alert type="warning" showIcon title="Copy the token now: it is shown only this once (only its hash is stored)." />
          <Typography.Paragraph copyable={{ text: token.secret }} style={{ marginBottom: 0 }}>
            <Typography.Text code data-testid="token-secret">
              {token.secret}
            </Typography.Text>
          </Typography.Paragraph>
          <div>
            <Typography.Text strong>Save it for the plugin and the flowo command</Typography.Text>{" "}
            <Typography.Text type="secondary">(paste the token when asked; it is checked, then kept in ~/.config/flowo/config.toml):</Typography.Text>
            <Typography.Paragraph copyable={{ text: lines.login }} style={{ marginBottom: 0 }}>
              <Typography.Text code data-testid="token-setup-login">
                {lines.login}
              </Typography.Text>
            </Typography.Paragraph>
            {token.scope !== "read" && (
              <Typography.Text type="secondary">Then run Snakemake with <Typography.Text code>--logger flowo</Typography.Text>.</Typography.Text>
            )}
          </div>
          <div>
            <Typography.Text strong>Or through the environment, for one command:</Typography.Text>
            <Typography.Paragraph copyable={{ text: lines.env }} style={{ marginBottom: 0 }}>
              <Typography.Text code data-testid="token-setup-env" style={{ wordBreak: "break-all" }}>
                {lines.env}
              </Typography.Text>
            </Typography.Paragraph>
          </div>
        </Space>
      )}
    </Modal>
  );
}

export function TokensTab({ me }: { me: Me }) {
  const admin = me.user.role === "admin";
  const [all, setAll] = useState(false);
  const tokens = useTokens(admin && all);
  const users = useUsers(admin && all);
  const workspaces = useWorkspaces();
  const now = useNow(true);
  const client = useQueryClient();
  const { message } = App.useApp();
  const [form] = Form.useForm<CreateValues>();
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [creating, setCreating] = useState(false);
  const scopeValue = Form.useWatch("scope", form);

  const scopes = grantableScopes(me.user.role);
  // Admins may limit a token to any workspace; others to theirs.
  const wsOptions = admin ? (workspaces.data ?? me.workspaces) : me.workspaces;
  const wsName = useMemo(() => {
    const m = new Map<string, string>();
    [...me.workspaces, ...(workspaces.data ?? [])].forEach((w) => m.set(w.id, w.name));
    return m;
  }, [me.workspaces, workspaces.data]);
  const owner = useMemo(() => new Map((users.data ?? []).map((u) => [u.id, u.email])), [users.data]);

  const create = useMutation({
    mutationFn: (v: CreateValues) =>
      unwrap(
        api.POST("/api/v1/tokens", {
          body: { name: v.name.trim(), scope: v.scope ?? scopes[0], workspace: v.workspace || null, expires_in_days: v.expires_in_days ?? null },
        }),
      ),
    onSuccess: (token) => {
      setCreating(false);
      setCreated(token);
      void client.invalidateQueries({ queryKey: ["tokens"] });
    },
    onError: (err) => message.error(errorMessage(err)),
  });

  const revoke = useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api/v1/tokens/{token_id}", { params: { path: { token_id: id } } })),
    onSuccess: () => {
      message.success("Token revoked");
      void client.invalidateQueries({ queryKey: ["tokens"] });
    },
    onError: (err) => message.error(errorMessage(err)),
  });

  const columns: ColumnsType<ApiToken> = [
    { title: "Name", dataIndex: "name", key: "name" },
    ...(admin && all ? [{ title: "Owner", key: "owner", render: (_: unknown, t: ApiToken) => owner.get(t.user_id) ?? t.user_id.slice(0, 8) }] : []),
    {
      title: "Scope",
      key: "scope",
      render: (_, t) => (
        <Tooltip title={SCOPE_HELP[t.scope]}>
          <Tag color={t.scope === "admin" ? "red" : t.scope === "ingest" ? "blue" : "default"}>{t.scope}</Tag>
        </Tooltip>
      ),
    },
    {
      title: "Workspace",
      key: "workspace",
      render: (_, t) => (t.workspace_id ? (wsName.get(t.workspace_id) ?? t.workspace_id.slice(0, 8)) : <Typography.Text type="secondary">any</Typography.Text>),
    },
    { title: "Prefix", key: "prefix", render: (_, t) => <Typography.Text code>{t.prefix}…</Typography.Text> },
    {
      title: "State",
      key: "state",
      render: (_, t) => {
        const s = tokenState(t, now);
        return <Tag color={STATE_COLOR[s]} data-testid="token-state">{s}</Tag>;
      },
    },
    { title: "Created", key: "created", render: (_, t) => formatTime(t.created_at) },
    {
      title: "Expires",
      key: "expires",
      render: (_, t) =>
        t.expires_at ? <Tooltip title={formatTime(t.expires_at)}>{relative(t.expires_at, now)}</Tooltip> : <Typography.Text type="secondary">never</Typography.Text>,
    },
    {
      title: "Last used",
      key: "used",
      render: (_, t) =>
        t.last_used_at ? <Tooltip title={formatTime(t.last_used_at)}>{relative(t.last_used_at, now)}</Tooltip> : <Typography.Text type="secondary">never</Typography.Text>,
    },
    {
      title: "",
      key: "actions",
      render: (_, t) =>
        tokenState(t, now) !== "revoked" && (
          <Popconfirm
            title={`Revoke “${t.name}”?`}
            description="Programs using it stop working at once."
            okText="Revoke"
            okButtonProps={{ danger: true, ...({ "data-testid": "token-revoke-confirm" } as object) }}
            onConfirm={() => revoke.mutateAsync(t.id).catch(() => undefined)}
          >
            <Button size="small" danger data-testid="token-revoke">
              Revoke
            </Button>
          </Popconfirm>
        ),
    },
  ];

  return (
    <Space orientation="vertical" size="middle" style={{ width: "100%" }}>
      <div>
        <Button type="primary" icon={<PlusOutlined />} onClick={() => setCreating(true)} data-testid="token-create">
          New token
        </Button>
      </div>

      <Modal
        open={creating}
        title="New API token"
        okText="Create token"
        okButtonProps={{ htmlType: "submit", ...({ "data-testid": "token-create-submit" } as object) }}
        confirmLoading={create.isPending}
        onCancel={() => setCreating(false)}
        destroyOnHidden
        modalRender={(dom) => (
          <Form<CreateValues>
            form={form}
            layout="vertical"
            disabled={create.isPending}
            onFinish={(v) => create.mutate(v)}
            clearOnDestroy
          >
            {dom}
          </Form>
        )}
      >
        <Form.Item name="name" label="Name" rules={[{ required: true, whitespace: true, message: "A name, to recognise it" }]}>
          <Input placeholder="laptop, cluster, CI…" data-testid="token-name" autoFocus />
        </Form.Item>
        <Form.Item name="scope" label="Scope" initialValue={scopes[0]} extra={scopeValue ? `May ${SCOPE_HELP[scopeValue]}.` : undefined}>
          <Select data-testid="token-scope" options={scopes.map((s) => ({ value: s, label: s }))} />
        </Form.Item>
        <Form.Item name="workspace" label="Workspace" extra="Limit the token to one workspace (optional).">
          <Select
            data-testid="token-workspace"
            allowClear
            placeholder="any"
            options={wsOptions.map((w) => ({ value: w.name, label: w.name }))}
          />
        </Form.Item>
        <Form.Item name="expires_in_days" label="Expires in (days)" extra="Leave empty for a token that does not expire.">
          <InputNumber data-testid="token-expiry" min={1} max={36500} precision={0} placeholder="never" style={{ width: 160 }} />
        </Form.Item>
      </Modal>

      <Card
        title={admin && all ? "All tokens" : "Your tokens"}
        size="small"
        extra={
          admin && (
            <Space>
              <Typography.Text>All users</Typography.Text>
              <Switch checked={all} onChange={setAll} data-testid="tokens-all" />
            </Space>
          )
        }
      >
        {tokens.isError && <Alert type="error" showIcon title={errorMessage(tokens.error)} style={{ marginBottom: 12 }} />}
        <Table<ApiToken>
          rowKey="id"
          size="small"
          columns={columns}
          dataSource={tokens.data ?? []}
          loading={tokens.isPending}
          pagination={{ pageSize: 50, hideOnSinglePage: true }}
          scroll={{ x: "max-content" }}
          locale={{ emptyText: "No tokens yet" }}
          onRow={(t) =>
            ({ "data-testid": "token-row", "data-token-name": t.name, "data-state": tokenState(t, now) }) as HTMLAttributes<HTMLElement>
          }
        />
      </Card>

      <TokenSecretModal token={created} origin={window.location.origin} onClose={() => setCreated(null)} />
    </Space>
  );
}
