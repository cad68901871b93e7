// Users (administrators only): create, change role, disable or enable, set a password.
import { useState, type HTMLAttributes } from "react";
import { Alert, App, Button, Card, Form, Input, Modal, Select, Space, Switch, Table, Tag, Tooltip, Typography } from "antd";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap } from "../../api/client";
import { keys, useUsers } from "../../api/queries";
import type { Me, Role, User } from "../../api/types";
import { formatTime } from "../../lib/format";
import { MIN_PASSWORD } from "./AccountTab";

const ROLES: Role[] = ["admin", "member", "viewer"];

interface CreateValues {
  email: string;
  password?: string;
  role: Role;
}

type Change = { role?: Role; disabled?: boolean; password?: string };

/** Why your own row's role and Enabled controls are off: one click could lock you out. */
export const SELF_LOCK_REASON = "You cannot change your own role or disable yourself here";

export function UsersTab({ me }: { me: Me }) {
  const users = useUsers(true);
  const client = useQueryClient();
  const { message } = App.useApp();
  const [form] = Form.useForm<CreateValues>();
  const [passwordFor, setPasswordFor] = useState<User | null>(null);
  const [pwForm] = Form.useForm<{ password: string }>();

  const changed = (u: User) => {
    void client.invalidateQueries({ queryKey: keys.users });
    void client.invalidateQueries({ queryKey: ["members"] });
    if (u.id === me.user.id) void client.invalidateQueries({ queryKey: keys.me });
  };

  const create = useMutation({
    mutationFn: (v: CreateValues) =>
      unwrap(api.POST("/api/v1/users", { body: { email: v.email.trim(), role: v.role, password: v.password || null } })),
    onSuccess: (u) => {
      message.success(`${u.email} created`);
      form.resetFields();
      changed(u);
    },
    onError: (err) => message.error(errorMessage(err)),
  });

  const update = useMutation({
    mutationFn: ({ id, change }: { id: string; change: Change }) =>
      unwrap(api.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: id } }, body: change })),
    onSuccess: (u, { change }) => {
      if (change.password) {
        message.success(`Password of ${u.email} set`);
        setPasswordFor(null);
      }
      changed(u);
    },
    onError: (err) => message.error(errorMessage(err)),
  });

  return (
    <Space orientation="vertical" size="middle" style={{ width: "100%" }}>
      <Card title="New user" size="small">
        <Form<CreateValues>
          form={form}
          layout="inline"
          initialValues={{ role: "member" }}
          disabled={create.isPending}
          onFinish={(v) => create.mutate(v)}
          style={{ rowGap: 12 }}
        >
          <Form.Item name="email" rules={[{ required: true, type: "email", message: "An e-mail address" }]}>
            <Input placeholder="E-mail" autoComplete="off" data-testid="user-email" style={{ width: 240 }} />
          </Form.Item>
          <Form.Item name="password" rules={[{ min: MIN_PASSWORD, message: `At least ${MIN_PASSWORD} characters` }]}>
            <Input.Password placeholder="Password (optional)" autoComplete="new-password" data-testid="user-password" style={{ width: 220 }} />
          </Form.Item>
          <Form.Item name="role" label="Role">
            <Select data-testid="user-role" style={{ width: 120 }} options={ROLES.map((r) => ({ value: r, label: r }))} />
          </Form.Item>
          <Button type="primary" htmlType="submit" loading={create.isPending} data-testid="user-create">
            Create user
          </Button>
        </Form>
        <Typography.Paragraph type="secondary" style={{ marginTop: 8, marginBottom: 0 }}>
          Without a password the user cannot log in with one; they can still use API tokens an administrator creates for them.
        </Typography.Paragraph>
      </Card>

      <Card title="Users" size="small">
        {users.isError && <Alert type="error" showIcon title={errorMessage(users.error)} style={{ marginBottom: 12 }} />}
        <Table<User>
          rowKey="id"
          size="small"
          dataSource={users.data ?? []}
          loading={users.isPending}
          pagination={{ pageSize: 50, hideOnSinglePage: true }}
          onRow={(u) =>
            ({ "data-testid": "user-row", "data-email": u.email, "data-role": u.role, "data-disabled": String(u.disabled) }) as HTMLAttributes<HTMLElement>
          }
          columns={[
            {
              title: "E-mail",
              key: "email",
              render: (_, u) => (
                <Space>
                  {u.email}
                  {u.id === me.user.id && <Tag color="blue">you</Tag>}
                </Space>
              ),
            },
            {
              title: "Role",
              key: "role",
              render: (_, u) => (
                <Tooltip title={u.id === me.user.id ? SELF_LOCK_REASON : undefined}>
                  <span style={{ display: "inline-block" }}>
                    <Select
                      size="small"
                      style={{ width: 110 }}
                      value={u.role}
                      disabled={u.id === me.user.id}
                      data-testid="user-role-select"
                      options={ROLES.map((r) => ({ value: r, label: r }))}
                      onChange={(role: Role) => update.mutate({ id: u.id, change: { role } })}
                    />
                  </span>
                </Tooltip>
              ),
            },
            {
              title: "Enabled",
              key: "disabled",
              render: (_, u) => (
                <Tooltip title={u.id === me.user.id ? SELF_LOCK_REASON : undefined}>
                  <span style={{ display: "inline-block" }}>
                    <Switch
                      size="small"
                      checked={!u.disabled}
                      disabled={u.id === me.user.id}
                      data-testid="user-enabled"
                      onChange={(on) => update.mutate({ id: u.id, change: { disabled: !on } })}
                    />
                  </span>
                </Tooltip>
              ),
            },
            { title: "Created", key: "created", render: (_, u) => formatTime(u.created_at) },
            {
              title: "",
              key: "actions",
              render: (_, u) => (
                <Button size="small" onClick={() => setPasswordFor(u)} data-testid="user-set-password">
                  Set password
                </Button>
              ),
            },
          ]}
        />
      </Card>

      <Modal
        open={!!passwordFor}
        title={passwordFor ? `Password of ${passwordFor.email}` : ""}
        okText="Set password"
        confirmLoading={update.isPending}
        onCancel={() => setPasswordFor(null)}
        onOk={() => pwForm.submit()}
        destroyOnHidden
      >
        <Form form={pwForm} layout="vertical" onFinish={(v) => passwordFor && update.mutate({ id: passwordFor.id, change: { password: v.password } })}>
          <Form.Item name="password" label="New password" rules={[{ required: true, min: MIN_PASSWORD, message: `At least ${MIN_PASSWORD} characters` }]}>
            <Input.Password autoComplete="new-password" />
          </Form.Item>
        </Form>
      </Modal>
    </Space>
  );
}
