// Login with e-mail and password, or with the one-time link `flowo serve` prints
// (`/login?first-login=TOKEN`), which is redeemed at once.
import { useEffect, useRef, useState } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { Alert, Button, Card, Form, Input, Typography } from "antd";
import { useQueryClient } from "@tanstack/react-query";
import { api, errorMessage, unwrap } from "../api/client";
import { keys } from "../api/queries";

export function LoginPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const client = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const firstLogin = params.get("first-login");
  const next = params.get("next");
  const redeemed = useRef(false);
  const target = next && next.startsWith("/") && !next.startsWith("//") ? next : "/runs";

  useEffect(() => {
    if (!firstLogin || redeemed.current) return;
    redeemed.current = true;
    setBusy(true);
    unwrap(api.POST("/api/v1/auth/first-login", { body: { token: firstLogin } }))
      .then(async () => {
        await client.resetQueries({ queryKey: keys.me });
        navigate("/settings/account?welcome=1", { replace: true });
      })
      .catch((e: unknown) => setError(`This first-login link cannot be used: ${errorMessage(e)}`))
      .finally(() => setBusy(false));
  }, [firstLogin, client, navigate]);

  const submit = async (values: { email: string; password: string }) => {
    setBusy(true);
    setError(null);
    try {
      await unwrap(api.POST("/api/v1/auth/login", { body: values }));
      await client.resetQueries({ queryKey: keys.me });
      navigate(target, { replace: true });
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div style={{ display: "grid", placeItems: "center", minHeight: "100vh", background: "#f5f5f5" }}>
      <Card style={{ width: 380 }} data-testid="login">
        <Typography.Title level={3} style={{ marginTop: 0 }}>
          FlowO
        </Typography.Title>
        <Typography.Paragraph type="secondary">Snakemake runs, live.</Typography.Paragraph>
        {error && <Alert type="error" showIcon title={error} style={{ marginBottom: 16 }} data-testid="login-error" />}
        <Form layout="vertical" onFinish={submit} disabled={busy} requiredMark={false}>
          <Form.Item name="email" label="E-mail" rules={[{ required: true, message: "Your e-mail" }]}>
            <Input autoComplete="username" autoFocus />
          </Form.Item>
          <Form.Item name="password" label="Password" rules={[{ required: true, message: "Your password" }]}>
            <Input.Password autoComplete="current-password" />
          </Form.Item>
          <Button type="primary" htmlType="submit" block loading={busy}>
            Log in
          </Button>
        </Form>
      </Card>
    </div>
  );
}
