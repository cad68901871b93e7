// Workspaces and their members. Everyone sees the workspaces they may read and their members;
// administrators create workspaces and add (by e-mail) or remove members.
import type { HTMLAttributes } from "react";
import { useSearchParams } from "react-router";
import { Alert, App, AutoComplete, Button, Card, Col, Form, Input, Popconfirm, Row, Space, Table, Tag, Typography } from "antd";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap } from "../../api/client";
import { keys, useMembers, useUsers, useWorkspaces } from "../../api/queries";
import type { Me, Member, Workspace } from "../../api/types";
import { formatTime } from "../../lib/format";

export function WorkspacesTab({ me }: { me: Me }) {
  const admin = me.user.role === "admin";
  const workspaces = useWorkspaces();
  const [params, setParams] = useSearchParams();
  const list = workspaces.data ?? [];
  const selected = params.get("workspace") ?? list[0]?.name;
  const members = useMembers(selected);
  const users = useUsers(admin);
  const client = useQueryClient();
  const { message } = App.useApp();
  const [createForm] = Form.useForm<{ name: string }>();
  const [addForm] = Form.useForm<{ email: string }>();

  const select = (name: string) => setParams({ workspace: name }, { replace: true });

  const afterMembership = (email: string) => {
    if (selected) void client.invalidateQueries({ queryKey: keys.members(selected) });
    if (email.toLowerCase() === me.user.email.toLowerCase()) void client.invalidateQueries({ queryKey: keys.me });
    void client.invalidateQueries({ queryKey: keys.workspaces });
  };

  const create = useMutation({
    mutationFn: (name: string) => unwrap(api.POST("/api/v1/workspaces", { body: { name } })),
    onSuccess: (ws) => {
      message.success(`Workspace ${ws.name} created`);
      createForm.resetFields();
      void client.invalidateQueries({ queryKey: keys.workspaces });
      void client.invalidateQueries({ queryKey: keys.me });
      select(ws.name);
    },
    onError: (err) => message.error(errorMessage(err)),
  });

  const add = useMutation({
    mutationFn: ({ name, email }: { name: string; email: string }) =>
      unwrap(api.PUT("/api/v1/workspaces/{name}/members/{email}", { params: { path: { name, email } } })),
    onSuccess: (_d, { email }) => {
      message.success(`${email} added`);
      addForm.resetFields();
      afterMembership(email);
    },
    onError: (err) => message.error(errorMessage(err)),
  });

  const remove = useMutation({
    mutationFn: ({ name, email }: { name: string; email: string }) =>
      unwrap(api.DELETE("/api/v1/workspaces/{name}/members/{email}", { params: { path: { name, email } } })),
    onSuccess: (_d, { email }) => {
      message.success(`${email} removed`);
      afterMembership(email);
    },
    onError: (err) => message.error(errorMessage(err)),
  });

  const memberEmails = new Set((members.data ?? []).map((m) => m.user.email));
  // Whether the caller is a member: the members list says so for the selected workspace once
  // loaded. Otherwise `me.workspaces` does for a non-administrator (the workspaces they belong
  // to), but not for an administrator (every workspace they may read), so no tag then.
  const isMember = (w: Workspace): boolean | undefined => {
    if (w.name === selected && members.data) return members.data.some((m) => m.user.id === me.user.id);
    if (!admin) return me.workspaces.some((m) => m.id === w.id);
    return undefined;
  };
  const candidates = (users.data ?? []).filter((u) => !memberEmails.has(u.email)).map((u) => ({ value: u.email }));

  return (
    <Row gutter={[16, 16]}>
      <Col xs={24} lg={10}>
        <Card title="Workspaces" size="small">
          {workspaces.isError && <Alert type="error" showIcon title={errorMessage(workspaces.error)} />}
          <Table<Workspace>
            rowKey="id"
            size="small"
            dataSource={list}
            loading={workspaces.isPending}
            pagination={{ pageSize: 50, hideOnSinglePage: true }}
            locale={{ emptyText: "You belong to no workspace yet" }}
            rowSelection={{ type: "radio", selectedRowKeys: list.filter((w) => w.name === selected).map((w) => w.id), onChange: (_k, rows) => rows[0] && select(rows[0].name) }}
            onRow={(w) =>
              ({ "data-testid": "workspace-row", "data-workspace": w.name, onClick: () => select(w.name), style: { cursor: "pointer" } }) as HTMLAttributes<HTMLElement>
            }
            columns={[
              {
                title: "Name",
                key: "name",
                render: (_, w) => (
                  <Space>
                    {w.name}
                    {isMember(w) && (
                      <Tag color="blue" data-testid="workspace-member-tag">
                        member
                      </Tag>
                    )}
                  </Space>
                ),
              },
              { title: "Created", key: "created", render: (_, w) => formatTime(w.created_at) },
            ]}
          />
          {admin && (
            <Form form={createForm} layout="inline" style={{ marginTop: 12 }} onFinish={(v) => create.mutate(v.name.trim())} disabled={create.isPending}>
              <Form.Item
                name="name"
                rules={[{ required: true, pattern: /^[A-Za-z0-9_.-]{1,64}$/, message: "1-64 letters, digits, - _ ." }]}
              >
                <Input placeholder="New workspace" data-testid="workspace-name" />
              </Form.Item>
              <Button htmlType="submit" type="primary" loading={create.isPending} data-testid="workspace-create">
                Create
              </Button>
            </Form>
          )}
        </Card>
      </Col>
      <Col xs={24} lg={14}>
        <Card title={selected ? `Members of ${selected}` : "Members"} size="small">
          {!selected ? (
            <Typography.Text type="secondary">Select a workspace.</Typography.Text>
          ) : (
            <>
              {members.isError && <Alert type="error" showIcon title={errorMessage(members.error)} style={{ marginBottom: 12 }} />}
              <Table<Member>
                rowKey={(m) => m.user.id}
                size="small"
                dataSource={members.data ?? []}
                loading={members.isPending}
                pagination={{ pageSize: 50, hideOnSinglePage: true }}
                locale={{ emptyText: "No members" }}
                onRow={(m) => ({ "data-testid": "member-row", "data-email": m.user.email }) as HTMLAttributes<HTMLElement>}
                columns={[
                  {
                    title: "E-mail",
                    key: "email",
                    render: (_, m) => (
                      <Space>
                        {m.user.email}
                        {m.user.id === me.user.id && <Tag color="blue">you</Tag>}
                      </Space>
                    ),
                  },
                  { title: "Role", key: "role", render: (_, m) => <Tag>{m.user.role}</Tag> },
                  { title: "Added", key: "added", render: (_, m) => formatTime(m.added_at) },
                  ...(admin
                    ? [
                        {
                          title: "",
                          key: "actions",
                          render: (_: unknown, m: Member) => (
                            <Popconfirm
                              title={`Remove ${m.user.email} from ${selected}?`}
                              okText="Remove"
                              okButtonProps={{ danger: true }}
                              onConfirm={() => remove.mutateAsync({ name: selected, email: m.user.email }).catch(() => undefined)}
                            >
                              <Button size="small" danger data-testid="member-remove">
                                Remove
                              </Button>
                            </Popconfirm>
                          ),
                        },
                      ]
                    : []),
                ]}
              />
              {admin && (
                <Form
                  form={addForm}
                  layout="inline"
                  style={{ marginTop: 12 }}
                  disabled={add.isPending}
                  onFinish={(v) => add.mutate({ name: selected, email: v.email.trim() })}
                >
                  <Form.Item name="email" rules={[{ required: true, type: "email", message: "An e-mail address" }]}>
                    <AutoComplete
                      options={candidates}
                      style={{ width: 260 }}
                      filterOption={(input, o) => (o?.value ?? "").toString().toLowerCase().includes(input.toLowerCase())}
                    >
                      <Input placeholder="user@example.org" data-testid="member-email" />
                    </AutoComplete>
                  </Form.Item>
                  <Button htmlType="submit" loading={add.isPending} data-testid="member-add">
                    Add member
                  </Button>
                </Form>
              )}
            </>
          )}
        </Card>
      </Col>
    </Row>
  );
}
