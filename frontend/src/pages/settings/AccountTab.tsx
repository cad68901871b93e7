// Who the caller is; after the one-time first-login link, a welcome and a password to set.
// Only administrators may change passwords (PATCH /users/{id} needs an admin), their own too.
import { useSearchParams } from "react-router";
import { Alert, App, Button, Card, Descriptions, Form, Input, Space, Tag, Typography } from "antd";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap } from "../../api/client";
import { keys } from "../../api/queries";
import type { Me } from "../../api/types";
import { formatTime } from "../../lib/format";

const CREDENTIALS: Record<string, string> = {
  session: "browser session",
  bearer: "session token (Authorization: Bearer)",
  token: "API token",
};

/** The server's minimum (flowo-http `MIN_PASSWORD`). */
export const MIN_PASSWORD = 8;

export function AccountTab({ me }: { me: Me }) {
  const [params, setParams] = useSearchParams();
  const welcome = params.get("welcome") === "1";
  const admin = me.user.role === "admin";
  const client = useQueryClient();
  const { message } = App.useApp();
  const [form] = Form.useForm<{ password: string; confirm: string }>();

  const setPassword = useMutation({
    mutationFn: (password: string) =>
      unwrap(api.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: me.user.id } }, body: { password } })),
    onSuccess: () => {
      message.success("Password set. Log in with it from now on.");
      form.resetFields();
      void client.invalidateQueries({ queryKey: keys.users });
      if (welcome) setParams({}, { replace: true });
    },
    onError: (err) => message.error(errorMessage(err)),
  });

  return (
    <Space orientation="vertical" size="middle" style={{ width: "100%", maxWidth: 720 }}>
      {welcome && (
        <Alert
          data-testid="welcome"
          type="success"
          showIcon
          title="Welcome to FlowO"
          description={
            admin
              ? "You are logged in with the one-time link, which cannot be used again. Set a password below so that you can log in next time, then create an API token for the Snakemake plugin."
              : "You are logged in with a one-time link. Only administrators can set passwords: ask one to set yours."
          }
        />
      )}
      <Card title="Account" size="small">
        <Descriptions column={1} size="small" bordered>
          <Descriptions.Item label="E-mail">
            <span data-testid="account-email">{me.user.email}</span>
          </Descriptions.Item>
          <Descriptions.Item label="Role">
            <Tag data-testid="account-role">{me.user.role}</Tag>
          </Descriptions.Item>
          <Descriptions.Item label="Signed in with">{CREDENTIALS[me.credential] ?? me.credential}</Descriptions.Item>
          {/* For an administrator the server lists every workspace they may read, members or not. */}
          <Descriptions.Item label={admin ? "Workspaces (can read)" : "Workspaces"}>
            {me.workspaces.length
              ? me.workspaces.map((w) => <Tag key={w.id}>{w.name}</Tag>)
              : <Typography.Text type="secondary">{admin ? "none (administrators read every workspace)" : "none"}</Typography.Text>}
          </Descriptions.Item>
          <Descriptions.Item label="Created">{formatTime(me.user.created_at)}</Descriptions.Item>
        </Descriptions>
      </Card>
      <Card title="Password" size="small">
        {admin ? (
          <Form
            form={form}
            layout="vertical"
            style={{ maxWidth: 360 }}
            disabled={setPassword.isPending}
            onFinish={(v) => setPassword.mutate(v.password)}
          >
            <input type="text" name="username" autoComplete="username" value={me.user.email} readOnly hidden />
            <Form.Item
              name="password"
              label="New password"
              rules={[{ required: true, min: MIN_PASSWORD, message: `At least ${MIN_PASSWORD} characters` }]}
            >
              <Input.Password autoComplete="new-password" data-testid="password-new" />
            </Form.Item>
            <Form.Item
              name="confirm"
              label="Repeat it"
              dependencies={["password"]}
              rules={[
                { required: true, message: "Repeat the password" },
                ({ getFieldValue }) => ({
                  validator: (_, v) =>
                    !v || v === getFieldValue("password") ? Promise.resolve() : Promise.reject(new Error("The passwords differ")),
                }),
              ]}
            >
              <Input.Password autoComplete="new-password" data-testid="password-confirm" />
            </Form.Item>
            <Button type="primary" htmlType="submit" loading={setPassword.isPending} data-testid="password-save">
              Set password
            </Button>
          </Form>
        ) : (
          <Typography.Text type="secondary" data-testid="password-admin-only">
            Only administrators can change passwords, yours included: ask one to change it.
          </Typography.Text>
        )}
      </Card>
    </Space>
  );
}
